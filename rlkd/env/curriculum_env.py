"""`CurriculumEnv`: one distillation run is one episode, one epoch is one step.

Plain gymnasium, nothing from Ray, so any RL library can drive it. The action
is applied to the epoch of the same `step` call and the reward is computed from
that epoch (the seed applied it one epoch late and credited the wrong action).
The episode ends when the run does: after distill.epochs epochs or when its
compute budget (env.budget, docs/distill.md) is spent, whichever is first.

The observation and the action space: rlkd.curriculum.observation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence, Union

import gymnasium as gym
import numpy as np

from rlkd.config import Config, config_from_dict, config_to_dict, episode_configs, proxy_config
from rlkd.console import filter_harmless_lines
from rlkd.curriculum.actions import EpochAction, decode_action
from rlkd.curriculum.observation import encode_observation, env_spaces, observation_keys
from rlkd.data import DatasetSplits
from rlkd.data.shards import TeacherShards, manifest_digest
from rlkd.distill.inputs import load_run_inputs
from rlkd.distill.run import DistillationRun, EpochStats, NonFiniteLossError, fixed_observation
from rlkd.env.reward import curriculum_reward, reference_train_loss, task_relative
from rlkd.errors import ConfigError
from rlkd.seeds import episode_range

_INPUTS: dict[str, tuple[str, tuple[DatasetSplits, TeacherShards]]] = {}  # config -> (manifest digest, inputs)


def shared_inputs(cfg: Config) -> tuple[DatasetSplits, TeacherShards]:
    """Data and shards, loaded once per process and shared by every env (and every reset) in it; loaded again
    when the shards' manifest changed (`rlkd precompute --force` in this process), dropping the stale ones."""
    key = f"{cfg.data}|{cfg.teacher.checkpoint}|{cfg.teacher.additional}"
    digest = manifest_digest(cfg.data.shards) if cfg.data.shards is not None else ""
    cached = _INPUTS.get(key)
    if cached is None or cached[0] != digest:
        _INPUTS[key] = (digest, load_run_inputs(cfg))
    return _INPUTS[key][1]


class EpochStepper:
    """Applies one EpochAction to a run and scores it with the seed reward: shared by the env and `apply`."""

    def __init__(self, cfg: Config, run: DistillationRun):
        self.cfg, self.run = cfg, run
        self.prev_acc, self.prev_loss = 0.0, float("nan")
        self.reward_cfg = (task_relative(cfg.reward, 100.0 * run.teacher_val_acc())
                           if cfg.reward.thresholds == "teacher" else cfg.reward)

    def step(self, action: EpochAction) -> tuple[float, bool, dict]:
        """(reward, diverged, info) for one epoch trained with `action`."""
        try:
            return self.score(self.run.epoch(action))
        except NonFiniteLossError as exc:
            return self.score(exc)

    def score(self, result: Union[EpochStats, NonFiniteLossError]) -> tuple[float, bool, dict]:
        """(reward, diverged, info) of the epoch the run just trained (or the divergence it raised): a
        `StudentPopulation` trains its lanes' epochs together, then each lane's stepper scores its own."""
        if isinstance(result, NonFiniteLossError):
            return self.cfg.env.divergence_penalty, True, {"diverged": True, "epoch": result.epoch}
        stats, epoch = result, result.epoch - 1  # the 0-based index of the epoch just trained
        loss = stats.loss
        if self.cfg.reward.train_loss == "reference":
            run = self.run
            loss = reference_train_loss(run.loss_fn, run.student_logits, run.labels, run.teacher_logits[:, :, 0],
                                        self.cfg.distill.temperature, epoch)
        reward = curriculum_reward(stats.val_acc, self.prev_acc, loss, self.prev_loss, epoch, self.run.epochs,
                                   self.reward_cfg)
        self.prev_acc, self.prev_loss = stats.val_acc, loss
        info = {"val_acc": stats.val_acc, "train_loss": stats.loss, "reward_train_loss": loss,
                "subset_size": stats.subset_size,
                "samples_seen": stats.samples_seen, "budget_samples": stats.budget_samples, "budget": stats.budget,
                "difficulty": stats.difficulty, "fraction": stats.fraction,
                "temperature": stats.temperature, "subset_difficulty_mean": stats.subset_difficulty_mean,
                "epoch": stats.epoch, "reward": reward, "diverged": False}
        return reward, False, info


def env_setup(env_config: Optional[dict]) -> Config:
    """The rlkd config an env_config carries (`env_config_for`), with torch's threads set as it asks, and the
    known-harmless RLlib lines of this process dropped: an env runner builds its env before its RLModule, whose
    deprecation line is one of them (rlkd.console.HARMLESS)."""
    filter_harmless_lines()
    raw = dict(env_config or {}).get("config")
    cfg = config_from_dict(raw) if isinstance(raw, dict) else (raw or config_from_dict({}))
    if cfg.resources.torch_threads > 0:
        import torch

        torch.set_num_threads(cfg.resources.torch_threads)
    return cfg


@dataclass
class EpisodeTask:
    """What one episode runs: a task's episode config (or the target's, name ""), with its data and shards."""

    name: str
    weight: float
    cfg: Config
    data: DatasetSplits
    shards: TeacherShards


def episode_tasks(env_config: Optional[dict], cfg: Config) -> list[EpisodeTask]:
    """The tasks an env_config carries (`env_config_for`), or the one config `cfg`; every task's action and
    observation spaces must be `cfg`'s (a policy acts in one space), or a ConfigError names the task."""
    raw = dict(env_config or {}).get("tasks") or [{"name": "", "weight": 1.0, "config": cfg}]
    tasks = []
    for entry in raw:
        task_cfg = entry["config"] if isinstance(entry["config"], Config) else config_from_dict(entry["config"])
        tasks.append(EpisodeTask(entry["name"], float(entry["weight"]), task_cfg, *shared_inputs(task_cfg)))
    spaces = env_spaces(cfg, tasks[0].shards.num_teachers)
    for task in tasks:
        if env_spaces(task.cfg, task.shards.num_teachers) != spaces:
            raise ConfigError(f"env.tasks: task {task.name!r} has other action or observation spaces than the "
                              f"first task ({task.shards.num_teachers} teachers in {task.cfg.data.shards}); every "
                              f"task needs as many teachers, since one policy acts in all of them")
    return tasks


def training_ranges(cfg: Config) -> dict[str, list[float]]:
    """[low, high] over the tasks PPO's episodes run (the target's, or each of env.tasks) of every observation key
    fixed for a run: what a policy trained under `cfg` has seen of its tasks (policy.json's training_ranges)."""
    fixed = [fixed_observation(task.shards, task.data) for task in episode_tasks(env_config_for(cfg),
                                                                               proxy_config(cfg))]
    return {key: [min(f[key] for f in fixed), max(f[key] for f in fixed)] for key in fixed[0]}


def draw_task(rng: np.random.Generator, weights: Sequence[float]) -> int:
    """The index of the next episode's task, drawn by weight; with one task nothing is drawn (the run seeds
    stay those of a single-task env)."""
    if len(weights) == 1:
        return 0
    p = np.asarray(weights, dtype=np.float64)
    return int(rng.choice(len(p), p=p / p.sum()))


def draw_run_seed(rng: np.random.Generator, cfg: Config) -> int:
    """The seed of an episode's run: drawn from the env's seeded generator, shifted by env.seed, and always inside
    the choice range's episode seeds (rlkd.seeds.episode_range): an episode's seed never measures the policy."""
    low, high = episode_range(cfg.seeds.choice)
    return low + (int(rng.integers(0, high - low)) + cfg.env.seed) % (high - low)


class CurriculumEnv(gym.Env):
    """env_config: {"config": <rlkd config as a dict>} (what `config_to_dict` returns)."""

    metadata = {"render_modes": []}

    def __init__(self, env_config: Optional[dict] = None):
        self.cfg = env_setup(env_config)
        self.tasks = episode_tasks(env_config, self.cfg)
        self.task = self.tasks[0]
        self.num_teachers = self.task.shards.num_teachers
        self.action_space, self.observation_space = env_spaces(self.cfg, self.num_teachers)
        self.obs_keys = observation_keys(self.cfg.env)
        self.run: Optional[DistillationRun] = None
        self.stepper: Optional[EpochStepper] = None

    def reset(self, *, seed: Optional[int] = None, options: Optional[dict] = None) -> tuple[np.ndarray, dict]:
        """A new run: its task drawn by weight (with env.tasks), then its seed, both from the env's generator."""
        super().reset(seed=seed)
        self.task = self.tasks[draw_task(self.np_random, [t.weight for t in self.tasks])]
        run_seed = draw_run_seed(self.np_random, self.task.cfg)
        self.run = DistillationRun(self.task.cfg, self.task.shards, run_seed, self.task.data)
        self.stepper = EpochStepper(self.task.cfg, self.run)
        info = {"run_seed": run_seed, **({"task": self.task.name} if self.task.name else {})}
        return encode_observation(self.run.observe(), self.obs_keys), info

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        if self.run is None:
            raise RuntimeError("call reset() before step()")
        epoch_action = decode_action(action, self.task.cfg, self.num_teachers)  # anchored on this task's recipe
        reward, diverged, info = self.stepper.step(epoch_action)
        terminated = diverged or self.run.finished
        return encode_observation(self.run.observe(), self.obs_keys), float(reward), terminated, False, info


def env_config_for(cfg: Config) -> dict:
    """The plain-dict env_config RLlib ships to remote env runners: the episodes' config (the target's proxy, or
    the target), and with env.tasks each task's episode config and weight."""
    episodes = episode_configs(cfg)
    tasks = [{"name": name, "weight": weight, "config": config_to_dict(c)} for name, weight, c in episodes if name]
    return {"config": config_to_dict(episodes[0][2] if tasks else proxy_config(cfg)), "tasks": tasks}
