"""RLlib PPO on the curriculum env: config from the `ppo` and `resources` sections, train, checkpoint, resume."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import Optional

from rlkd.config import Config, config_to_dict, episode_configs, load_stored_config, save_config
from rlkd.distill.run import budget_samples
from rlkd.env.curriculum_env import env_config_for, shared_inputs
from rlkd.env.vector_env import CurriculumVectorEnv
from rlkd.errors import RlkdError
from rlkd.rl.export import export_policy
from rlkd.workdir import remove_owned, write_owner

CONFIG_FILE = "rlkd_config.yaml"  # saved beside every checkpoint: what the policy's actions mean
# a continued run may change these: how long and how often it saves, and the keys only `rlkd evaluate` reads
RESUMABLE_KEYS = ("iterations", "checkpoint_every", "checkpoint", "resume", "checkpoints", "pretrained")


def build_ppo_config(cfg: Config):
    from ray.rllib.algorithms.ppo import PPOConfig

    from rlkd.rl.callbacks import CurriculumMetrics

    p, r = cfg.ppo, cfg.resources
    # what the episodes run: the target, its cheap proxy (env.proxy), or each task's (env.tasks)
    batch = p.episodes_per_batch * max(c.distill.epochs for _, _, c in episode_configs(cfg))
    env_config = env_config_for(cfg)
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
