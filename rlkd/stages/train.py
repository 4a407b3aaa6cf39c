"""`rlkd train`: learn a curriculum policy with RLlib PPO (rlkd.rl.ppo), checkpoint it, resume an interrupted run,
and count what the episodes cost in runs of the target.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

from rlkd.config import Config, proxy_config
from rlkd.console import progress
from rlkd.env.curriculum_env import env_config_for, episode_tasks
from rlkd.errors import RlkdError
from rlkd.ray_runtime import check_cpus, root_cause, start_ray
from rlkd.reports.tensorboard import TENSORBOARD_DIR, Scalars, open_writer, write_scalars
from rlkd.rl.logdir import algorithm_logdir_under
from rlkd.rl.ppo import (
    env_runner_health,
    failing_streak,
    lifetime_rl_cost,
    save_checkpoint,
    start_algorithm,
    target_run_samples,
)
from rlkd.stages.base import RL_STAGE, Stage


def progress_postfix(res: dict, elapsed: float) -> str:
    """One iteration's numbers for the progress line (every iteration's are in metrics.json and TensorBoard)."""
    er = res.get("env_runners", {})
    steps = er.get("num_env_steps_sampled", 0)
    sample_s = res.get("timers", {}).get("env_runner_sampling_timer", float("nan"))
    return (f"return_mean {er.get('episode_return_mean', float('nan')):8.3f}  "
            f"final_val_acc {er.get('final_val_acc', float('nan')):6.2f}  "
            f"difficulty {er.get('mean_difficulty', float('nan')):.2f}  "
            f"fraction {er.get('mean_fraction', float('nan')):.2f}  "
            f"env_steps/s {steps / sample_s if sample_s == sample_s and sample_s > 0 else float('nan'):6.2f}  "
            f"elapsed {elapsed:6.1f}s")


def iteration_scalars(row: dict) -> Scalars:
    """TensorBoard tags of one iteration's history row: means over the episodes the iteration sampled."""
    steps, seconds = row["env_steps_sampled"], row["sampling_s"]
    return {"episodes/return_mean": row["episode_return_mean"],
            "episodes/val_acc_last_epoch": row["final_val_acc"],
            "episodes/mean_difficulty": row["mean_difficulty"], "episodes/mean_fraction": row["mean_fraction"],
            "speed/env_steps_per_s": steps / seconds if steps is not None and seconds else None}


def train_ppo(cfg: Config, out: Path) -> dict:
    final = out / "checkpoint"
    if final.exists() and not final.is_symlink():  # found now, not after an hour of training
        raise RlkdError(f"{final} is a folder, not the link `rlkd train` writes there; "
                        "move it away or use another --out")
    from ray.exceptions import RayError

    # a bad data set or shard is one clear error here, not env runners failing one by one: the target's, which
    # the cost is counted in, and the episodes' (the same ones unless env.proxy or env.tasks change the data), their
    # spaces checked against one another
    target_samples = target_run_samples(cfg)
    episode_tasks(env_config_for(cfg), proxy_config(cfg))
    start_ray(cfg)
    r = cfg.resources
    check_cpus(r.num_env_runners * r.num_cpus_per_env_runner, "PPO's env runners")
    with algorithm_logdir_under(out / TENSORBOARD_DIR):  # RLlib's own log folder: in OUT, not ~/ray_results
        algo = start_algorithm(cfg, out)
    ckpt_dir = out / "checkpoints"
    start = time.perf_counter()
    history, last_ckpt, failing, (restarts, _) = [], None, 0, env_runner_health(algo)
    tensorboard = open_writer(Path(algo.logdir))  # one TensorBoard run per training process
    bar = progress(total=cfg.ppo.iterations, initial=algo.iteration, desc="train", unit="iteration")
    try:
        while algo.iteration < cfg.ppo.iterations:
            res = algo.train()
            er = res.get("env_runners", {})
            row = {"iteration": res["training_iteration"], "episode_return_mean": er.get("episode_return_mean"),
                   "final_val_acc": er.get("final_val_acc"), "mean_difficulty": er.get("mean_difficulty"),
                   "mean_fraction": er.get("mean_fraction"), "env_steps_sampled": er.get("num_env_steps_sampled"),
                   "sampling_s": res.get("timers", {}).get("env_runner_sampling_timer"),
                   "iteration_s": res.get("time_this_iter_s")}
            history.append(row)
            write_scalars(tensorboard, [iteration_scalars(row)], first_step=row["iteration"])
            bar.set_postfix_str(progress_postfix(res, time.perf_counter() - start))
            bar.update(1)
            (restarts, down), was = env_runner_health(algo), restarts
            failing = failing_streak(failing, row["env_steps_sampled"] or 0, restarts > was or down > 0)
            if failing >= r.env_runner_restarts:
                raise RlkdError(f"PPO stopped at iteration {algo.iteration}: env runners kept failing ({restarts} "
                                f"restarts, {failing} iterations in a row without samples); their error is in the "
                                f"log above (often resources.device=cuda on nodes without a GPU, or data.shards "
                                f"unreadable on a worker node). Fix it and re-run the same command: it resumes from "
                                f"the last checkpoint")
            if algo.iteration % cfg.ppo.checkpoint_every == 0 or algo.iteration >= cfg.ppo.iterations:
                last_ckpt = save_checkpoint(algo, cfg, ckpt_dir / f"iter_{algo.iteration:05d}")
        if last_ckpt is None:
            last_ckpt = save_checkpoint(algo, cfg, ckpt_dir / f"iter_{algo.iteration:05d}")
        cost = {**lifetime_rl_cost(algo, target_samples), "proxy": cfg.env.proxy}
    except RayError as exc:  # env runners failed past their restarts: say so, and how to go on
        raise RlkdError(f"PPO stopped at iteration {algo.iteration}: env runners kept failing ({root_cause(exc)}); "
                        f"fix the cause and re-run the same command: it resumes from the last checkpoint in "
                        f"{ckpt_dir}") from exc
    finally:
        bar.close()
        tensorboard.close()
        algo.stop()
    link = final.with_name(f".checkpoint.{uuid.uuid4().hex[:8]}")
    link.symlink_to(last_ckpt.relative_to(out.resolve()) if last_ckpt.is_relative_to(out.resolve()) else last_ckpt)
    link.replace(final)  # one rename: OUT/checkpoint is always a whole link
    print(f"train: final checkpoint {last_ckpt}")
    print(f"train: RL cost {cost['episodes']} episodes, {cost['samples_seen']} training samples = "
          f"{cost['target_run_equivalents']:.1f} target runs of {target_samples} samples")
    return {"checkpoint": str(last_ckpt), "iterations": algo.iteration, "history": history, "rl_cost": cost,
            "final_val_acc_last_iteration": history[-1]["final_val_acc"] if history else None,
            "note": "final_val_acc is val accuracy at the last epoch of the episodes sampled in an iteration"}


STAGE = Stage(
    "train", train_ppo,
    "learn a curriculum policy with RLlib PPO; checkpoints under OUT/checkpoints, OUT/checkpoint -> the last",
    wire=lambda out: [f"ppo.checkpoint={out / 'checkpoint'}"],
    outputs=("checkpoint",), **RL_STAGE,
    options=(("resume", "continue from this checkpoint, iteration count intact (sets ppo.resume)",
              lambda v: [f"ppo.resume={v}"]),),
)
