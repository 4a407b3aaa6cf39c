#!/usr/bin/env python
"""Does the pretrained policy save the tuning? The zero-shot policies against KD after `rlkd recipe`.

For each left-out task that `benchmarks/zero_shot.py` evaluated, this runs the recipe stage on the task (its own
budget: tune.recipe's trials on the choice seeds, chosen on val, as the pipeline runs it) and then KD with the chosen
recipe on that evaluation's seeds. Each seed's KD run is paired with the same seed's runs of the zero-shot policies,
which acted around the config's own recipe (no tuning at all), and the differences are pooled over the PPO runs as
`rlkd evaluate` pools them (crossed two-stage bootstrap). Issue 20's target is non-inferiority: the interval's
lower bound above -0.5 with a half-width of at most 0.75, on test.

    python benchmarks/zero_shot_recipe.py --leave-out tabular --evidence

reads runs/zero_shot/<left-out>/evaluate/<task>/ (zero_shot.py's output), writes <that folder>/../../recipe/<task>/
and, with --evidence, docs/evidence/zero_shot_recipe/<left-out>/<task>.json, from which `scripts/write_results.py`
writes docs/results.md's table.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path
from statistics import mean

from rlkd.config import load_config, with_overrides
from rlkd.curriculum.policies import baseline_policies
from rlkd.distill.inputs import teacher_files
from rlkd.env.episode import PolicyRun
from rlkd.models.imported import import_from_working_dir
from rlkd.reports.evaluate import pooled_over_ppo_runs, teacher_labels
from rlkd.reports.results_docs import REPLAY, ZERO_SHOT_RECIPE_DIR, noninferior, policy_ahead, zero_shot_recipe_block
from rlkd.reports.summary import SUMMARY_FILE, git_commit
from rlkd.stages import STAGES, already_done, execute
from rlkd.stages.recipe import RECIPE_FILE, recipe_wiring
from rlkd.tune.grid import run_grid
from rlkd.workdir import write_json

ROOT = Path(__file__).resolve().parent.parent
SPLITS = ("test", "val")


def runs_on_seeds(cfg, policy, seeds: list[int], what: str, cached: Path, key: dict) -> list[dict]:
    """Each seed's run of `policy` under `cfg` (seed, test and val last epoch), kept in `cached` for the same key."""
    if cached.is_file():
        saved = json.loads(cached.read_text())
        if saved["seeds"] == seeds and saved.get("key") == key:
            return saved["runs"]
    runs, _ = run_grid(cfg, [PolicyRun(cfg, policy, s) for s in seeds], what)
    runs = [{k: r[k] for k in ("seed", "test_acc_last_epoch", "val_acc_last_epoch")} for r in runs]
    cached.parent.mkdir(parents=True, exist_ok=True)
    write_json(cached, {"seeds": seeds, "key": key, "runs": runs})
    return runs


def kd_after_recipe(cfg, folder: Path, seeds: list[int]) -> tuple[list[dict], dict]:
    """(KD's runs with the recipe the recipe stage chose on this task, its recipe.json with the stage's seconds)."""
    recipe_dir = folder / "recipe"
    if not already_done(STAGES["recipe"], cfg, recipe_dir):
        execute(STAGES["recipe"], cfg, recipe_dir)
    wiring = recipe_wiring(recipe_dir)
    tuned = with_overrides(cfg, wiring)
    name, overrides, kd = baseline_policies(tuned.env.budget, tuned.distill.mode,
                                            teacher_labels(teacher_files(tuned.teacher) or []))[0]
    assert name == "kd (all data)", name
    runs = runs_on_seeds(with_overrides(tuned, overrides), kd, seeds, "kd after rlkd recipe", folder / "kd_runs.json",
                         {"wiring": wiring})
    return runs, chosen(recipe_dir)


def evaluated_tasks(out: Path, tasks: str, leave_out: str) -> list[Path]:
    """The folders of zero_shot.py's evaluations of the left-out family (those named in `tasks`, or all)."""
    wanted = {t for t in tasks.split(",") if t}
    folders = sorted(p for p in (out / "evaluate").glob("*") if (p / SUMMARY_FILE).is_file()
                     and (not wanted or p.name in wanted))
    if not folders:
        sys.exit(f"{Path(sys.argv[0]).name}: no evaluated task under {out / 'evaluate'}: run benchmarks/zero_shot.py "
                 f"--leave-out {leave_out} first")
    return folders


def zero_shot_runs(evaluated: Path) -> tuple[object, dict, dict, list[list[dict]]]:
    """(the config the zero-shot evaluation ran, its summary, its runs per row, the runs of each PPO run's policy)."""
    cfg = load_config(evaluated / "config.yaml")
    summary = json.loads((evaluated / SUMMARY_FILE).read_text())
    runs = json.loads((evaluated / "runs.json").read_text())
    policies = [runs["policy"]] + [runs[f"policy, PPO run {i}"] for i in range(2, summary["ppo_runs"] + 1)]
    return cfg, summary, runs, policies


def split_means(ppo_runs: list[list[dict]]) -> dict[str, float]:
    """Last-epoch accuracy per split, the mean over PPO runs of each run's mean over seeds."""
    return {s: mean([mean([r[f"{s}_acc_last_epoch"] for r in run]) for run in ppo_runs]) for s in SPLITS}


def against_baseline(kind: str, task: str, summary: dict, runs: dict, policies: list[list[dict]],
                     baseline: list[list[dict]], policy_minus_baseline: dict, about: dict,
                     evidence: Path | None) -> dict:
    """One left-out task's evidence against one of ZERO_SHOT_BASELINES (`baseline`: its runs, one list per PPO run
    or one list for a schedule; `about`: the command, commit and what the baseline cost), written to
    `evidence`/<task>.json when asked, and its line printed."""
    result = {
        "version": 1, "kind": kind, **about, "task": task, "seed_range": summary["seed_range"],
        "seeds": summary["seeds"], "ppo_runs": summary["ppo_runs"], "epoch": "last",
        "zero_shot_commit": summary["commit"],
        "policy": split_means(policies), "baseline": split_means(baseline),
        "policy_minus_baseline": policy_minus_baseline,
        "baseline_minus_kd": pooled_over_ppo_runs(baseline, {"kd": runs["kd (all data)"]})["kd"],
        "policy_minus_replay": summary["policy_minus_control"][REPLAY],
    }
    result["policy_ahead"] = policy_ahead(result)
    if evidence is not None:
        evidence.mkdir(parents=True, exist_ok=True)
        write_json(evidence / f"{task}.json", result)
    d = result["policy_minus_baseline"]["test"]
    print(f"{task}: policy - {kind} {d['mean']:+.2f} [{d['ci_low']:+.2f}, {d['ci_high']:+.2f}] test", flush=True)
    return result


def chosen(recipe_dir: Path) -> dict:
    metrics = json.loads((recipe_dir / "metrics.json").read_text())
    return {**json.loads((recipe_dir / RECIPE_FILE).read_text()), "seconds": metrics["seconds"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leave-out", required=True, help="the family zero_shot.py left out")
    parser.add_argument("--workdir", default="runs/zero_shot", help="zero_shot.py's --workdir")
    parser.add_argument("--tasks", default="", help="comma-separated left-out tasks (default: every one evaluated)")
    parser.add_argument("--evidence", action="store_true",
                        help=f"write each task's comparison to {ZERO_SHOT_RECIPE_DIR}/<left-out>/<task>.json")
    args = parser.parse_args()
    import_from_working_dir()  # the families' loaders by import path (examples.*), as `rlkd` resolves them
    out = Path(args.workdir).resolve() / args.leave_out
    folders = evaluated_tasks(out, args.tasks, args.leave_out)
    command = shlex.join(["zero_shot_recipe.py", *sys.argv[1:]])
    commit = git_commit(ROOT)
    results = {}
    for evaluated in folders:
        start = time.perf_counter()
        cfg, summary, runs, policies = zero_shot_runs(evaluated)
        kd, recipe = kd_after_recipe(cfg, out / "recipe" / evaluated.name, summary["seeds"])
        result = {
            "version": 1, "commit": commit, "command": command, "task": evaluated.name,
            "seed_range": summary["seed_range"], "seeds": summary["seeds"], "ppo_runs": summary["ppo_runs"],
            "epoch": "last", "zero_shot_commit": summary["commit"],
            "recipe": {"overrides": recipe["overrides"], "trials": recipe["trials"],
                       "epochs_trained": recipe["epochs_trained"],
                       "target_runs": recipe["epochs_trained"] / cfg.distill.epochs,
                       "seconds": recipe["seconds"], "chosen_on": "val, seeds.choice",
                       "seed_ranges": recipe.get("seed_ranges", {})},
            "policy": split_means(policies),
            "kd_after_recipe": {s: mean([r[f"{s}_acc_last_epoch"] for r in kd]) for s in SPLITS},
            "policy_minus_kd_after_recipe": pooled_over_ppo_runs(policies, {"kd after recipe": kd})["kd after recipe"],
            "kd_after_recipe_minus_kd": pooled_over_ppo_runs([kd], {"kd": runs["kd (all data)"]})["kd"],
        }
        result["noninferior"] = noninferior(result)
        if args.evidence:
            (ROOT / ZERO_SHOT_RECIPE_DIR / args.leave_out).mkdir(parents=True, exist_ok=True)
            write_json(ROOT / ZERO_SHOT_RECIPE_DIR / args.leave_out / f"{evaluated.name}.json", result)
        results[evaluated.name] = result
        d = result["policy_minus_kd_after_recipe"]["test"]
        print(f"{evaluated.name}: policy - kd after recipe {d['mean']:+.2f} [{d['ci_low']:+.2f}, {d['ci_high']:+.2f}] "
              f"test ({(time.perf_counter() - start) / 60:.1f} min)", flush=True)
    print(zero_shot_recipe_block({args.leave_out: results}))


if __name__ == "__main__":
    main()
