"""`rlkd pbt`: the baseline a user would try instead of RL — Population Based Training of the curriculum.

A population of `tune.pbt.population` plain KD runs (class-stratified `adaptive` sampler) trained as one
`StudentPopulation`: every `tune.perturbation_interval` epochs the worst quarter of the members (by val
accuracy after the epoch) take over the state of the best quarter (student, optimiser, generator,
history: the lane's whole run) and explore around its settings, as Ray Tune's PBT scheduler does:
each setting is redrawn with probability 1/4, else multiplied by 0.8 or 1.2 and kept in its range.
The settings are difficulty, fraction, the label weight alpha and the temperature. With `tune.pbt.budget`
(KD epochs, e.g. the RL's budget from `rlkd evaluate`'s report) the population grows until it spends that
budget, so PBT gets the same tuning as the RL; every member starts from the choice range's pbt seed. The best
member's per-epoch schedule, inherited epochs included, is written to `schedule.json`, which
`rlkd evaluate` replays on its own seeds beside the learned policy.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from rlkd.config import Config

SCHEDULE_FILE = "schedule.json"
QUANTILE = 0.25  # Ray Tune's PBT defaults: the bottom quarter exploits the top quarter ...
RESAMPLE_PROBABILITY = 0.25  # ... and each setting is redrawn with this probability, else perturbed
PERTURB_FACTORS = (0.8, 1.2)


def search_space(cfg: Config) -> dict[str, tuple[float, float]]:
    """The range of every setting PBT mutates."""
    return {"difficulty": (0.0, 1.0), "fraction": (cfg.env.min_fraction, 1.0), "alpha": (0.0, 1.0),
            "temperature": tuple(cfg.env.temperature_range)}


def population_size(cfg: Config) -> int:
    """tune.pbt.population, or as many members as spend tune.pbt.budget KD epochs (each member at most one run of
    distill.epochs x env.budget epochs' samples)."""
    t = cfg.tune
    per_member = cfg.distill.epochs * cfg.env.budget
    return max(t.pbt.population, int(t.pbt.budget // per_member)) if t.pbt.budget else t.pbt.population


def explore(settings: dict[str, float], space: dict[str, tuple[float, float]],
            rng: np.random.Generator) -> dict[str, float]:
    """New settings near `settings`: each redrawn in its range with RESAMPLE_PROBABILITY, else scaled by 0.8 or 1.2
    and clipped to its range."""
    out = {}
    for key, (low, high) in space.items():
        if rng.random() < RESAMPLE_PROBABILITY:
            out[key] = float(rng.uniform(low, high))
        else:
            out[key] = float(np.clip(settings[key] * PERTURB_FACTORS[int(rng.integers(2))], low, high))
    return out


def exploit_pairs(scores: Sequence[float]) -> list[tuple[int, int]]:
    """(loser, winner) pairs: the bottom QUANTILE of members by score, each paired with one of the top QUANTILE
    (the worst with the best, and so on); at least one pair. A NaN score (a diverged member) ranks last."""
    ranked = sorted(range(len(scores)), key=lambda m: -math.inf if math.isnan(scores[m]) else scores[m])
    n = max(1, int(len(scores) * QUANTILE))
    return list(zip(ranked[:n], reversed(ranked[-n:])))
