"""Behaviour kept bit-identical across refactors: `rlkd distill` and a small `rlkd evaluate` on the session's
teacher and shards give exactly the numbers rlkd 0.1.0 (commit 4a62101) recorded for the same config and seeds
on this machine (every per-epoch accuracy, every row's per-seed val and test accuracy and which test examples
each run got right). Float kernels differ between CPUs, so the recordings are kept per machine signature and made
by the 0.1.0 code itself (tests/fixtures/rlkd_0.1/record.py says how). A change that moves any of them is a
change in behaviour: say so in CHANGELOG.md."""

import importlib.util
import json
from pathlib import Path

import pytest

from rlkd.config import load_config
from rlkd.stages import STAGES, execute
from tests.conftest import run_overrides
from tests.test_config_package import reexported_old_policy

FIXTURE = Path(__file__).parent / "fixtures" / "rlkd_0.1"
_spec = importlib.util.spec_from_file_location("record", FIXTURE / "record.py")
record = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(record)


def recorded_here() -> dict:
    """0.1.0's recording for this machine; a machine without one fails, saying how to record it."""
    here = record.machine()
    found = [e for e in json.loads((FIXTURE / "recorded_runs.json").read_text()) if e["machine"] == here]
    assert found, (f"no recording of rlkd 0.1.0 for this machine ({here}): make one with the 0.1.0 code as "
                   f"{FIXTURE / 'record.py'} says, check this test passes with it, and commit it")
    return found[0]

pytestmark = pytest.mark.slow


def test_distill_and_evaluate_reproduce_the_recorded_runs(tmp_path, teacher_dir, shards_dir):
    expected = recorded_here()
    base = run_overrides(teacher_dir, shards_dir) + ["distill.epochs=3"]
    execute(STAGES["distill"], load_config(None, base + ["curriculum.sampler=adaptive"]), tmp_path / "distill")
    policy = reexported_old_policy(tmp_path / "policy")
    with pytest.warns(UserWarning, match="made by an older rlkd"):
        # 0.1.0 had no pretrained row
        execute(STAGES["evaluate"], load_config(None, base + [f"ppo.checkpoint={policy}", "env.eval_seeds=2",
                                                              "tune.tuned_baseline=false", "ppo.pretrained=null"]),
                tmp_path / "evaluate")
    got = record.outcomes(json.loads((tmp_path / "distill" / "metrics.json").read_text()),
                          json.loads((tmp_path / "evaluate" / "runs.json").read_text()))
    assert got["distill"] == expected["distill"]
    assert got["evaluate"].keys() == expected["evaluate"].keys()
    for name in got["evaluate"]:
        assert got["evaluate"][name] == expected["evaluate"][name], name
