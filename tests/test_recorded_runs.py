"""Behaviour kept bit-identical across refactors: `rlkd distill` and a small `rlkd evaluate` on the session's
teacher and shards give exactly the numbers rlkd 0.1.0 (commit 4a62101) recorded for the same config and seeds
on this machine's CPU build of torch (every per-epoch accuracy, every row's per-seed val and test accuracy and
which test examples each run got right). A change that moves any of them is a change in behaviour: say so in
CHANGELOG.md and record the new values."""

import json
from pathlib import Path

import pytest

from rlkd.config import load_config
from rlkd.stages import STAGES, execute
from tests.conftest import run_overrides

RECORDED = json.loads((Path(__file__).parent / "fixtures" / "rlkd_0.1" / "recorded_runs.json").read_text())
POLICY = Path(__file__).parent / "fixtures" / "rlkd_0.1" / "policy"

pytestmark = pytest.mark.slow


def test_distill_and_evaluate_reproduce_the_recorded_runs(tmp_path, teacher_dir, shards_dir):
    base = run_overrides(teacher_dir, shards_dir) + ["distill.epochs=3"]
    execute(STAGES["distill"], load_config(None, base + ["curriculum.sampler=adaptive"]), tmp_path / "distill")
    metrics = json.loads((tmp_path / "distill" / "metrics.json").read_text())
    assert {k: v for k, v in metrics.items() if "acc" in k or "loss" in k} == RECORDED["distill"]
    with pytest.warns(UserWarning, match="made by an older rlkd"):
        execute(STAGES["evaluate"], load_config(None, base + [f"ppo.checkpoint={POLICY}", "env.eval_seeds=2",
                                                              "tune.tuned_baseline=false"]), tmp_path / "evaluate")
    runs = json.loads((tmp_path / "evaluate" / "runs.json").read_text())
    got = {name: [[r["seed"], r["val_acc_last_epoch"], r["test_acc_last_epoch"], r["test_correct"]] for r in rs]
           for name, rs in sorted(runs.items()) if isinstance(rs, list)}
    assert got.keys() == RECORDED["evaluate"].keys()
    for name in got:
        assert got[name] == RECORDED["evaluate"][name], name
