"""What one epoch is told to do, and how the env's vector action maps onto it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from rlkd.config import EnvConfig


@dataclass(frozen=True)
class EpochAction:
    """Everything a curriculum chooses for one epoch; None leaves the run's configured value."""

    difficulty: float
    fraction: Optional[float] = None
    temperature: Optional[float] = None
    teacher_weights: Optional[tuple[float, ...]] = None
    sampler: Optional[str] = None
    alpha: Optional[float] = None  # label weight of the kd loss this epoch
    mix: Optional[float] = None  # share of the subset from the sampler's window, the rest uniform in each class

    def as_epoch_kwargs(self) -> dict:
        return {"difficulty": self.difficulty, "fraction": self.fraction, "temperature": self.temperature,
                "teacher_weights": None if self.teacher_weights is None else list(self.teacher_weights),
                "sampler": self.sampler, "alpha": self.alpha, "mix": self.mix}


def action_dims(cfg: EnvConfig, num_teachers: int) -> list[str]:
    """Names of the continuous action's dimensions, in order."""
    dims = ["difficulty"]
    if cfg.control_fraction:
        dims.append("fraction")
    if cfg.control_temperature:
        dims.append("temperature")
    if cfg.control_teacher_weights:
        dims += [f"teacher_weight_{t}" for t in range(num_teachers)]
    dims += [name for name in ("alpha", "mix", "sampler") if getattr(cfg, f"control_{name}")]
    return dims


def choose_sampler(value: float, choices: list[str]) -> str:
    """[0, 1] cut into len(choices) equal bins, one sampler each (1.0 falls in the last bin)."""
    return choices[min(int(value * len(choices)), len(choices) - 1)]


def decode_action(action, cfg: EnvConfig, num_teachers: int) -> EpochAction:
    """Env action (Box(0, 1)^D, or a Discrete bin) -> EpochAction; the sampler is the env's, or the chosen one.

    Every dimension lives in [0, 1]: fraction maps to [min_fraction, 1], temperature to temperature_range,
    teacher weights are normalised, alpha and mix are used as they are, sampler picks a bin (docs/rl.md).
    """
    if cfg.action == "discrete":
        return EpochAction(difficulty=float(int(action)) / (cfg.difficulty_bins - 1), sampler=cfg.sampler)
    a = np.clip(np.asarray(action, dtype=np.float64).reshape(-1), 0.0, 1.0)
    values = dict(zip(action_dims(cfg, num_teachers), a))
    fraction = cfg.min_fraction + values["fraction"] * (1 - cfg.min_fraction) if cfg.control_fraction else None
    lo, hi = cfg.temperature_range
    temperature = lo + values["temperature"] * (hi - lo) if cfg.control_temperature else None
    weights = None
    if cfg.control_teacher_weights:
        raw = np.array([values[f"teacher_weight_{t}"] for t in range(num_teachers)]) + 1e-3
        weights = tuple(float(w) for w in raw / raw.sum())
    sampler = choose_sampler(values["sampler"], cfg.sampler_choices) if cfg.control_sampler else cfg.sampler
    return EpochAction(float(values["difficulty"]), fraction, temperature, weights, sampler,
                       float(values["alpha"]) if cfg.control_alpha else None,
                       float(values["mix"]) if cfg.control_mix else None)
