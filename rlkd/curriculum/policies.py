"""Curriculum policies: one interface for the learned policy and every fixed baseline schedule.

A policy sees the env's observation (and the epoch) and returns an `EpochAction`.
`rlkd apply` and `rlkd evaluate` drive runs through this interface only, so a
baseline and a learned policy are compared by the same code path.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Protocol, Sequence

import numpy as np

from rlkd.config import Config, load_config
from rlkd.curriculum.actions import EpochAction, decode_action
from rlkd.errors import CheckpointError


class CurriculumPolicy(Protocol):
    name: str

    def act(self, observation: np.ndarray, epoch: int, epochs: int) -> EpochAction: ...


@dataclass
class FixedSchedule:
    """A baseline: the same sampler settings every epoch (schedules like pacing move with progress themselves)."""

    name: str
    sampler: str
    difficulty: float = 0.5
    fraction: Optional[float] = None

    def act(self, observation: np.ndarray, epoch: int, epochs: int) -> EpochAction:
        return EpochAction(self.difficulty, self.fraction, sampler=self.sampler)


@dataclass
class ReplayFractions:
    """Random subsets whose size follows another run's per-epoch fractions: the same-size control."""

    name: str
    fractions: Sequence[float]

    def act(self, observation: np.ndarray, epoch: int, epochs: int) -> EpochAction:
        return EpochAction(0.5, float(self.fractions[epoch]), sampler="random")


@dataclass
class ReplaySchedule:
    """A fixed per-epoch schedule (e.g. the best PBT member's), replayed on new seeds."""

    name: str
    schedule: Sequence[dict]

    def act(self, observation: np.ndarray, epoch: int, epochs: int) -> EpochAction:
        row = self.schedule[min(epoch, len(self.schedule) - 1)]
        return EpochAction(row["difficulty"], row.get("fraction"), row.get("temperature"), sampler="adaptive")


class LearnedPolicy:
    """A trained RLlib module, restored alone: no Ray cluster, no algorithm, no env runners."""

    def __init__(self, module, cfg: Config, num_teachers: int, name: str = "policy"):
        self.module, self.cfg, self.num_teachers, self.name = module, cfg, num_teachers, name

    def raw_action(self, observation: np.ndarray):
        """The deterministic action in the env's own space (Box bounds or a Discrete index)."""
        import torch
        from ray.rllib.core.columns import Columns

        with torch.no_grad():
            out = self.module.forward_inference({Columns.OBS: torch.as_tensor(observation, dtype=torch.float32)[None]})
        logits = out[Columns.ACTION_DIST_INPUTS][0].numpy()
        if self.cfg.env.action == "discrete":
            return int(np.argmax(logits))
        import gymnasium as gym
        from ray.rllib.utils.spaces.space_utils import unsquash_action

        mean = logits[: len(logits) // 2]  # mean in the normalised [-1, 1] space (normalize_actions=True)
        return unsquash_action(mean, gym.spaces.Box(0.0, 1.0, shape=mean.shape, dtype=np.float32))

    def act(self, observation: np.ndarray, epoch: int, epochs: int) -> EpochAction:
        return decode_action(self.raw_action(observation), self.cfg.env, self.num_teachers)


def load_policy(checkpoint_dir: str | Path) -> LearnedPolicy:
    """Restore the policy network from an `rlkd train` checkpoint (works in a fresh process without ray.init)."""
    from ray.rllib.core import COMPONENT_LEARNER, COMPONENT_LEARNER_GROUP, COMPONENT_RL_MODULE, DEFAULT_MODULE_ID
    from ray.rllib.core.rl_module.rl_module import RLModule

    from rlkd.rl.ppo import CONFIG_FILE

    root = Path(checkpoint_dir).resolve()
    module_dir = root / COMPONENT_LEARNER_GROUP / COMPONENT_LEARNER / COMPONENT_RL_MODULE / DEFAULT_MODULE_ID
    if not module_dir.is_dir() or not (root / CONFIG_FILE).is_file():
        raise CheckpointError(f"{checkpoint_dir}: not an rlkd policy checkpoint (needs {CONFIG_FILE} and "
                              f"{module_dir.relative_to(root)}); pass a folder written by `rlkd train`")
    cfg = load_config(root / CONFIG_FILE)
    module = RLModule.from_checkpoint(str(module_dir))
    dims = module.observation_space.shape if module.observation_space is not None else None
    num_teachers = 1 + len(cfg.teacher.additional)
    from rlkd.env.curriculum_env import OBS_KEYS  # the env defines the observation (imported here: env -> curriculum)

    if dims is not None and dims[0] != len(OBS_KEYS):
        raise CheckpointError(f"{checkpoint_dir}: observation size {dims[0]} is not this rlkd's {len(OBS_KEYS)}")
    return LearnedPolicy(module, cfg, num_teachers)


def baseline_policies() -> list[tuple[str, list[str], CurriculumPolicy]]:
    """(name, config overrides, policy) for every fixed baseline of `rlkd evaluate`."""
    return [
        ("labels", ["distill.mode=labels"], FixedSchedule("labels", "full")),
        ("kd (all data)", [], FixedSchedule("kd (all data)", "full")),
        ("pacing", [], FixedSchedule("pacing", "pacing")),
        ("anti", [], FixedSchedule("anti", "anti")),
        ("adaptive 0.3", [], FixedSchedule("adaptive 0.3", "adaptive", 0.3)),
        ("adaptive 0.5", [], FixedSchedule("adaptive 0.5", "adaptive", 0.5)),
        ("adaptive 0.7", [], FixedSchedule("adaptive 0.7", "adaptive", 0.7)),
    ]
