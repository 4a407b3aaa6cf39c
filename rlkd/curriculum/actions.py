"""What one epoch is told to do, and how the env's vector action maps onto it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from rlkd.config import Config, EnvConfig


@dataclass(frozen=True)
class EpochAction:
    """Everything a curriculum chooses for one epoch: the one argument of `DistillationRun.epoch`, `plan_epoch`
    and (one per lane) `StudentPopulation.epoch`. None leaves the run's configured value, so `EpochAction()` is
    the config's own epoch (what `rlkd distill` trains). A new action dimension is one field here and its use
    in `plan_epoch`; a per-lane value the population's fused optimizer step cannot share (a per-lane lr) goes
    into its lane-grouping key (`rlkd.distill.population._loss_key`) too."""

    difficulty: Optional[float] = None
    fraction: Optional[float] = None
    temperature: Optional[float] = None
    teacher_weights: Optional[tuple[float, ...]] = None
    sampler: Optional[str] = None
    alpha: Optional[float] = None  # label weight of the kd loss this epoch
    mix: Optional[float] = None  # share of the subset from the sampler's window, the rest uniform in each class
    feature_scale: Optional[float] = None  # factor on distill.feature.weights this epoch
    lr_scale: Optional[float] = None  # factor on the run's lr (its cosine schedule) for this epoch's steps


CONFIGURED = EpochAction()  # the config's own epoch


def action_dims(cfg: EnvConfig, num_teachers: int) -> list[str]:
    """Names of the continuous action's dimensions, in order."""
    dims = ["difficulty"]
    if cfg.control_fraction:
        dims.append("fraction")
    if cfg.control_temperature:
        dims.append("temperature")
    if cfg.control_teacher_weights:
        dims += [f"teacher_weight_{t}" for t in range(num_teachers)]
    dims += [name for name in ("alpha", "mix", "sampler", "feature_weight", "lr_scale")
             if getattr(cfg, f"control_{name}")]
    return dims


def choose_sampler(value: float, choices: list[str]) -> str:
    """[0, 1] cut into len(choices) equal bins, one sampler each (1.0 falls in the last bin)."""
    return choices[min(int(value * len(choices)), len(choices) - 1)]


def anchored(value: float, low: float, anchor: float, high: float) -> float:
    """[0, 1] -> [low, high], piecewise linear with 0.5 -> anchor: the centre of a dimension is its anchor."""
    if value <= 0.5:
        return low + (anchor - low) * value / 0.5
    return anchor + (high - anchor) * (value - 0.5) / 0.5


LR_SCALE_SPAN = 10.0  # the lr_scale dimension spans x1/10 .. x10 on a log scale


def log_scale(value: float, span: float) -> float:
    """[0, 1] -> [1/span, span] on a log scale, 0.5 -> 1: the centre leaves the run's own value."""
    return float(span ** (2.0 * value - 1.0))


def decode_action(action, cfg: Config, num_teachers: int) -> EpochAction:
    """Env action (Box(0, 1)^D, or a Discrete bin) -> EpochAction; the sampler is the env's, or the chosen one.

    The centre of the box (0.5 in every dimension, where an untrained PPO policy's mean starts) is the reference
    control, KD on all data with the run's own recipe: fraction 1 (from 0.5 up), alpha = distill.alpha,
    temperature = distill.temperature, mix 1, equal teacher weights, feature weights as configured (x1; x0 to x2),
    lr_scale x1 (x0.1 to x10 on a log scale). Every anchor is read from `cfg`, the config of the run the action
    is for, so a policy trained on one task decodes to that task's own recipe at the centre.
    So PPO explores outward from the best known fixed choice instead of from a random corner of the space
    (docs/rl.md "The action space").
    """
    env = cfg.env
    if env.action == "discrete":
        return EpochAction(difficulty=float(int(action)) / (env.difficulty_bins - 1), sampler=env.sampler)
    a = np.clip(np.asarray(action, dtype=np.float64).reshape(-1), 0.0, 1.0)
    values = dict(zip(action_dims(env, num_teachers), a))
    fraction = anchored(values["fraction"], env.min_fraction, 1.0, 1.0) if env.control_fraction else None
    lo, hi = env.temperature_range
    temperature = (anchored(values["temperature"], lo, float(np.clip(cfg.distill.temperature, lo, hi)), hi)
                   if env.control_temperature else None)
    weights = None
    if env.control_teacher_weights:
        raw = np.array([values[f"teacher_weight_{t}"] for t in range(num_teachers)]) + 1e-3
        weights = tuple(float(w) for w in raw / raw.sum())
    sampler = choose_sampler(values["sampler"], env.sampler_choices) if env.control_sampler else env.sampler
    alpha = anchored(values["alpha"], 0.0, cfg.distill.alpha, 1.0) if env.control_alpha else None
    mix = anchored(values["mix"], 0.0, 1.0, 1.0) if env.control_mix else None
    feature_scale = anchored(values["feature_weight"], 0.0, 1.0, 2.0) if env.control_feature_weight else None
    lr_scale = log_scale(values["lr_scale"], LR_SCALE_SPAN) if env.control_lr_scale else None
    return EpochAction(float(values["difficulty"]), fraction, temperature, weights, sampler, alpha, mix, feature_scale,
                       lr_scale)
