"""RLlib PPO on the curriculum env: config from the `ppo` and `resources` sections, train, checkpoint, resume."""

from __future__ import annotations

import shutil
import time
import uuid
from pathlib import Path
from typing import Optional

from rlkd.config import Config, config_to_dict, load_stored_config, proxy_config, save_config
from rlkd.distill.run import budget_samples
from rlkd.env.curriculum_env import env_config_for, shared_inputs
from rlkd.env.vector_env import CurriculumVectorEnv
from rlkd.errors import RlkdError
from rlkd.models.imported import config_modules
from rlkd.ray_runtime import check_cpus, ensure_ray, root_cause
from rlkd.reports.tensorboard import TENSORBOARD_DIR, Scalars, open_writer, write_scalars
from rlkd.rl.export import export_policy
from rlkd.rl.logdir import algorithm_logdir_under
from rlkd.workdir import remove_owned, write_owner

CONFIG_FILE = "rlkd_config.yaml"  # saved beside every checkpoint: what the policy's actions mean
RESUMABLE_KEYS = ("iterations", "checkpoint_every", "checkpoint", "resume")  # a continued run may change these


def build_ppo_config(cfg: Config):
    from ray.rllib.algorithms.ppo import PPOConfig

    from rlkd.rl.callbacks import CurriculumMetrics

    p, r = cfg.ppo, cfg.resources
    episodes = proxy_config(cfg)  # what the episodes run: the target, or its cheap proxy (env.proxy)
    batch = p.episodes_per_batch * episodes.distill.epochs
    env_config = env_config_for(episodes)
    # Ray gives each env runner 1 torch thread; say how many explicitly (one per reserved whole CPU)
    env_config["config"]["resources"]["torch_threads"] = r.torch_threads or max(1, int(r.num_cpus_per_env_runner))
    return (
        PPOConfig()
        # the class, not a registered name: restores need no registry. RLlib's vector entry point hands it
        # num_envs: each runner's K sub-envs are one CurriculumVectorEnv, K students trained as one population
        .environment(CurriculumVectorEnv, env_config=env_config)
        .env_runners(num_env_runners=r.num_env_runners, num_envs_per_env_runner=r.num_envs_per_env_runner,
                     gym_env_vectorize_mode="vector_entry_point",
                     num_cpus_per_env_runner=r.num_cpus_per_env_runner,
                     num_gpus_per_env_runner=r.num_gpus_per_env_runner, rollout_fragment_length="auto",
                     sample_timeout_s=r.sample_timeout_s)
        .learners(num_learners=r.num_learners, num_gpus_per_learner=r.num_gpus_per_learner)
        .training(lr=p.lr, gamma=p.gamma, lambda_=p.lambda_, clip_param=p.clip_param, entropy_coeff=p.entropy_coeff,
                  vf_loss_coeff=p.vf_loss_coeff, num_epochs=p.num_epochs, minibatch_size=min(p.minibatch_size, batch),
                  train_batch_size_per_learner=batch)
        .rl_module(model_config={"fcnet_hiddens": list(p.hidden)})
        .callbacks(CurriculumMetrics)
        # a crashed runner (its env raised, or its node was lost) is restarted; an env that keeps failing stops the
        # run (failing_streak). RLlib's in-place sub-env restarts are unbounded and silent: off.
        .fault_tolerance(restart_failed_env_runners=True,
                         num_consecutive_env_runner_failures_tolerance=r.env_runner_restarts,
                         restart_failed_sub_environments=False)
        .debugging(seed=p.seed)
    )


def progress_line(res: dict, elapsed: float) -> str:
    er = res.get("env_runners", {})
    steps = er.get("num_env_steps_sampled", 0)
    sample_s = res.get("timers", {}).get("env_runner_sampling_timer", float("nan"))
    return (f"iter {res['training_iteration']:>4}  return_mean {er.get('episode_return_mean', float('nan')):8.3f}  "
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


def save_checkpoint(algo, cfg: Config, folder: Path) -> Path:
    """Write into a temp folder, then rename: a folder named iter_* is always complete (what resuming trusts)."""
    folder = folder.resolve()
    tmp = folder.with_name(f".{folder.name}.tmp-{uuid.uuid4().hex[:8]}")
    algo.save_to_path(str(tmp))
    save_config(cfg, tmp / CONFIG_FILE)
    export_policy(algo.get_module(), cfg, tmp)  # what `rlkd.load_policy` reads: no pickle, no Ray
    if folder.exists():  # the same iteration saved by an earlier, killed attempt
        shutil.rmtree(folder)
    tmp.rename(folder)
    return folder


def run_identity(cfg: Config) -> dict:
    """The config minus the PPO keys a continued run may change: equal identities can resume each other."""
    data = config_to_dict(cfg)
    for key in RESUMABLE_KEYS:
        data["ppo"].pop(key)
    return data


def latest_checkpoint(ckpt_dir: Path, cfg: Config) -> Optional[Path]:
    """The newest complete checkpoint in `ckpt_dir` if it was made from this config, else None."""
    complete = sorted(p for p in ckpt_dir.glob("iter_*") if (p / CONFIG_FILE).is_file())
    if complete and run_identity(load_stored_config(complete[-1] / CONFIG_FILE)) == run_identity(cfg):
        return complete[-1]
    return None


def start_algorithm(cfg: Config, out: Path):
    """A new PPO, or the one an interrupted run of this folder (or --resume) left, iteration count intact."""
    from ray.rllib.algorithms.algorithm import Algorithm

    ckpt_dir = out / "checkpoints"
    resume = cfg.ppo.resume
    if resume and not (Path(resume) / "rllib_checkpoint.json").is_file():
        raise RlkdError(f"--resume {resume}: not an RLlib checkpoint folder (no rllib_checkpoint.json)")
    if not resume and ckpt_dir.is_dir():
        found = latest_checkpoint(ckpt_dir, cfg)
        if found is None:  # checkpoints of another config: this folder's own, so they go
            remove_owned(str(ckpt_dir), out)
            print(f"train: {ckpt_dir} held checkpoints of another config; removed them")
        resume = found
    if not ckpt_dir.is_dir():
        write_owner(str(ckpt_dir), {"out": str(out.resolve())})
    for partial in ckpt_dir.glob(".iter_*.tmp-*"):  # saves a kill interrupted (this folder is locked: none is live)
        shutil.rmtree(partial)
    if not resume:
        return build_ppo_config(cfg).build_algo()
    # unpickles the checkpoint's algorithm state: only from folders you trust (docs/rl.md)
    algo = Algorithm.from_checkpoint(str(Path(resume).resolve()))
    print(f"train: resumed from {resume} at iteration {algo.iteration}")
    return algo


def env_runner_health(algo) -> tuple[int, int]:
    """(restarts so far, remote env runners not healthy now)."""
    group = algo.env_runner_group
    if group is None:
        return 0, 0
    return group.num_remote_worker_restarts(), group.num_remote_workers() - group.num_healthy_remote_workers()


def failing_streak(streak: int, steps_sampled: int, runners_in_trouble: bool) -> int:
    """Iterations in a row that sampled nothing while an env runner was down or being restarted.

    RLlib keeps restarting a runner whose env raises, takes it out of service, and reports iterations
    with no samples (NaN returns) as if all were well; a run that learns nothing must end, with its
    reason. A slow but healthy env has no runner in trouble, and a lost node's runners come back
    within an iteration or two, so neither stops the run.
    """
    return 0 if steps_sampled or not runners_in_trouble else streak + 1


def target_run_samples(cfg: Config) -> int:
    """Training samples one run of the target config sees (its budget B): the unit RL's cost is counted in."""
    data, _ = shared_inputs(cfg)
    return budget_samples(cfg.env.budget, cfg.distill.epochs, len(data.train.labels))


def rl_cost(episodes: int, samples_seen: int, target_samples: int) -> dict:
    """What PPO's episodes cost, in runs of the target: their training samples over one target run's."""
    return {"episodes": episodes, "samples_seen": samples_seen, "target_run_samples": target_samples,
            "target_run_equivalents": samples_seen / target_samples}


def lifetime_rl_cost(algo, target_samples: int) -> dict:
    """The RL cost of every episode this algorithm sampled, resumed runs' earlier episodes included."""
    from ray.rllib.utils.metrics import ENV_RUNNER_RESULTS

    from rlkd.rl.callbacks import EPISODES_LIFETIME, SAMPLES_SEEN_LIFETIME

    def total(key: str) -> int:
        return int(algo.metrics.peek((ENV_RUNNER_RESULTS, key), default=0))

    return rl_cost(total(EPISODES_LIFETIME), total(SAMPLES_SEEN_LIFETIME), target_samples)


def train_ppo(cfg: Config, out: Path) -> dict:
    final = out / "checkpoint"
    if final.exists() and not final.is_symlink():  # found now, not after an hour of training
        raise RlkdError(f"{final} is a folder, not the link `rlkd train` writes there; "
                        "move it away or use another --out")
    from ray.exceptions import RayError

    # a bad data set or shard is one clear error here, not env runners failing one by one: the target's, which
    # the cost is counted in, and the episodes' (the same ones unless env.proxy changes the data)
    target_samples = target_run_samples(cfg)
    shared_inputs(proxy_config(cfg))
    ensure_ray(cfg.resources.ray_address, py_modules=config_modules(cfg))
    r = cfg.resources
    check_cpus(r.num_env_runners * r.num_cpus_per_env_runner, "PPO's env runners")
    with algorithm_logdir_under(out / TENSORBOARD_DIR):  # RLlib's own log folder: in OUT, not ~/ray_results
        algo = start_algorithm(cfg, out)
    ckpt_dir = out / "checkpoints"
    start = time.perf_counter()
    history, last_ckpt, failing, (restarts, _) = [], None, 0, env_runner_health(algo)
    tensorboard = open_writer(Path(algo.logdir))  # one TensorBoard run per training process
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
            print(progress_line(res, time.perf_counter() - start), flush=True)
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
