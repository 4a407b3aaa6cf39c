"""The small summary JSON an evaluation leaves (`summary.json`), which docs/results.md and README's headline are
generated from (scripts/write_results.py): run folders are not committed, these summaries are.

A summary holds only what a claim needs: the commit and command, the seed ranges, every row's mean on both
splits with its tuning budget, each policy − control difference with its interval on both splits and its
noise label, the A/A floor, the recommendation, and the limits that were not varied.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Optional

from rlkd.config import Config

SUMMARY_FILE = "summary.json"
SUMMARY_VERSION = 1
LIMITS = "one teacher, one data split, one student architecture"


def git_commit(root: Path) -> Optional[str]:
    """The checkout's commit (with "-dirty" if it has uncommitted changes outside docs/), or None outside a git
    checkout. Changes to docs/ (the evidence a benchmark is writing, say) do not change what ran."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                                check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)docs"],
                               cwd=root, capture_output=True, text=True, check=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("-dirty" if dirty else "")


def _interval(summary: dict) -> dict:
    return {key: summary[key] for key in ("mean", "ci_low", "ci_high", "wins", "n")}


def evaluation_summary(cfg: Config, report: dict, seed_range: dict, checkpoints: list[str],
                       command: str) -> dict:
    """The summary of one `rlkd evaluate` (its metrics as `write_report` returns them)."""
    return {
        "version": SUMMARY_VERSION, "commit": git_commit(Path(__file__).resolve().parent), "command": command,
        "seed_range": seed_range, "seeds": report["seeds"], "ppo_runs": len(checkpoints),
        "split_note": "test: held out, never used for a choice; val: chose every tuned setting, and the policy's "
                      "reward read it every epoch (optimistic for the policy)",
        "epoch": "last", "limits": LIMITS, "budget": cfg.env.budget, "label_noise": cfg.data.label_noise.rate,
        "rows": {name: {"test": report["test_acc_last_epoch"][name], "val": report["val_acc_last_epoch"][name],
                        "tuning": report["tuning_budgets"][name]} for name in report["test_acc_last_epoch"]},
        "noise_floor": None if report["noise_floor"] is None else
        {split: _interval(report["noise_floor"][split]) for split in ("test", "val")},
        "policy_minus_control": {name: {"test": _interval(v["test"]), "val": _interval(v["val"]),
                                        "test_vs_noise": v["test_vs_noise"]}
                                 for name, v in report["policy_minus_control"].items()},
        "pooled_policy_minus_control": None if not report.get("pooled_policy_minus_control") else
        {name: {"test": _interval(v["test"]), "val": _interval(v["val"]),
                "test_vs_noise": v["test_vs_noise"]}
         for name, v in report["pooled_policy_minus_control"].items()},
        "recommendation": {**{k: report["recommendation"][k] for k in ("row", "chosen_on", "versus")},
                           "test": _interval(report["recommendation"]["test"]),
                           "val": _interval(report["recommendation"]["val"])},
    }
