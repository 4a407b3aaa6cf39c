"""Curriculum policies: one interface for the learned policy and every fixed baseline schedule.

A policy sees the env's observation (and the epoch) and returns an `EpochAction`.
`rlkd apply` and `rlkd evaluate` drive runs through this interface only, so a
baseline and a learned policy are compared by the same code path.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Optional, Protocol, Sequence

import numpy as np

from rlkd.config import Config, absolute_paths, config_from_dict, episode_configs
from rlkd.curriculum.actions import EpochAction, action_dims, decode_action
from rlkd.curriculum.observation import observation_keys
from rlkd.curriculum.policy_net import POLICY_SPEC, PolicyNetwork, describe_space, load_policy_network
from rlkd.data import data_family
from rlkd.errors import CheckpointError, ConfigError


class CurriculumPolicy(Protocol):
    name: str

    def act(self, observation: np.ndarray, epoch: int, epochs: int) -> EpochAction: ...


@dataclass
class FixedSchedule:
    """A baseline: the same sampler settings every epoch (schedules like pacing move with progress themselves).

    `teacher_weights` fixes the multi-teacher loss's weights (one per teacher) for every epoch, e.g. one-hot
    for a single teacher; None leaves them to the loss (equal weights).
    """

    name: str
    sampler: str
    difficulty: float = 0.5
    fraction: Optional[float] = None
    teacher_weights: Optional[tuple[float, ...]] = None

    def act(self, observation: np.ndarray, epoch: int, epochs: int) -> EpochAction:
        return EpochAction(self.difficulty, self.fraction, teacher_weights=self.teacher_weights, sampler=self.sampler)


@dataclass
class ReplayFractions:
    """Random subsets whose size follows another run's per-epoch fractions: the same-size control."""

    name: str
    fractions: Sequence[float]

    def act(self, observation: np.ndarray, epoch: int, epochs: int) -> EpochAction:
        return EpochAction(0.5, float(self.fractions[min(epoch, len(self.fractions) - 1)]), sampler="random")


@dataclass
class ReplaySchedule:
    """A fixed per-epoch schedule (e.g. the best PBT member's), replayed on new seeds."""

    name: str
    schedule: Sequence[dict]

    def act(self, observation: np.ndarray, epoch: int, epochs: int) -> EpochAction:
        row = self.schedule[min(epoch, len(self.schedule) - 1)]
        return EpochAction(row["difficulty"], row.get("fraction"), row.get("temperature"), sampler="adaptive",
                           alpha=row.get("alpha"), mix=row.get("mix"), feature_scale=row.get("feature_scale"),
                           lr_scale=row.get("lr_scale"))


@dataclass
class LinearSchedule:
    """The schedules a tuner can express: the label weight, the temperature and the share of data per epoch, each
    linear from its start (epoch 1) to its end value (the last epoch); start = end is a constant. Below a share of
    1 an epoch trains on a uniform subset of each class (the `random` sampler); at 1, on all data (`full`)."""

    name: str
    alpha: tuple[float, float]
    temperature: tuple[float, float]
    fraction: tuple[float, float] = (1.0, 1.0)

    def act(self, observation: np.ndarray, epoch: int, epochs: int) -> EpochAction:
        progress = epoch / max(epochs - 1, 1)

        def at(ends: tuple[float, float]) -> float:
            return float(ends[0] + (ends[1] - ends[0]) * progress)

        fraction = at(self.fraction)
        return EpochAction(0.5, fraction, at(self.temperature), sampler="full" if fraction >= 1.0 else "random",
                           alpha=at(self.alpha))


@dataclass
class ReplayActions:
    """Open-loop replay: one fixed action per epoch whatever the observation says (e.g. another policy's mean
    action), so the gap between a policy and its replay is what feedback from the observation is worth."""

    name: str
    actions: Sequence[EpochAction]

    def act(self, observation: np.ndarray, epoch: int, epochs: int) -> EpochAction:
        return self.actions[min(epoch, len(self.actions) - 1)]


def _mean_setting(values: list):
    """One action setting averaged over runs: None when the runs left it to the config (a policy controls a
    setting or not), the most common choice for a categorical one (the sampler), else the (element-wise) mean."""
    if any(v is None for v in values):
        return None
    if isinstance(values[0], str):
        return statistics.mode(values)
    if isinstance(values[0], (tuple, list)):
        return tuple(float(x) for x in np.mean(values, axis=0))
    return float(np.mean(values))


def mean_actions(runs: Sequence[Sequence[dict]]) -> list[EpochAction]:
    """The mean action per epoch over several runs of one policy (each run: its actions as `asdict(EpochAction)`).

    Every setting is averaged (difficulty, fraction, temperature, teacher weights, ...) over the runs that reached
    the epoch; the report's table and the open-loop replay both read this, so they cannot disagree.
    """
    epochs = max(len(run) for run in runs)
    return [EpochAction(**{f.name: _mean_setting([run[e][f.name] for run in runs if e < len(run)])
                           for f in fields(EpochAction)})
            for e in range(epochs)]


class LearnedPolicy:
    """A trained policy network, read from its export: no Ray, no RLlib, nothing unpickled.

    `cfg` is the config it was trained under: it says which observation keys the network reads. Its actions are
    decoded around the recipe of `run_cfg`, the run it acts in (`acting_in`), so the box's centre is that run's
    own alpha, temperature and lr; until then, around its training config's."""

    def __init__(self, network: PolicyNetwork, cfg: Config, num_teachers: int, name: str = "policy",
                 run_cfg: Optional[Config] = None):
        self.network, self.cfg, self.num_teachers, self.name = network, cfg, num_teachers, name
        self.run_cfg = run_cfg or cfg
        self.observation_keys = observation_keys(cfg.env)

    def acting_in(self, run_cfg: Config) -> "LearnedPolicy":
        """This policy deciding for runs of `run_cfg`: its actions mean what they meant in training (its own env
        section: the dimensions, their ranges, the sampler choices), centred on the run's recipe (alpha,
        temperature, lr). A run with another number of teachers than it weighs is refused."""
        teachers = 1 + len(run_cfg.teacher.additional)
        if self.cfg.env.control_teacher_weights and teachers != self.num_teachers:
            raise CheckpointError(f"policy {self.name!r} weighs {self.num_teachers} teachers each epoch, but the "
                                  f"run has {teachers} (teacher.checkpoint and teacher.additional): give it as many")
        return LearnedPolicy(self.network, self.cfg, self.num_teachers, self.name,
                             replace(run_cfg, env=self.cfg.env))

    def raw_action(self, observation: np.ndarray):
        """The deterministic action in the env's own space (Box bounds or a Discrete index)."""
        return self.network.action(observation)

    def act(self, observation: np.ndarray, epoch: int, epochs: int) -> EpochAction:
        return decode_action(self.raw_action(observation), self.run_cfg, self.num_teachers)


def training_families(policy: "LearnedPolicy") -> set[str]:
    """The data families of the tasks the policy's episodes ran (its training config's env.tasks, or its target)."""
    return {data_family(task_cfg.data) for _, _, task_cfg in episode_configs(policy.cfg)}


def pretrained_row(policy: "LearnedPolicy", run_cfg: Config) -> str:
    """The report row of a policy trained elsewhere: zero-shot only when it never trained on the run's family."""
    return "pretrained policy" + ("" if data_family(run_cfg.data) in training_families(policy) else " (zero-shot)")


def outside_training(ranges: dict[str, list[float]], observed: dict[str, float], slack: float = 0.02) -> list[str]:
    """The fixed observation keys of a run that lie outside [low - slack, high + slack] of what the policy saw in
    training, each as 'key value (trained low-high)'."""
    return [f"{key} {observed[key]:.3f} (trained {low:.3f}-{high:.3f})" for key, (low, high) in ranges.items()
            if key in observed and not low - slack <= observed[key] <= high + slack]


def acting_in(policy, run_cfg: Config):
    """`policy` deciding for a run of `run_cfg`: a learned one decodes around that run's recipe; fixed ones are
    the same everywhere."""
    return policy.acting_in(run_cfg) if isinstance(policy, LearnedPolicy) else policy


def policy_observation_keys(policy, run_cfg: Config) -> tuple[str, ...]:
    """The observation keys `policy` reads: a learned one's from its training config, else the run's."""
    return policy.observation_keys if isinstance(policy, LearnedPolicy) else observation_keys(run_cfg.env)


def env_action_space(cfg: Config, num_teachers: int) -> dict:
    """The env's action space (as policy.json writes it) that `decode_action` expects under `cfg`."""
    if cfg.env.action == "discrete":
        return {"type": "discrete", "n": cfg.env.difficulty_bins}
    size = len(action_dims(cfg.env, num_teachers))
    return {"type": "box", "shape": [size], "low": [0.0] * size, "high": [1.0] * size}


def load_policy(checkpoint_dir: str | Path) -> LearnedPolicy:
    """Restore the policy from the export `rlkd train` / `rlkd tune` write beside a checkpoint (policy.json +
    policy.safetensors): safe on folders from others, since nothing is unpickled, and it needs no Ray."""
    root = Path(checkpoint_dir).resolve()
    network = load_policy_network(root)
    spec_path = root / POLICY_SPEC
    try:
        cfg = absolute_paths(config_from_dict(network.spec.config, stored=str(spec_path)))
    except ConfigError as exc:
        raise CheckpointError(f"{spec_path}: its rlkd_config is not valid for this rlkd ({exc})") from None
    keys = observation_keys(cfg.env)
    observation, ours = describe_space(network.spec.observation_space), f"Box(shape=({len(keys)},))"
    if observation != ours:
        raise CheckpointError(f"{spec_path}: observation space {observation} is not this rlkd's {ours} "
                              f"({', '.join(keys)})")
    num_teachers = 1 + len(cfg.teacher.additional)
    expected = env_action_space(cfg, num_teachers)
    if network.spec.action_space != expected:
        raise CheckpointError(f"{spec_path}: action space {network.spec.action_space} does not match its "
                              f"rlkd_config's env section, which implies {expected}; re-export the policy with "
                              f"the config it was trained under")
    return LearnedPolicy(network, cfg, num_teachers)


def baseline_policies(budget: float, mode: str = "kd",
                      teachers: Sequence[str] = ()) -> list[tuple[str, list[str], CurriculumPolicy]]:
    """(name, config overrides, policy) for every fixed control of `rlkd evaluate`, at the policy's `env.budget`.

    Each control runs under the policy's own budget (a run stops once it is spent) except the reference
    "kd (all data)", which gets the full budget. Windows and hard mining take fraction = budget, so over the
    run they see the budget's samples; at the full budget they would be KD on all data again, so they are left out.

    `teachers` names the run's teachers in order (teacher 0 = teacher.checkpoint, then teacher.additional).
    With more than one under the multi_teacher loss, a policy that chooses teacher weights has two claims to
    meet (MTKD-RL's): beat equal weights, which is what the kd rows already are there (the loss's default
    weighting, so they keep their names: "kd (all data)" is the reference the report's text and cost line
    name), and beat each teacher alone, which gets one row per teacher: all its weight on that teacher
    through the same loss, on all data at the policy's budget.
    """
    controls: list[tuple[list[str], CurriculumPolicy]] = [
        (["env.budget=1.0"], FixedSchedule("kd (all data)", "full")),
        (["distill.mode=labels"], FixedSchedule("labels", "full")),
        ([], FixedSchedule("pacing", "pacing")),
        ([], FixedSchedule("growing random (pacing sizes)", "pacing_random")),
        ([], FixedSchedule("anti", "anti")),
    ]
    if budget < 1.0:
        controls.append(([], FixedSchedule("kd (all data, policy's budget)", "full")))
        controls += [([], FixedSchedule(f"window d={d} (fraction=budget)", "adaptive", d, budget))
                     for d in (0.1, 0.5, 0.9)]
        controls.append(([], FixedSchedule("hard mining (fraction=budget)", "hard_mining", 0.5, budget)))
    if mode == "multi_teacher" and len(teachers) > 1:
        scope = "all data" if budget >= 1.0 else "all data, policy's budget"
        controls += [([], FixedSchedule(f"kd ({scope}), teacher {t} only: {label}", "full",
                                        teacher_weights=tuple(float(u == t) for u in range(len(teachers)))))
                     for t, label in enumerate(teachers)]
    return [(policy.name, overrides, policy) for overrides, policy in controls]


def policy_checkpoint(cfg: Config) -> str:
    if cfg.ppo.checkpoint is None:
        raise ConfigError("ppo.checkpoint: not set; pass --checkpoint runs/.../train/checkpoint "
                          "(written by `rlkd train`)")
    return cfg.ppo.checkpoint
