"""DistillationRun and `rlkd distill` on digits shards (2 stored views per training sample)."""

import copy
import json

import pytest
import torch

from rlkd.cli import main
from rlkd.config import load_config
from rlkd.curriculum.actions import EpochAction
from rlkd.data import load_data
from rlkd.data.shards import load_shards
from rlkd.distill import DistillationRun, NonFiniteLossError
from rlkd.errors import DataError
from tests.conftest import run_overrides


@pytest.fixture(scope="module")
def inputs(teacher_dir, shards_dir):
    cfg = load_config(None, run_overrides(teacher_dir, shards_dir) + ["distill.epochs=6"])
    return cfg, load_data(cfg.data), load_shards(shards_dir)


def test_short_run_learns_well_above_chance(inputs):
    cfg, data, shards = inputs
    run = DistillationRun(cfg, shards, seed=0, data=data)
    stats = []
    while not run.finished:
        stats.append(run.epoch())
    assert stats[-1].val_acc > 20.0  # chance is 10%; a 6-epoch MLP on shifted digits sits near 25
    assert stats[-1].samples_seen == 6 * len(data.train) and stats[-1].subset_size == len(data.train)
    obs = run.observe()
    assert 0 <= obs["difficulty_q10"] <= obs["difficulty_q50"] <= obs["difficulty_q90"] <= 1
    assert obs["progress"] == 1.0 and 0 <= obs["agreement"] <= 1


def test_same_seed_same_run_on_cpu(inputs):
    cfg, data, shards = inputs
    a, b = DistillationRun(cfg, shards, 3, data), DistillationRun(cfg, shards, 3, data)
    assert a.epoch(EpochAction(0.2, 0.5)).loss == b.epoch(EpochAction(0.2, 0.5)).loss
    c = DistillationRun(cfg, shards, 4, data)
    assert c.epoch(EpochAction(0.2, 0.5)).loss != a.history[0]["loss"]


def test_resume_is_bit_identical(inputs):
    cfg, data, shards = inputs
    full = DistillationRun(cfg, shards, 1, data)
    full.epoch(EpochAction(0.3, 0.7, sampler="adaptive"))
    full.epoch(EpochAction(0.6, 0.5, sampler="adaptive"))
    saved = copy.deepcopy(full.state_dict())
    after = full.epoch(EpochAction(0.9, 0.7, sampler="mixed"))
    resumed = DistillationRun(cfg, shards, 99, data)  # another seed: everything must come from the state
    resumed.load_state_dict(saved)
    again = resumed.epoch(EpochAction(0.9, 0.7, sampler="mixed"))
    assert again.loss == after.loss and again.val_acc == after.val_acc and again.subset_size == after.subset_size
    for p, q in zip(full.student.parameters(), resumed.student.parameters()):
        assert torch.equal(p, q)


def test_action_sets_this_epochs_subset(inputs):
    cfg, data, shards = inputs
    run = DistillationRun(cfg, shards, 0, data)
    small = run.epoch(EpochAction(difficulty=0.0, fraction=0.3, sampler="adaptive"))
    assert small.subset_size == sum(round(0.3 * int((data.train.labels == c).sum())) for c in range(10))
    easy = run.epoch(EpochAction(difficulty=0.0, fraction=0.3, sampler="adaptive"))
    hard = DistillationRun(cfg, shards, 0, data)
    hard.epoch(EpochAction(difficulty=0.0, fraction=0.3, sampler="adaptive"))
    hard_stats = hard.epoch(EpochAction(difficulty=1.0, fraction=0.3, sampler="adaptive"))
    assert hard_stats.subset_difficulty_mean > easy.subset_difficulty_mean


def test_forced_nan_raises_dedicated_error(inputs):
    cfg, data, shards = inputs
    run = DistillationRun(cfg, shards, 0, data)
    run.epoch()
    with torch.no_grad():
        next(run.student.parameters())[0, 0] = float("nan")  # a diverged weight
    with pytest.raises(NonFiniteLossError) as err:
        run.epoch()
    assert err.value.epoch == 2


def test_bad_actions_and_foreign_shards(inputs, teacher_dir, shards_dir):
    cfg, data, shards = inputs
    run = DistillationRun(cfg, shards, 0, data)
    with pytest.raises(ValueError, match="fraction must be in"):
        run.epoch(EpochAction(fraction=1.5))
    with pytest.raises(ValueError, match="difficulty must be in"):
        run.epoch(EpochAction(difficulty=-0.1))
    other = load_data(load_config(None, ["data.seed=2"]).data)
    with pytest.raises(DataError, match="another data set"):
        DistillationRun(cfg, shards, 0, other)


@pytest.mark.parametrize("mode", ["labels", "kd", "dkd", "multi_teacher"])
def test_cli_every_mode(mode, teacher_dir, shards_dir, tmp_path):
    out = tmp_path / mode
    args = ["distill", "--out", str(out), "--mode", mode, "--set", "distill.epochs=2"]
    for o in run_overrides(teacher_dir, shards_dir):
        args += ["--set", o]
    assert main(args) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["mode"] == mode and len(m["test_acc_per_epoch"]) == 2 and (out / "learning_curve.png").is_file()
    for key in ("val_acc_last_epoch", "test_acc_last_epoch", "test_acc_at_best_val_epoch", "samples_seen"):
        assert key in m


@pytest.mark.parametrize("spec", ["adaptive:0.3", "threshold:0.5", "easy_to_hard", "hard_mining:0.8", "mixed:0.5",
                                  "pacing:root", "anti", "random:0.7", "full", "clean:0.6", "pacing_random:root"])
def test_cli_every_sampler(spec, teacher_dir, shards_dir, tmp_path):
    from rlkd.config import CurriculumConfig
    from rlkd.distill.samplers import SAMPLERS

    # every registered sampler's command-line argument sets a curriculum key
    assert all(s.cli_arg is None or hasattr(CurriculumConfig(), s.cli_arg) for s in SAMPLERS.values())
    out = tmp_path / "o"
    args = ["distill", "--out", str(out), "--curriculum", spec, "--set", "distill.epochs=2"]
    for o in run_overrides(teacher_dir, shards_dir):
        args += ["--set", o]
    assert main(args) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["sampler"] == spec.split(":")[0]
    if spec.split(":")[0] not in ("full", "threshold", "pacing"):
        assert m["epochs"][0]["subset_size"] < 1077


def test_cli_bad_fraction_is_exit_2(teacher_dir, shards_dir, tmp_path, capsys):
    args = ["distill", "--out", str(tmp_path), "--curriculum", "random:1.5"]
    for o in run_overrides(teacher_dir, shards_dir):
        args += ["--set", o]
    assert main(args) == 2
    assert "curriculum.fraction" in capsys.readouterr().err
