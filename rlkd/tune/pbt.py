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

import json
import math
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
from tqdm import tqdm

from rlkd.config import Config
from rlkd.curriculum.actions import EpochAction
from rlkd.distill.population import StudentPopulation
from rlkd.distill.run import EpochStats
from rlkd.env.curriculum_env import shared_inputs
from rlkd.errors import RlkdError
from rlkd.seeds import block_seeds
from rlkd.workdir import atomic_write_text

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


def run_pbt(cfg: Config, out: Path) -> dict:
    data, shards = shared_inputs(cfg)
    t, size = cfg.tune, population_size(cfg)
    seed = block_seeds(cfg.seeds.choice, "pbt", 1)[0]
    space, rng = search_space(cfg), np.random.default_rng(seed)
    settings = [{k: float(rng.uniform(lo, hi)) for k, (lo, hi) in space.items()} for _ in range(size)]
    # every member starts from the same seed (one KD run, different curricula), as the Tune trials did
    population = StudentPopulation(cfg, shards, [seed] * size, data)
    schedules: list[list[dict]] = [[] for _ in range(size)]
    scores = [math.nan] * size
    with tqdm(total=cfg.distill.epochs, desc="pbt", unit="epoch") as bar:
        while not all(population.finished):
            results = population.epoch([EpochAction(sampler="adaptive", **s) for s in settings])
            for m, result in enumerate(results):  # None: a member whose run had ended (its score stands)
                if isinstance(result, EpochStats):
                    schedules[m].append({**_row(settings[m]), "val_acc": result.val_acc,
                                         "samples": result.subset_size})
                    scores[m] = result.val_acc
                elif result is not None:  # its loss diverged: it ranks last and is replaced at the next exploit
                    scores[m] = math.nan
            epoch = max(run.epoch_index for run in population.runs)
            bar.update(epoch - bar.n)
            bar.set_postfix(best_val_acc=f"{np.nanmax(scores):.2f}" if not all(map(math.isnan, scores)) else "nan")
            if epoch % t.perturbation_interval == 0 and not all(population.finished):
                for loser, winner in exploit_pairs(scores):
                    tqdm.write(f"pbt: epoch {epoch}: member {loser} (val {scores[loser]:.2f}) takes member {winner}'s "
                               f"run (val {scores[winner]:.2f}) and explores from its settings")
                    population.load_state_dict(loser, population.state_dict(winner))
                    schedules[loser] = [dict(row) for row in schedules[winner]]
                    settings[loser] = explore(settings[winner], space, rng)
                    scores[loser] = scores[winner]
    best = _best(scores)
    schedule = schedules[best]
    atomic_write_text(out / SCHEDULE_FILE, json.dumps(schedule, indent=2))
    print(f"pbt: best member val_acc (last epoch) {scores[best]:.2f}; schedule -> {out / SCHEDULE_FILE}")
    for e, row in enumerate(schedule, 1):
        print(f"  epoch {e:>3}  difficulty {row['difficulty']:.3f}  fraction {row['fraction']:.3f}  "
              f"val_acc {row['val_acc']:.2f}")
    spent = sum(run.samples_seen for run in population.runs) / len(data.train.labels)
    return {"schedule": str(out / SCHEDULE_FILE), "val_acc_last_epoch_best_member": scores[best],
            "members": size, "batched": population.batched, "kd_epochs": spent, "seed": seed,
            "note": "chosen on val; evaluate replays the schedule on other seeds and reports test"}


def _row(settings: dict[str, float]) -> dict[str, Optional[float]]:
    """A schedule row's action: what `rlkd evaluate --pbt` replays."""
    return {"difficulty": settings["difficulty"], "fraction": settings["fraction"], "alpha": settings["alpha"],
            "temperature": settings["temperature"]}


def _best(scores: list[float]) -> int:
    finite = [m for m, s in enumerate(scores) if not math.isnan(s)]
    if not finite:
        raise RlkdError("pbt: every member's loss diverged; lower distill.lr")
    return max(finite, key=lambda m: scores[m])
