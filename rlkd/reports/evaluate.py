"""`rlkd evaluate`: the learned policy beside every baseline, on the same seeds, on **test**.

This is the only place the test split is used for a comparison; nothing here
feeds back into training or checkpoint selection.
"""

from __future__ import annotations

import json
import math
import os
import statistics
from dataclasses import asdict, fields
from pathlib import Path
from typing import Optional

import numpy as np

from rlkd.config import Config, proxy_config
from rlkd.curriculum.actions import EpochAction
from rlkd.curriculum.policies import (
    FixedSchedule,
    policy_checkpoint,
)
from rlkd.curriculum.policy_net import POLICY_SPEC
from rlkd.env.curriculum_env import shared_inputs
from rlkd.errors import ConfigError
from rlkd.models import read_metadata
from rlkd.reports.plots import forest_plot, line_plot
from rlkd.reports.stats import (
    CROSSED_METHOD,
    format_paired,
    hierarchical_bootstrap,
    mean_std,
    overlaps,
    paired_bootstrap_examples,
    paired_summary,
    required_seeds,
    two_sided_bootstrap,
)
from rlkd.seeds import range_seeds, refuse_used_seeds
from rlkd.tune.budget_search import ROW as BUDGET_ROW
from rlkd.tune.budget_search import points_cost, read_rl_samples, rl_budget_epochs, tune_at_budget
from rlkd.tune.recipe import recipe_overrides

AA_ROW = "kd (all data), independent order stream"  # the A/A row: KD_REFERENCE again, another shuffle
OWN_ROW = "kd, the config's own recipe"  # the user's starting point, when the recipe stage replaced it
EXAMPLE_BOOTSTRAPS = 2000
TARGET_HALF_WIDTH = 0.75  # points: the 95% half-width of policy − kd on test that env.eval_seeds is sized for
VAL_IS_OPTIMISTIC = ("The policy's val figures are optimistic by construction: its reward reads val accuracy every "
                     "epoch and val accuracy is in its observation. Judge it on test.")

PBT_ROW = ('{"difficulty": in [0, 1], "fraction": in (0, 1] or null, "temperature": > 0 or null, '
           '"alpha": in [0, 1] or null}')


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_pbt_row(row) -> bool:
    if not isinstance(row, dict):
        return False
    fraction, temperature, alpha = row.get("fraction"), row.get("temperature"), row.get("alpha")
    return (_is_number(row.get("difficulty")) and 0 <= row["difficulty"] <= 1
            and (fraction is None or (_is_number(fraction) and 0 < fraction <= 1))
            and (temperature is None or (_is_number(temperature) and temperature > 0))
            and (alpha is None or (_is_number(alpha) and 0 <= alpha <= 1)))


def load_pbt_schedule(path: str) -> list[dict]:
    """The schedule.json of `rlkd pbt`, checked before any run: found bad after the policy's runs, it wastes them."""
    where, fix = f"tune.pbt.schedule: {path}", "pass --pbt the schedule.json that `rlkd pbt` wrote"
    try:
        rows = json.loads(Path(path).read_text())
    except OSError as exc:
        raise ConfigError(f"{where}: cannot be read ({exc.strerror or exc}); {fix}") from exc
    except ValueError as exc:  # JSONDecodeError, or bytes that are not text
        raise ConfigError(f"{where}: not valid JSON ({exc}); {fix}") from exc
    if not isinstance(rows, list) or not rows:
        raise ConfigError(f"{where}: expected a non-empty JSON list with one row per epoch, {PBT_ROW}; "
                          f"got {type(rows).__name__} {str(rows)[:80]}; {fix}")
    for i, row in enumerate(rows):
        if not _is_pbt_row(row):
            raise ConfigError(f"{where}: row {i} is {str(row)[:120]}; expected {PBT_ROW}; {fix}")
    return rows


def teacher_labels(paths: list[str]) -> list[str]:
    """Each teacher as the report's rows name it: its path below the teachers' common folder and the val accuracy
    its checkpoint's metadata records (the teacher stage writes it), so a reader sees which teacher is which."""
    if not paths:
        return []
    root = os.path.commonpath([str(Path(p).parent) for p in paths])
    labels = []
    for path in paths:
        name, val_acc = os.path.relpath(path, root), read_metadata(path).get("val_acc")
        labels.append(name if val_acc is None else f"{name}, val acc {val_acc:.1f}%")
    return labels


def checkpoint_choice_range(checkpoint: str) -> Optional[list[int]]:
    """The seeds.choice range the checkpoint's PPO episodes drew from (its policy.json's config); None for a
    checkpoint from before seed ranges, whose episodes drew from [0, 2^31)."""
    try:
        seeds = json.loads((Path(checkpoint) / POLICY_SPEC).read_text())["rlkd_config"].get("seeds")
    except (OSError, ValueError, KeyError, AttributeError):
        return None
    return seeds.get("choice") if isinstance(seeds, dict) else None


def evaluation_seeds(cfg: Config, checkpoints: list[str]) -> tuple[str, list[int], list[int]]:
    """(range key, range, seeds) evaluate runs on: the first env.eval_seeds of the range seeds.evaluate_on names,
    refused (ConfigError, exit 2) where it shares a seed with what a checkpoint's training or the recipe used."""
    key, bounds = cfg.seeds.evaluation_range()
    used = {"the recipe stage's seeds.choice": cfg.tune.recipe.choice} if cfg.tune.recipe.choice else {}
    for checkpoint in checkpoints:
        trained = checkpoint_choice_range(checkpoint)
        if trained is None:
            print(f"evaluate: {checkpoint} records no seed ranges (made before them): its episodes' seeds were "
                  f"drawn from [0, 2^31), so no evaluation seed can be shown unused by its training", flush=True)
        else:
            used[f"the checkpoint's seeds.choice ({checkpoint})"] = trained
    refuse_used_seeds(key, bounds, used)
    return key, bounds, range_seeds(bounds, cfg.env.eval_seeds, key)


def reference_rows(cfg: Config) -> list[tuple[str, list[str], FixedSchedule]]:
    """The rows every evaluation has besides the baselines: the A/A row (the full-budget KD reference again with
    an independent order stream on the same student seeds: its paired difference is the noise floor), and the
    config's own recipe when the recipe stage replaced it (where it kept it, "kd (all data)" is that row)."""
    rows = [(AA_ROW, ["env.budget=1.0", "distill.order_stream=1"], FixedSchedule(AA_ROW, "full"))]
    if cfg.tune.recipe.replaced:
        rows.append((OWN_ROW, ["env.budget=1.0", *cfg.tune.recipe.replaced], FixedSchedule(OWN_ROW, "full")))
    return rows


def _setting(value) -> str:
    if value is None:
        return "config"
    if isinstance(value, tuple):
        return "/".join(f"{v:.3f}" for v in value)
    return f"{value:.3f}"


def action_table(actions: list[EpochAction]) -> list[str]:
    """The mean action per epoch as markdown: one column per setting the policy chose (None everywhere = config)."""
    names = [f.name for f in fields(EpochAction)
             if f.name != "sampler" and any(getattr(a, f.name) is not None for a in actions)]
    lines = ["| epoch | " + " | ".join(names) + " | sampler |", "|---" * (len(names) + 2) + "|"]
    lines += [f"| {e + 1} | " + " | ".join(_setting(getattr(a, k)) for k in names) + f" | {a.sampler or 'config'} |"
              for e, a in enumerate(actions)]
    return lines


def kd_tuning_budget(cfg: Config) -> str:
    """How much search chose KD's recipe, beside what one PPO run costs: a KD baseline is fair only if tuned too."""
    d, t, p = cfg.distill, cfg.tune, cfg.ppo
    recipe = f"lr {d.lr:g}, temperature {d.temperature:g}, alpha {d.alpha:g}"
    episode_epochs = proxy_config(cfg).distill.epochs
    kd = (f"chosen on val by `rlkd recipe` over {t.recipe.trials} trials ({t.recipe.epochs_trained} KD epochs)"
          if t.recipe.trials else "the config's own, not searched (no `rlkd recipe` stage)")
    return (f"Tuning budget: KD's recipe ({recipe}) was {kd}; one PPO run samples at least "
            f"{p.iterations} × {p.episodes_per_batch} {'proxy ' if cfg.env.proxy else ''}episodes of up to "
            f"{episode_epochs} epochs ({p.iterations * p.episodes_per_batch * episode_epochs} KD epochs).")


KD_REFERENCE = "kd (all data)"  # the full-budget control of baseline_policies


def train_metrics(cfg: Config) -> Optional[dict]:
    """`rlkd train`'s metrics.json beside the policy checkpoint (OUT/checkpoint -> OUT/metrics.json), if any."""
    try:
        return json.loads((Path(policy_checkpoint(cfg)).parent / "metrics.json").read_text())
    except (OSError, ValueError):  # no train stage beside it (tune, a copied checkpoint)
        return None


def tuned_baseline(cfg: Config, out: Path, policy_actions: list[EpochAction]) -> tuple[Optional[dict], str]:
    """(the search's result, or None, and a line for the report): KD tuned with the RL's budget."""
    if not cfg.tune.tuned_baseline:
        return None, f"{BUDGET_ROW}: not run (tune.tuned_baseline is false)."
    rl_samples = read_rl_samples(train_metrics(cfg))
    if cfg.tune.baseline_budget > 0:
        budget, source = cfg.tune.baseline_budget, "tune.baseline_budget"
    elif rl_samples is None:
        return None, (f"{BUDGET_ROW}: not run: the RL's budget is unknown (no `rlkd train` metrics.json beside the "
                      f"checkpoint); set tune.baseline_budget to its KD epochs to run it.")
    else:
        train_size = len(shared_inputs(cfg)[0].train.labels)
        budget = rl_budget_epochs(rl_samples, train_size)
        source = f"the RL's {rl_samples:.0f} training samples / {train_size}, both starting from the recipe"
    if budget < points_cost(cfg):
        return None, (f"{BUDGET_ROW}: not run: its budget of {budget:.0f} KD epochs ({source}) is below the "
                      f"{points_cost(cfg):.0f} its two fixed points (the recipe, the policy's replay) need.")
    result = tune_at_budget(cfg, out, budget, policy_actions)
    return result, (f"{BUDGET_ROW}: {result['trials']} Tune trials spent {result['spent_kd_epochs']:.0f} KD epochs of "
                    f"a budget of {budget:.0f} ({source}), chosen on val (search seeds: seeds.choice's "
                    f"baseline_search block): {result['chosen']['schedule']['shape']} schedule, "
                    f"{' '.join(recipe_overrides(result['chosen']['recipe']))}.")


def rl_cost_line(cfg: Config, seen: dict[str, float], val: dict[str, float]) -> Optional[str]:
    """PPO's cost in target runs beside what the policy saves per run, when `rlkd train`'s metrics.json sits beside
    the policy checkpoint (OUT/checkpoint -> OUT/metrics.json): learning a curriculum pays only over many runs.

    Samples saved count only when the policy is at least as accurate on val (mean) as the full-budget reference:
    a run that sees half the samples and learns less has saved nothing."""
    try:
        cost = train_metrics(cfg)["rl_cost"]
        runs, target = float(cost["target_run_equivalents"]), float(cost["target_run_samples"])
        episodes = f"{cost['episodes']} {'proxy ' if cost.get('proxy') else ''}episodes"
    except (ValueError, KeyError, TypeError):  # no train stage beside it (tune, a copied checkpoint)
        return None
    line = f"RL cost: {episodes} = {runs:.1f} target runs ({cost['samples_seen']} training samples, {target:.0f} a run)"
    if KD_REFERENCE not in seen:
        return line + "."
    gap = val["policy"] - val[KD_REFERENCE]
    if gap < 0:
        return line + (f"; the policy is {-gap:.2f} val points below {KD_REFERENCE}, so it saves no samples at "
                       f"equal accuracy.")
    saved = (seen[KD_REFERENCE] - seen["policy"]) / target
    payback = f", so the RL cost pays back after {runs / saved:.0f} runs" if saved > 0 else ""
    return (line + f"; at no lower val accuracy the policy saves {saved:.2f} target runs per run (samples seen: "
            f"policy {seen['policy']:.0f}, {KD_REFERENCE} {seen[KD_REFERENCE]:.0f}){payback}.")


def own_recipe_row(results: dict) -> str:
    """The row that is the user's starting point: KD with the config's own recipe."""
    return OWN_ROW if OWN_ROW in results else KD_REFERENCE


def noise_label(interval: dict, floor: Optional[dict]) -> str:
    """Whether a paired difference can be told from the A/A noise floor (their 95% intervals overlap or not)."""
    if floor is None or floor["n"] < 2 or interval["n"] < 2:
        return "no A/A floor" if floor is None else "one seed: no interval"
    if overlaps((interval["ci_low"], interval["ci_high"]), (floor["ci_low"], floor["ci_high"])):
        return "indistinguishable from noise"
    return "outside the A/A interval"


def recommendation(means_val: dict[str, float], test: dict[str, list[float]], val: dict[str, list[float]],
                   own: str) -> tuple[str, dict, dict]:
    """(the row to run, its paired difference − own on test, on val): the row with the highest val mean, so a
    user is told which method to run and what it does to the student they would have had."""
    candidates = [k for k in means_val if k != AA_ROW]  # the A/A twin is the reference again, not a method
    best = max(candidates, key=lambda k: (means_val[k], k == own))  # a tie: the starting point
    return best, paired_summary(test[best], test[own]), paired_summary(val[best], val[own])


def changed_epochs(trajectory: list[dict]) -> list[bool]:
    """Epochs where the difficulty changed what was trained: a subset (fraction < 1) or a window share (mix < 1).
    At fraction 1 and mix 1 the difficulty only reorders the samples."""
    return [row.get("fraction", 1.0) < 1.0 or (row["action"].get("mix") or 1.0) < 1.0 for row in trajectory]


POLICY_DERIVED = ("random (policy's sizes)", "open-loop replay (policy's mean action)")


def tuning_budgets(cfg: Config, names: list[str], tuned: Optional[dict], train_size: int) -> dict[str, dict]:
    """Each row's tuning: KD epochs spent choosing it (training samples over the train size), wall time, and the
    split that chose it. None where unknown (a checkpoint without `rlkd train`'s metrics.json)."""
    t = cfg.tune
    recipe = ({"kd_epochs": t.recipe.epochs_trained, "seconds": t.recipe.seconds or None, "chosen_on": "val"}
              if t.recipe.trials
              else {"kd_epochs": 0, "seconds": None, "chosen_on": "none (the config's own recipe)"})
    metrics = train_metrics(cfg)
    rl_samples = read_rl_samples(metrics)
    policy = {"kd_epochs": (None if rl_samples is None
                            else rl_budget_epochs(rl_samples, train_size) + t.recipe.epochs_trained),
              "seconds": None if metrics is None else metrics.get("seconds", 0) + t.recipe.seconds,
              "chosen_on": "val (the reward reads it), from the recipe's"}
    fixed = {"kd_epochs": 0, "seconds": 0.0, "chosen_on": "none (a fixed rule)"}
    rows = {"policy": policy, KD_REFERENCE: recipe, AA_ROW: recipe,
            OWN_ROW: {**fixed, "chosen_on": "none (the config's own recipe)"},
            "pbt schedule": {"kd_epochs": None, "seconds": None, "chosen_on": "val (`rlkd pbt`)"}}
    rows.update({name: {**policy, "chosen_on": "the policy's"} for name in POLICY_DERIVED})
    if tuned is not None:
        rows[BUDGET_ROW] = {"kd_epochs": tuned["spent_kd_epochs"] + t.recipe.epochs_trained,
                            "seconds": tuned["seconds"] + t.recipe.seconds, "chosen_on": "val, from the recipe's"}
    return {name: rows.get(name, fixed) for name in names}


def _budget_cell(value: Optional[float], unit: str) -> str:
    return "unknown" if value is None else f"{value:.0f}{unit}"


def pooled_over_ppo_runs(ppo_runs: list[list[dict]], results: dict[str, list[dict]]) -> dict[str, dict]:
    """Per control (not those built from the first policy's own actions), policy − control pooled over PPO runs x
    seeds on both splits: the hierarchical bootstrap's interval, plus wins and n over every (run, seed)."""
    pooled = {}
    for name, runs in results.items():
        if name == "policy" or name in POLICY_DERIVED:
            continue
        pooled[name] = {}
        for split in ("test", "val"):
            key = f"{split}_acc_last_epoch"
            diffs = [[p[key] - c[key] for p, c in zip(run, runs)] for run in ppo_runs]
            interval = hierarchical_bootstrap(diffs, EXAMPLE_BOOTSTRAPS, crossed=True)  # every run: the same seeds
            pooled[name][split] = {**interval, "wins": sum(d > 0 for run in diffs for d in run),
                                   "n": sum(len(run) for run in diffs)}
    return pooled


def pooled_between_ppo_runs(a: list[list[dict]], b: list[list[dict]]) -> dict[str, dict]:
    """A − B on both splits where each side is several PPO runs on the same seeds (one policy against another):
    both sides' runs and the shared seeds resampled (`two_sided_bootstrap`), plus wins and n over every
    (A run, B run, seed)."""
    seeds = [r["seed"] for r in a[0]]
    if any([r["seed"] for r in run] != seeds for run in a + b):
        raise ValueError("pooled_between_ppo_runs: every PPO run of both sides must run the same seeds, in one order")
    pooled = {}
    for split in ("test", "val"):
        key = f"{split}_acc_last_epoch"
        side_a, side_b = ([[r[key] for r in run] for run in side] for side in (a, b))
        pooled[split] = {**two_sided_bootstrap(side_a, side_b, EXAMPLE_BOOTSTRAPS),
                         "wins": sum(x > y for ra in side_a for rb in side_b for x, y in zip(ra, rb)),
                         "n": len(side_a) * len(side_b) * len(seeds)}
    return pooled


def ppo_run_lines(by_checkpoint: dict[str, list[dict]], results: dict[str, list[dict]], pooled: dict) -> list[str]:
    """The report's section on several PPO runs: each run against the reference, then the pooled intervals."""
    lines = ["## PPO runs (the unit of replication)", "",
             f"{len(by_checkpoint)} PPO runs, each evaluated on the same seeds; the pooled intervals resample PPO "
             f"runs and seeds ({CROSSED_METHOD}). The rows above are the first run's.", "",
             "| PPO run | checkpoint | test (mean) | val (mean) | test: policy − kd (all data) |",
             "|---|---|---|---|---|"]
    for i, (checkpoint, runs) in enumerate(by_checkpoint.items()):
        versus = paired_summary([r["test_acc_last_epoch"] for r in runs],
                                [r["test_acc_last_epoch"] for r in results[KD_REFERENCE]])
        lines.append(f"| {i + 1} | {checkpoint} | {statistics.mean(r['test_acc_last_epoch'] for r in runs):.2f} "
                     f"| {statistics.mean(r['val_acc_last_epoch'] for r in runs):.2f} | {format_paired(versus)} |")
    lines += ["", "| control | pooled test: policy − control [95%] | test vs noise | pooled val [95%] |",
              "|---|---|---|---|"]
    lines += [f"| {name} | {_bootstrap_cell(p['test'])} {p['test']['wins']}/{p['test']['n']} "
              f"| {p['test_vs_noise']} "
              f"| {_bootstrap_cell(p['val'])} |" for name, p in pooled.items()]
    return lines + [""]


def write_report(out: Path, results: dict[str, list[dict]], policy_actions: list[EpochAction], cfg: Config,
                 seed_range: tuple[str, list[int]], budgets: dict[str, dict], tuned_line: str,
                 by_checkpoint: dict[str, list[dict]]) -> dict:
    n = len(results["policy"])
    test = {k: [r["test_acc_last_epoch"] for r in v] for k, v in results.items()}
    val = {k: [r["val_acc_last_epoch"] for r in v] for k, v in results.items()}
    seen = {k: statistics.mean(r["samples_seen"] for r in v) for k, v in results.items()}
    mean_val = {k: statistics.mean(v) for k, v in val.items()}
    controls = [k for k in results if k != "policy"]
    correct = {k: np.array([[c == "1" for c in r["test_correct"]] for r in v], dtype=np.int8)
               for k, v in results.items()}
    versus = {k: {"test": paired_summary(test["policy"], test[k]), "val": paired_summary(val["policy"], val[k]),
                  "test_examples": paired_bootstrap_examples(correct["policy"], correct[k], EXAMPLE_BOOTSTRAPS),
                  "samples_seen": seen[k], "policy_samples_seen": seen["policy"]} for k in controls}
    floor = ({split: paired_summary(acc[KD_REFERENCE], acc[AA_ROW]) for split, acc in (("test", test), ("val", val))}
             if AA_ROW in results and KD_REFERENCE in results else None)
    for k in controls:
        for split in ("test", "val"):
            versus[k][f"{split}_vs_noise"] = noise_label(versus[k][split], floor and floor[split])
    cheaper = [k for k in controls if seen[k] <= seen["policy"] + 1e-9]
    best_cheaper = max(cheaper, key=lambda k: mean_val[k]) if cheaper else None  # chosen on val, never test
    own = own_recipe_row(results)
    pick, pick_test, pick_val = recommendation(mean_val, test, val, own)
    budget = cfg.env.budget
    windows = "" if budget < 1.0 else "; the windows at fraction = budget would be KD on all data again: not run"
    rl_cost = rl_cost_line(cfg, seen, mean_val)
    key, bounds = seed_range
    seeds = [r["seed"] for r in results["policy"]]
    own_note = ("" if own == OWN_ROW else
                f" **{KD_REFERENCE}** is also the config's own recipe (no recipe stage replaced it).")
    lines = [f"# Curriculum evaluation ({n} seeds, the same for every method)", "",
             f"Seeds {seeds[0]}–{seeds[-1]}, the first {n} of {key} {bounds}, which no training episode, recipe "
             f"trial or finalist drew from. Every figure is the **last epoch**'s accuracy; **test** is the held-out "
             f"split, never used for a choice; **val** chose every tuned setting. {VAL_IS_OPTIMISTIC}", "",
             f"{cfg.distill.epochs} epochs; student {cfg.student.arch}; loss {cfg.distill.mode} unless noted. "
             f"Every control runs at the policy's budget (env.budget = {budget:g}) except **{KD_REFERENCE}**, "
             f"the reference at the full budget, its A/A twin and the config's own recipe{windows}.{own_note}", "",
             "## Tuning budgets", "",
             "What choosing each row cost, in KD epochs (training samples over the train size; the policy's "
             "include its proxy episodes and the recipe search it started from) and wall time, and the split "
             "that chose it.", "", "| method | tuning budget (KD epochs) | wall time | chosen on |",
             "|---|---|---|---|",
             *(f"| {k} | {_budget_cell(b['kd_epochs'], '')} | {_budget_cell(b['seconds'], ' s')} | {b['chosen_on']} |"
               for k, b in budgets.items()), "",
             kd_tuning_budget(cfg), "", tuned_line, "", *([rl_cost, ""] if rl_cost else [])]
    if floor is not None:
        lines += ["## Noise floor (A/A)", "",
                  f"{KD_REFERENCE} − {AA_ROW} (the same recipe and student seeds, another sample order): "
                  f"test {format_paired(floor['test'])}, val {format_paired(floor['val'])}. A policy − control "
                  f"difference whose 95% interval overlaps this one is **indistinguishable from noise**.", ""]
    lines += ["## Recommendation (chosen on val among every row)", "",
              f"Run **{pick}**: highest val mean ({mean_val[pick]:.2f})"
              + (" — the policy's val is optimistic, check its test difference" if pick == "policy" else "")
              + f". Against {own} (KD with the config's own "
              f"recipe, the student a user starts from): test {format_paired(pick_test)}, val {format_paired(pick_val)}"
              + ("." if pick != own else " (it is that row)."), "",
              "| method | test acc, last epoch (mean ± std) | val acc, last epoch (mean ± std) "
              "| samples seen (mean) |", "|---|---|---|---|"]
    lines += [f"| {k} | {mean_std(test[k])} | {mean_std(val[k])} | {seen[k]:.0f} |" for k in results]
    lines += ["", f"## Policy − control, paired over the same {n} seeds, at the last epoch", "",
              "Each cell: mean of the per-seed differences policy − control ± their std [95% t confidence interval "
              "of the mean] and wins k/n (seeds where the policy was better). A difference is supported by these "
              "seeds only where its interval excludes 0 and lies outside the A/A interval.", "",
              "The bootstrap column resamples the test examples (one resample for both arms and every seed): its "
              "interval is the test set's finiteness alone, beside the seed interval's seed noise.", "",
              "| control | samples seen: control / policy | test acc, last epoch: policy − control "
              "| test vs noise | test, bootstrap over test examples [95%] | val acc, last epoch: policy − control |",
              "|---|---|---|---|---|---|"]
    lines += [f"| {k} | {seen[k]:.0f} / {seen['policy']:.0f} | {format_paired(versus[k]['test'])} "
              f"| {versus[k]['test_vs_noise']} | {_bootstrap_cell(versus[k]['test_examples'])} "
              f"| {format_paired(versus[k]['val'])} |" for k in controls]
    reference = versus.get(KD_REFERENCE)
    if reference and reference["test"]["n"] > 1:
        std, half = reference["test"]["std"], reference["test"]["ci_high"] - reference["test"]["mean"]
        lines += ["", f"Half-width of policy − {KD_REFERENCE} on test: {half:.2f} points over {n} seeds (sd of the "
                      f"paired differences {std:.2f}); a half-width of {TARGET_HALF_WIDTH} needs "
                      f"{required_seeds(std, TARGET_HALF_WIDTH)} seeds at this sd (env.eval_seeds)."]
    lines += ["", f"Best control (by val) that saw no more samples than the policy: {best_cheaper} "
              f"({seen[best_cheaper]:.0f})" if best_cheaper else "No control saw as few samples as the policy."]
    pooled = pooled_over_ppo_runs(list(by_checkpoint.values()), results) if len(by_checkpoint) > 1 else None
    for p in (pooled or {}).values():
        p["test_vs_noise"] = noise_label({**p["test"], "n": len(by_checkpoint)}, floor and floor["test"])
    if pooled:
        lines += ["", *ppo_run_lines(by_checkpoint, results, pooled)]
    lines += ["", "![policy − control](forest.png)", ""]
    lines += ["## The policy's mean action per epoch (what the open-loop replay replays)", ""]
    lines += action_table(policy_actions)
    changed = {f"seed {r['seed']}": [row["action"]["difficulty"] if used else math.nan
                                     for row, used in zip(r["trajectory"], changed_epochs(r["trajectory"]))]
               for r in results["policy"]}
    drawn = any(math.isfinite(d) for ds in changed.values() for d in ds)
    lines += ["", "![difficulty](difficulty.png)" if drawn else
              "No difficulty plot: in every epoch of every seed the policy trained on all data (fraction 1, mix 1), "
              "where the difficulty only reorders the samples.", "![val accuracy](val_acc.png)", ""]
    (out / "report.md").write_text("\n".join(lines))
    forest_plot(out / "forest.png", [{"label": k, "test": _triple(versus[k]["test"]), "val": _triple(versus[k]["val"])}
                                     for k in controls],
                (floor["test"]["ci_low"], floor["test"]["ci_high"]) if floor and floor["test"]["n"] > 1 else None)
    if drawn:
        line_plot(out / "difficulty.png", changed, "policy difficulty per epoch (epochs where it chose a subset)",
                  "epoch", "difficulty")
    line_plot(out / "val_acc.png", {k: [statistics.mean(r["trajectory"][e]["val_acc"] for r in v
                                                        if e < len(r["trajectory"]) and "val_acc" in r["trajectory"][e])
                                        for e in range(min(len(r["trajectory"]) for r in v))]
                                    for k, v in results.items()}, "val accuracy (mean over seeds)", "epoch",
              "val acc (%)")
    (out / "runs.json").write_text(json.dumps({**results, **{f"policy, PPO run {i + 1}": runs for i, runs in
                                                             enumerate(list(by_checkpoint.values())[1:], 1)}},
                                              indent=1))
    return {"test_acc_last_epoch": {k: statistics.mean(v) for k, v in test.items()}, "tuning_budgets": budgets,
            "val_acc_last_epoch": mean_val, "samples_seen": seen, "noise_floor": floor,
            "policy_minus_control": versus, "pooled_policy_minus_control": pooled,
            "best_baseline_with_no_more_samples": best_cheaper,
            "recommendation": {"row": pick, "chosen_on": "val", "versus": own, "test": pick_test, "val": pick_val},
            "policy_mean_action": [asdict(a) for a in policy_actions]}


def _bootstrap_cell(summary: dict) -> str:
    return f"{summary['mean']:+.2f} [{summary['ci_low']:+.2f}, {summary['ci_high']:+.2f}]"


def _triple(summary: dict) -> tuple[float, float, float]:
    return summary["mean"], summary["ci_low"], summary["ci_high"]
