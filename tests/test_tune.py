"""Ray Tune over PPO on a tiny digits episode, in the session's real local Ray; Tune prints short lines."""

import json
import re

import pytest

from rlkd.cli import main
from rlkd.curriculum.policies import load_policy
from tests.conftest import run_overrides

TINY = ["distill.epochs=2", "ppo.iterations=2", "ppo.episodes_per_batch=1", "ppo.minibatch_size=2", "ppo.num_epochs=1",
        "ppo.hidden=[8]", "resources.num_env_runners=0", "ppo.checkpoint_every=1"]


def assert_short_output(text, shown):
    """No line carries a whole config; every best-trial line names exactly the `shown` parameters."""
    assert max(len(line) for line in text.splitlines()) < 1000
    assert "AlgorithmConfig" not in text and "params=" not in text
    best = [line for line in text.splitlines() if line.startswith("Current best trial")]
    assert best and all(re.findall(r"'([\w/]+)':", line.split("parameters=")[1]) == shown for line in best)


@pytest.mark.slow
def test_two_trial_grid_reports_best_checkpoint_that_loads(tmp_path, teacher_dir, shards_dir, ray_session, capfd):
    out = tmp_path / "tune"
    args = ["tune", "--out", str(out), "--set", "tune.param_space={ppo.lr: {grid: [0.0001, 0.001]}}",
            "--set", "tune.status_tables=true"]  # Tune's own tables, on request
    for o in run_overrides(teacher_dir, shards_dir) + TINY:
        args += ["--set", o]
    assert main(args) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert len(m["trials"]) == 2 and all(t["iterations"] == 2 and t["error"] is None for t in m["trials"])
    assert sorted(t["overrides"][0] for t in m["trials"]) == ["ppo.lr=0.0001", "ppo.lr=0.001"]
    printed = capfd.readouterr().out
    assert "best trial" in printed
    assert_short_output(printed, ["lr"])  # Tune's progress shows only the searched keys
    policy = load_policy(out / "checkpoint")
    assert policy.cfg.ppo.lr == float(m["best_overrides"][0].split("=")[1])
    action = policy.act(policy_obs(), 0, 2)
    assert 0.0 <= action.difficulty <= 1.0


def policy_obs():
    import numpy as np

    from rlkd.env import OBS_KEYS

    return np.full(len(OBS_KEYS), 0.5, dtype=np.float32)


def test_unknown_search_key_is_a_clear_error(tmp_path, teacher_dir, shards_dir, capsys):
    args = ["tune", "--out", str(tmp_path), "--set", "tune.param_space={ppo.lrr: {grid: [1, 2]}}"]
    for o in run_overrides(teacher_dir, shards_dir) + TINY:
        args += ["--set", o]
    assert main(args) == 2
    assert "tune.param_space.ppo.lrr: not a config key" in capsys.readouterr().err


@pytest.mark.slow
def test_pbt_baseline_schedule_and_evaluate_shows_it(tmp_path, teacher_dir, shards_dir, trained_ppo, capfd):
    out = tmp_path / "pbt"
    base = []
    for o in run_overrides(teacher_dir, shards_dir) + ["distill.epochs=2", "tune.pbt.population=2",
                                                        "tune.perturbation_interval=1"]:
        base += ["--set", o]
    assert main(["pbt", "--out", str(out), *base]) == 0
    printed = capfd.readouterr().out
    assert max(len(line) for line in printed.splitlines()) < 1000
    # 2 members trained as one population: after epoch 1 the worse takes the better's run (none after the last)
    assert len(re.findall(r"pbt: epoch 1: member \d \(val [\d.]+\) takes member \d's run", printed)) == 1, printed
    assert "pbt: epoch 2:" not in printed
    schedule = json.loads((out / "schedule.json").read_text())
    assert len(schedule) == 2 and all(0 <= r["difficulty"] <= 1 and 0.3 <= r["fraction"] <= 1 for r in schedule)
    ev = tmp_path / "eval"
    assert main(["evaluate", "--out", str(ev), *base, "--checkpoint", str(trained_ppo / "checkpoint"), "--seeds", "2",
                 "--pbt", str(out / "schedule.json")]) == 0
    assert "| pbt schedule |" in (ev / "report.md").read_text()


def test_tune_resume_without_an_interrupted_experiment_says_so(tmp_path, teacher_dir, shards_dir, ray_session, capsys):
    """`--resume` restores the experiment in OUT (tests/test_pipeline.py kills one and resumes it); with none
    there it stops, naming the fix, and starts nothing."""
    args = ["tune", "--out", str(tmp_path / "tune"), "--resume"]
    for o in run_overrides(teacher_dir, shards_dir) + TINY:
        args += ["--set", o]
    assert main(args) == 2
    assert "--resume: no interrupted experiment at" in capsys.readouterr().err
    assert not (tmp_path / "tune" / "metrics.json").exists()
