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

from rlkd.config import Config, proxy_config, with_overrides
from rlkd.curriculum.actions import EpochAction
from rlkd.curriculum.policies import (ReplayActions, ReplayFractions, ReplaySchedule, baseline_policies, load_policy,
                                      mean_actions)
from rlkd.distill.inputs import teacher_files
from rlkd.env.curriculum_env import shared_inputs
from rlkd.env.episode import PolicyRun
from rlkd.errors import ConfigError
from rlkd.models import read_metadata
from rlkd.reports.apply import policy_checkpoint
from rlkd.reports.grid import run_grid
from rlkd.reports.plots import line_plot
from rlkd.reports.stats import format_paired, mean_std, paired_summary

EVAL_SEED_BASE = 10_000  # evaluation runs use seeds no training episode is likely to draw


PBT_ROW = '{"difficulty": in [0, 1], "fraction": in (0, 1] or null, "temperature": > 0 or null}'


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_pbt_row(row) -> bool:
    if not isinstance(row, dict):
        return False
    fraction, temperature = row.get("fraction"), row.get("temperature")
    return (_is_number(row.get("difficulty")) and 0 <= row["difficulty"] <= 1
            and (fraction is None or (_is_number(fraction) and 0 < fraction <= 1))
            and (temperature is None or (_is_number(temperature) and temperature > 0)))


def load_pbt_schedule(path: str) -> list[dict]:
    """The schedule.json of `rlkd pbt`, checked before any run: found bad after the policy's runs, it wastes them."""
    where, fix = f"tune.pbt_schedule: {path}", "pass --pbt the schedule.json that `rlkd pbt` wrote"
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


def run_evaluate(cfg: Config, out: Path) -> dict:
    pbt_schedule = load_pbt_schedule(cfg.tune.pbt_schedule) if cfg.tune.pbt_schedule else None
    n = cfg.env.eval_seeds
    policy = load_policy(policy_checkpoint(cfg))
    shared_inputs(cfg)  # a bad data set or shard is one clear error here, before any run
    seed_list = [EVAL_SEED_BASE + s for s in range(n)]
    # every method x seed run trains in populations of resources.population_size (rlkd.reports.grid)
    policy_runs, populations = run_grid(cfg, [PolicyRun(cfg, policy, s) for s in seed_list], "evaluate: policy")
    results: dict[str, list[dict]] = {"policy": policy_runs}
    _print_method("policy", results["policy"])
    policy_actions = mean_actions([[row["action"] for row in r["trajectory"]] for r in results["policy"]])
    sizes = [[row.get("fraction", 1.0) for row in r["trajectory"]] for r in results["policy"]]
    # (name, config overrides, one policy per seed): the same-size control replays each seed's own sizes
    controls = [("random (policy's sizes)", [], [ReplayFractions("random (policy's sizes)", f) for f in sizes])]
    shared = baseline_policies(cfg.env.budget, cfg.distill.mode, teacher_labels(teacher_files(cfg.teacher) or []))
    shared.append(("open-loop replay (policy's mean action)", [],
                   ReplayActions("open-loop replay (policy's mean action)", policy_actions)))
    if pbt_schedule is not None:  # the PBT-tuned schedule from `rlkd pbt`
        shared.append(("pbt schedule", [], ReplaySchedule("pbt schedule", pbt_schedule)))
    controls += [(name, overrides, [control] * n) for name, overrides, control in shared]
    grid = [PolicyRun(with_overrides(cfg, overrides), p, s)
            for _, overrides, per_seed in controls for p, s in zip(per_seed, seed_list)]
    done, more = run_grid(cfg, grid, "evaluate: controls")
    for i, (name, _, _) in enumerate(controls):
        results[name] = done[i * n:(i + 1) * n]
        _print_method(name, results[name])
    report = write_report(out, results, policy_actions, cfg, n)
    return {"report": str(out / "report.md"), "seeds": seed_list, "populations": populations + more, **report}


def _print_method(name: str, runs: list[dict]) -> None:
    print(f"evaluate: {name:<40} test_acc (last epoch) {mean_std([r['test_acc_last_epoch'] for r in runs])}   "
          f"samples seen {statistics.mean(r['samples_seen'] for r in runs):.0f}", flush=True)


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
    kd = (f"chosen on val by `rlkd recipe` over {t.recipe_trials} trials ({t.recipe_epochs} KD epochs)"
          if t.recipe_trials else "the config's own, not searched (no `rlkd recipe` stage)")
    return (f"Tuning budget: KD's recipe ({recipe}) was {kd}; one PPO run samples at least "
            f"{p.iterations} × {p.episodes_per_batch} {'proxy ' if cfg.env.proxy else ''}episodes of up to "
            f"{episode_epochs} epochs ({p.iterations * p.episodes_per_batch * episode_epochs} KD epochs).")


KD_REFERENCE = "kd (all data)"  # the full-budget control of baseline_policies


def rl_cost_line(cfg: Config, seen: dict[str, float], val: dict[str, float]) -> Optional[str]:
    """PPO's cost in target runs beside what the policy saves per run, when `rlkd train`'s metrics.json sits beside
    the policy checkpoint (OUT/checkpoint -> OUT/metrics.json): learning a curriculum pays only over many runs.

    Samples saved count only when the policy is at least as accurate on val (mean) as the full-budget reference:
    a run that sees half the samples and learns less has saved nothing."""
    try:
        cost = json.loads((Path(policy_checkpoint(cfg)).parent / "metrics.json").read_text())["rl_cost"]
        runs, target = float(cost["target_run_equivalents"]), float(cost["target_run_samples"])
        episodes = f"{cost['episodes']} {'proxy ' if cost.get('proxy') else ''}episodes"
    except (OSError, ValueError, KeyError, TypeError):  # no train stage beside it (tune, a copied checkpoint)
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


def write_report(out: Path, results: dict[str, list[dict]], policy_actions: list[EpochAction], cfg: Config,
                 n: int) -> dict:
    test = {k: [r["test_acc_last_epoch"] for r in v] for k, v in results.items()}
    val = {k: [r["val_acc_last_epoch"] for r in v] for k, v in results.items()}
    seen = {k: statistics.mean(r["samples_seen"] for r in v) for k, v in results.items()}
    controls = [k for k in results if k != "policy"]
    versus = {k: {"test": paired_summary(test["policy"], test[k]), "val": paired_summary(val["policy"], val[k]),
                  "samples_seen": seen[k], "policy_samples_seen": seen["policy"]} for k in controls}
    cheaper = [k for k in controls if seen[k] <= seen["policy"] + 1e-9]
    best_cheaper = max(cheaper, key=lambda k: statistics.mean(test[k])) if cheaper else None
    budget = cfg.env.budget
    windows = "" if budget < 1.0 else "; the windows at fraction = budget would be KD on all data again: not run"
    rl_cost = rl_cost_line(cfg, seen, {k: statistics.mean(v) for k, v in val.items()})
    lines = [f"# Curriculum evaluation ({n} seeds, the same for every method)", "",
             f"{cfg.distill.epochs} epochs; student {cfg.student.arch}; loss {cfg.distill.mode} unless noted. "
             f"Every control runs at the policy's budget (env.budget = {budget:g}) except **kd (all data)**, "
             f"the reference at the full budget{windows}.", "", kd_tuning_budget(cfg), "",
             *([rl_cost, ""] if rl_cost else []),
             "| method | test acc, last epoch (mean ± std) | val acc, last epoch (mean ± std) "
             "| samples seen (mean) |", "|---|---|---|---|"]
    lines += [f"| {k} | {mean_std(test[k])} | {mean_std(val[k])} | {seen[k]:.0f} |" for k in results]
    lines += ["", f"## Policy − control, paired over the same {n} seeds, at the last epoch", "",
              "Each cell: mean of the per-seed differences policy − control ± their std [95% t confidence interval "
              "of the mean] and wins k/n (seeds where the policy was better). **Test** is the held-out split, never "
              "used for training or selection; **val** is the split the reward saw. A difference is supported by "
              "these seeds only where its interval excludes 0.", "",
              "| control | samples seen: control / policy | test acc, last epoch: policy − control "
              "| val acc, last epoch: policy − control |", "|---|---|---|---|"]
    lines += [f"| {k} | {seen[k]:.0f} / {seen['policy']:.0f} | {format_paired(versus[k]['test'])} "
              f"| {format_paired(versus[k]['val'])} |" for k in controls]
    lines += ["", f"Best control that saw no more samples than the policy: {best_cheaper} ({seen[best_cheaper]:.0f})"
              if best_cheaper else "No control saw as few samples as the policy."]
    lines += ["", "## The policy's mean action per epoch (what the open-loop replay replays)", ""]
    lines += action_table(policy_actions)
    lines += ["", "![difficulty](difficulty.png)", "![val accuracy](val_acc.png)", ""]
    (out / "report.md").write_text("\n".join(lines))
    line_plot(out / "difficulty.png", {f"seed {r['seed']}": [row["action"]["difficulty"] for row in r["trajectory"]]
                                       for r in results["policy"]}, "policy difficulty per epoch", "epoch", "difficulty")
    line_plot(out / "val_acc.png", {k: [statistics.mean(r["trajectory"][e]["val_acc"] for r in v
                                                        if e < len(r["trajectory"]) and "val_acc" in r["trajectory"][e])
                                        for e in range(min(len(r["trajectory"]) for r in v))]
                                    for k, v in results.items()}, "val accuracy (mean over seeds)", "epoch", "val acc (%)")
    (out / "runs.json").write_text(json.dumps(results, indent=1))
    return {"test_acc_last_epoch": {k: statistics.mean(v) for k, v in test.items()},
            "val_acc_last_epoch": {k: statistics.mean(v) for k, v in val.items()}, "samples_seen": seen,
            "policy_minus_control": versus, "best_baseline_with_no_more_samples": best_cheaper,
            "policy_mean_action": [asdict(a) for a in policy_actions]}
