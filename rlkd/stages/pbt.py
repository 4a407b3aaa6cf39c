"""`rlkd pbt`: Population Based Training of the curriculum over KD runs (rlkd.tune.pbt); writes the best member's
schedule for `rlkd evaluate --pbt`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Optional

import numpy as np

from rlkd.config import Config
from rlkd.console import progress
from rlkd.curriculum.actions import EpochAction
from rlkd.distill.population import StudentPopulation
from rlkd.distill.run import EpochStats
from rlkd.env.curriculum_env import shared_inputs
from rlkd.errors import RlkdError
from rlkd.seeds import block_seeds
from rlkd.stages.base import CHOOSING, EVALUATION_ONLY, RL_ONLY, Stage
from rlkd.tune.pbt import SCHEDULE_FILE, exploit_pairs, explore, population_size, search_space
from rlkd.workdir import atomic_write_text


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
    with progress(total=cfg.distill.epochs, desc="pbt", unit="epoch") as bar:
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
            best = f"{np.nanmax(scores):.2f}" if not all(map(math.isnan, scores)) else "nan"
            bar.set_postfix_str(f"best val_acc {best}")
            bar.update(epoch - bar.n)
            if epoch % t.perturbation_interval == 0 and not all(population.finished):
                for loser, winner in exploit_pairs(scores):
                    print(f"pbt: epoch {epoch}: member {loser} (val {scores[loser]:.2f}) takes member {winner}'s "
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


STAGE = Stage(
    "pbt", run_pbt,
    "baseline: Population Based Training of the curriculum (difficulty, fraction) over KD runs; "
    "writes the best member's schedule.json for `rlkd evaluate --pbt`",
    outputs=(SCHEDULE_FILE,),
    depends=CHOOSING, ignores=(*EVALUATION_ONLY, *RL_ONLY),
)
