"""`rlkd evaluate`: the learned policy beside every baseline, on the same seeds, on **test**.

This is the only place the test split is used for a comparison; nothing here
feeds back into training or checkpoint selection.
"""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

from rlkd.config import Config, with_overrides
from rlkd.curriculum.policies import ReplayFractions, ReplaySchedule, baseline_policies, load_policy
from rlkd.distill.inputs import load_run_inputs
from rlkd.env.episode import run_policy
from rlkd.errors import ConfigError
from rlkd.reports.apply import policy_checkpoint
from rlkd.reports.plots import line_plot

EVAL_SEED_BASE = 10_000  # evaluation runs use seeds no training episode is likely to draw


def mean_std(xs: list[float]) -> str:
    return f"{statistics.mean(xs):.2f} ± {statistics.stdev(xs) if len(xs) > 1 else 0.0:.2f}"


def paired(a: list[float], b: list[float]) -> str:
    """Mean ± std of the per-seed differences a - b, and (seeds where a > b / seeds)."""
    d = [x - y for x, y in zip(a, b)]
    return f"{mean_std(d)} ({sum(x > 0 for x in d)}/{len(d)})"


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


def run_evaluate(cfg: Config, out: Path) -> dict:
    pbt_schedule = load_pbt_schedule(cfg.tune.pbt_schedule) if cfg.tune.pbt_schedule else None
    n = cfg.env.eval_seeds
    policy = load_policy(policy_checkpoint(cfg))
    data, shards = load_run_inputs(cfg)
    seed_list = [EVAL_SEED_BASE + s for s in range(n)]
    results: dict[str, list[dict]] = {"policy": [run_policy(cfg, policy, s, data, shards) for s in seed_list]}
    print(f"evaluate: policy  test_acc (last epoch) {mean_std([r['test_acc_last_epoch'] for r in results['policy']])}")
    replay = [[row.get("fraction", 1.0) for row in r["trajectory"]] for r in results["policy"]]
    results["random (policy's sizes)"] = [run_policy(cfg, ReplayFractions("random", f), s, data, shards)
                                          for s, f in zip(seed_list, replay)]
    baselines = baseline_policies()
    if pbt_schedule is not None:  # the PBT-tuned schedule from `rlkd pbt`
        baselines.append(("pbt schedule", [], ReplaySchedule("pbt schedule", pbt_schedule)))
    for name, overrides, baseline in baselines:
        results[name] = [run_policy(with_overrides(cfg, overrides), baseline, s, data, shards) for s in seed_list]
        print(f"evaluate: {name:<24} test_acc (last epoch) {mean_std([r['test_acc_last_epoch'] for r in results[name]])}")
    report = write_report(out, results, cfg, n)
    return {"report": str(out / "report.md"), "seeds": seed_list, **report}


def write_report(out: Path, results: dict[str, list[dict]], cfg: Config, n: int) -> dict:
    test = {k: [r["test_acc_last_epoch"] for r in v] for k, v in results.items()}
    seen = {k: statistics.mean(r["samples_seen"] for r in v) for k, v in results.items()}
    policy_seen = seen["policy"]
    cheaper = [k for k in results if k not in ("policy",) and seen[k] <= policy_seen + 1e-9]
    best_cheaper = max(cheaper, key=lambda k: statistics.mean(test[k])) if cheaper else None
    lines = [f"# Curriculum evaluation ({n} seeds, the same for every method)", "",
             f"Test accuracy at the **last epoch** on the **test** split (never used for training or selection); "
             f"{cfg.distill.epochs} epochs; student {cfg.student.arch}; loss {cfg.distill.mode} unless noted.", "",
             "| method | test acc, last epoch (mean ± std) | samples seen (mean) | val acc, last epoch |",
             "|---|---|---|---|"]
    for k in results:
        val = [r["val_acc_last_epoch"] for r in results[k]]
        lines.append(f"| {k} | {mean_std(test[k])} | {seen[k]:.0f} | {mean_std(val)} |")
    lines += ["", "## Paired differences of the policy (test, last epoch; k/n = seeds where the policy was better)", "",
              f"- vs KD on all data: {paired(test['policy'], test['kd (all data)'])}"]
    if best_cheaper:
        lines.append(f"- vs the best baseline that saw no more samples than the policy ({best_cheaper}, "
                     f"{seen[best_cheaper]:.0f} samples): {paired(test['policy'], test[best_cheaper])}")
    else:
        lines.append("- no baseline saw as few samples as the policy")
    epochs = max(len(r["trajectory"]) for r in results["policy"])
    mean_action = {key: [statistics.mean(r["trajectory"][e]["action"][key] or 0.0 for r in results["policy"]
                                         if e < len(r["trajectory"])) for e in range(epochs)]
                   for key in ("difficulty",)}
    mean_fraction = [statistics.mean(r["trajectory"][e].get("fraction", 1.0) for r in results["policy"]
                                     if e < len(r["trajectory"])) for e in range(epochs)]
    lines += ["", "## The policy's mean action per epoch", "", "| epoch | difficulty | fraction |", "|---|---|---|"]
    lines += [f"| {e + 1} | {mean_action['difficulty'][e]:.3f} | {mean_fraction[e]:.3f} |" for e in range(epochs)]
    lines += ["", "![difficulty](difficulty.png)", "![val accuracy](val_acc.png)", ""]
    (out / "report.md").write_text("\n".join(lines))
    line_plot(out / "difficulty.png", {f"seed {r['seed']}": [row["action"]["difficulty"] for row in r["trajectory"]]
                                       for r in results["policy"]}, "policy difficulty per epoch", "epoch", "difficulty")
    line_plot(out / "val_acc.png", {k: [statistics.mean(r["trajectory"][e]["val_acc"] for r in v
                                                        if e < len(r["trajectory"]) and "val_acc" in r["trajectory"][e])
                                        for e in range(min(len(r["trajectory"]) for r in v))]
                                    for k, v in results.items()}, "val accuracy (mean over seeds)", "epoch", "val acc (%)")
    (out / "runs.json").write_text(json.dumps(results, indent=1))
    return {"test_acc_last_epoch": {k: statistics.mean(v) for k, v in test.items()}, "samples_seen": seen,
            "best_baseline_with_no_more_samples": best_cheaper}
