"""RLlib PPO on the curriculum env: config from the `ppo` and `resources` sections, train, checkpoint, resume."""

from __future__ import annotations

import time
from pathlib import Path
from rlkd.config import Config, save_config
from rlkd.env.curriculum_env import CurriculumEnv, env_config_for
from rlkd.errors import RlkdError
from rlkd.ray_runtime import check_cpus, ensure_ray

CONFIG_FILE = "rlkd_config.yaml"  # saved beside every checkpoint: what the policy's actions mean


def build_ppo_config(cfg: Config):
    from ray.rllib.algorithms.ppo import PPOConfig

    from rlkd.rl.callbacks import CurriculumMetrics

    p, r = cfg.ppo, cfg.resources
    batch = p.episodes_per_batch * cfg.distill.epochs
    env_config = env_config_for(cfg)
    # Ray gives each env runner 1 torch thread; say how many explicitly (one per reserved whole CPU)
    env_config["config"]["resources"]["torch_threads"] = r.torch_threads or max(1, int(r.num_cpus_per_env_runner))
    return (
        PPOConfig()
        .environment(CurriculumEnv, env_config=env_config)  # the class: restores need no registry
        .env_runners(num_env_runners=r.num_env_runners, num_envs_per_env_runner=r.num_envs_per_env_runner,
                     num_cpus_per_env_runner=r.num_cpus_per_env_runner,
                     num_gpus_per_env_runner=r.num_gpus_per_env_runner, rollout_fragment_length="auto")
        .learners(num_learners=r.num_learners, num_gpus_per_learner=r.num_gpus_per_learner)
        .training(lr=p.lr, gamma=p.gamma, lambda_=p.lambda_, clip_param=p.clip_param, entropy_coeff=p.entropy_coeff,
                  vf_loss_coeff=p.vf_loss_coeff, num_epochs=p.num_epochs, minibatch_size=min(p.minibatch_size, batch),
                  train_batch_size_per_learner=batch)
        .rl_module(model_config={"fcnet_hiddens": list(p.hidden)})
        .callbacks(CurriculumMetrics)
        # a crashed runner is restarted; an env that raises is recreated in place (its episode is dropped)
        .fault_tolerance(restart_failed_env_runners=True, restart_failed_sub_environments=True)
        .debugging(seed=p.seed)
    )


def progress_line(res: dict, elapsed: float) -> str:
    er = res.get("env_runners", {})
    steps = er.get("num_env_steps_sampled", 0)
    sample_s = res.get("timers", {}).get("env_runner_sampling_timer", float("nan"))
    return (f"iter {res['training_iteration']:>4}  return_mean {er.get('episode_return_mean', float('nan')):8.3f}  "
            f"final_val_acc {er.get('final_val_acc', float('nan')):6.2f}  "
            f"difficulty {er.get('mean_difficulty', float('nan')):.2f}  fraction {er.get('mean_fraction', float('nan')):.2f}  "
            f"env_steps/s {steps / sample_s if sample_s == sample_s and sample_s > 0 else float('nan'):6.2f}  "
            f"elapsed {elapsed:6.1f}s")


def save_checkpoint(algo, cfg: Config, folder: Path) -> Path:
    path = Path(algo.save_to_path(str(folder.resolve())))
    save_config(cfg, path / CONFIG_FILE)
    return path


def train_ppo(cfg: Config, out: Path) -> dict:
    from ray.rllib.algorithms.algorithm import Algorithm

    ensure_ray(cfg.resources.ray_address)
    r = cfg.resources
    check_cpus(r.num_env_runners * r.num_cpus_per_env_runner, "PPO's env runners")
    resume = cfg.ppo.resume
    if resume:
        if not (Path(resume) / "rllib_checkpoint.json").is_file():
            raise RlkdError(f"--resume {resume}: not an RLlib checkpoint folder (no rllib_checkpoint.json)")
        algo = Algorithm.from_checkpoint(str(Path(resume).resolve()))
        print(f"train: resumed from {resume} at iteration {algo.iteration}")
    else:
        algo = build_ppo_config(cfg).build_algo()
    ckpt_dir = out / "checkpoints"
    start = time.perf_counter()
    history, last_ckpt = [], None
    try:
        while algo.iteration < cfg.ppo.iterations:
            res = algo.train()
            er = res.get("env_runners", {})
            history.append({"iteration": res["training_iteration"],
                            "episode_return_mean": er.get("episode_return_mean"),
                            "final_val_acc": er.get("final_val_acc"), "mean_difficulty": er.get("mean_difficulty"),
                            "mean_fraction": er.get("mean_fraction"),
                            "env_steps_sampled": er.get("num_env_steps_sampled"),
                            "sampling_s": res.get("timers", {}).get("env_runner_sampling_timer"),
                            "iteration_s": res.get("time_this_iter_s")})
            print(progress_line(res, time.perf_counter() - start), flush=True)
            if algo.iteration % cfg.ppo.checkpoint_every == 0 or algo.iteration >= cfg.ppo.iterations:
                last_ckpt = save_checkpoint(algo, cfg, ckpt_dir / f"iter_{algo.iteration:05d}")
        if last_ckpt is None:
            last_ckpt = save_checkpoint(algo, cfg, ckpt_dir / f"iter_{algo.iteration:05d}")
    finally:
        algo.stop()
    final = out / "checkpoint"
    if final.is_symlink() or final.exists():
        final.unlink()
    final.symlink_to(last_ckpt.relative_to(out.resolve()) if last_ckpt.is_relative_to(out.resolve()) else last_ckpt)
    print(f"train: final checkpoint {last_ckpt}")
    return {"checkpoint": str(last_ckpt), "iterations": algo.iteration, "history": history,
            "final_val_acc_last_iteration": history[-1]["final_val_acc"] if history else None,
            "note": "final_val_acc is val accuracy at the last epoch of the episodes sampled in an iteration"}
