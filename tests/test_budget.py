"""Compute budget (env.budget): a run sees at most ceil(budget x epochs x N) samples and anneals at its end."""

import json
import math
from dataclasses import asdict

import numpy as np
import pytest
import torch

from rlkd.cli import main
from rlkd.config import load_config
from rlkd.curriculum.actions import EpochAction
from rlkd.distill import DistillationRun
from rlkd.distill.inputs import load_run_inputs
from rlkd.distill.run import batch_bounds, budget_samples, budget_take, run_progress
from rlkd.env import OBS_KEYS, CurriculumEnv, env_config_for
from rlkd.errors import ConfigError, RlkdError
from tests.conftest import FRACTION_ONLY, run_overrides

EPOCHS = 4


@pytest.fixture(scope="module")
def inputs(teacher_dir, shards_dir):
    base = run_overrides(teacher_dir, shards_dir) + [f"distill.epochs={EPOCHS}"]
    data, shards = load_run_inputs(load_config(None, base))
    return base, data, shards


def make_run(inputs, budget, seed=0):
    base, data, shards = inputs
    return DistillationRun(load_config(None, base + [f"env.budget={budget}"]), shards, seed, data)


def record_step_lrs(run):
    """The LR each optimiser step actually used, read from the param group just before the step."""
    lrs = []
    run.optimizer.register_step_pre_hook(lambda opt, args, kwargs: lrs.append(opt.param_groups[0]["lr"]))
    return lrs


def train_to_end(run, fraction, sampler="adaptive"):
    stats = []
    while not run.finished:
        stats.append(run.epoch(EpochAction(0.5, fraction, sampler=sampler)))
        assert run.samples_seen <= run.budget_samples
    return stats


def test_budget_samples_and_take_are_exact():
    assert budget_samples(0.5, 4, 1077) == 2154
    assert budget_samples(0.7, 4, 1077) == math.ceil(0.7 * 4 * 1077)
    assert budget_samples(0.1, 3, 10) == 3  # 0.1 * 3 * 10 is 3.0000000000000004 in floats
    assert budget_samples(1e-9, 1, 10) == 1
    assert budget_take(700, 2154, True) == 700 and budget_take(700, 54, False) == 54
    assert budget_take(700, 701, True) == 699  # leaves two for the next epoch, never a batch of one
    assert budget_take(700, 701, False) == 700
    assert run_progress(2, 4, 2154, 2154) == 1.0 and run_progress(1, 4, 500, 2154) == 0.25


@pytest.mark.parametrize("value", ["0", "-0.5", "1.5", "nan"])
def test_budget_outside_unit_interval_is_a_config_error(digits_cfg, value):
    with pytest.raises(ConfigError, match="env.budget"):
        digits_cfg(f"env.budget={value}")


@pytest.mark.slow
def test_full_data_stops_at_half_the_epochs_and_anneals(inputs):
    run = make_run(inputs, 0.5)
    n = len(run.labels)
    lrs = record_step_lrs(run)
    stats = train_to_end(run, 1.0, sampler="full")
    assert len(stats) == EPOCHS // 2 and run.samples_seen == run.budget_samples == EPOCHS * n // 2
    assert stats[-1].budget == 0.5 and stats[-1].budget_samples == run.budget_samples
    base = run.cfg.distill.lr
    steps_per_epoch = len(batch_bounds(n, run.cfg.distill.batch_size)) - 1
    assert lrs[0] == pytest.approx(base)
    assert lrs[steps_per_epoch] == pytest.approx(base / 2)  # first step of epoch 2: half the budget spent
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))
    last_start = batch_bounds(n, run.cfg.distill.batch_size)[-2]
    p = (run.budget_samples - n + last_start) / run.budget_samples  # the budget's share at the last step
    assert run.optimizer.param_groups[0]["lr"] == pytest.approx(base * 0.5 * (1 + math.cos(math.pi * p)))
    assert lrs[-1] < 0.01 * base and run.progress == 1.0 and run._lr(run.progress) == pytest.approx(0.0, abs=1e-12)


def test_small_subsets_use_every_epoch(inputs):
    run = make_run(inputs, 0.5)
    stats = train_to_end(run, 0.3)
    assert len(stats) == EPOCHS and run.samples_seen < run.budget_samples and run.progress == 1.0


def test_last_epoch_is_cut_to_the_budget(inputs):
    run = make_run(inputs, 0.5)
    lrs = record_step_lrs(run)
    stats = train_to_end(run, 0.7)
    full_size = stats[0].subset_size
    assert run.budget_samples % full_size != 0  # so the budget, not a whole epoch, ends this run
    assert len(stats) == math.ceil(run.budget_samples / full_size) < EPOCHS
    assert stats[-1].subset_size == run.budget_samples - sum(s.subset_size for s in stats[:-1]) < full_size
    assert run.samples_seen == stats[-1].samples_seen == run.budget_samples
    last_start = batch_bounds(stats[-1].subset_size, run.cfg.distill.batch_size)[-2]
    p = (run.budget_samples - stats[-1].subset_size + last_start) / run.budget_samples
    assert lrs[-1] == pytest.approx(run._lr(p)) and lrs[-1] < 0.05 * run.cfg.distill.lr
    with pytest.raises(RlkdError, match="has finished"):
        run.epoch(EpochAction(0.5, 0.7))


def test_full_budget_keeps_every_epoch(inputs):
    run = make_run(inputs, 1.0)
    stats = train_to_end(run, 0.7)
    assert len(stats) == EPOCHS and run.samples_seen == EPOCHS * stats[0].subset_size < run.budget_samples


def test_same_seed_same_budgeted_run(inputs):
    a, b = make_run(inputs, 0.5, seed=5), make_run(inputs, 0.5, seed=5)
    ha, hb = ([dict(asdict(s), seconds=0.0) for s in train_to_end(run, 0.7)] for run in (a, b))
    assert ha == hb and len(ha) < EPOCHS
    for p, q in zip(a.student.parameters(), b.student.parameters()):
        assert torch.equal(p, q)


def test_env_episode_ends_when_budget_is_spent(inputs):
    base, _, _ = inputs
    env = CurriculumEnv(env_config_for(load_config(None, base + FRACTION_ONLY + ["env.budget=0.5"])))
    obs, _ = env.reset(seed=0)
    used, progress = OBS_KEYS.index("budget_used"), OBS_KEYS.index("progress")
    assert obs.shape == (len(OBS_KEYS),) and obs[used] == 0.0
    seen, done, steps = [obs[used]], False, 0
    while not done:
        obs, _, done, truncated, info = env.step(np.array([0.5, 1.0], dtype=np.float32))  # all data
        assert env.observation_space.contains(obs) and not truncated
        seen.append(obs[used])
        steps += 1
    assert steps == EPOCHS // 2 and info["samples_seen"] == info["budget_samples"]
    assert seen == sorted(seen) and seen[-1] == pytest.approx(1.0) and obs[progress] == pytest.approx(1.0)
    assert all(0.0 <= u <= 1.0 for u in seen)


def test_cli_distill_honours_the_budget(teacher_dir, shards_dir, tmp_path):
    out = tmp_path / "o"
    args = ["distill", "--out", str(out), "--curriculum", "full"]
    for o in run_overrides(teacher_dir, shards_dir) + [f"distill.epochs={EPOCHS}", "env.budget=0.5"]:
        args += ["--set", o]
    assert main(args) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert len(m["test_acc_per_epoch"]) == EPOCHS // 2 and m["budget"] == 0.5
    assert m["samples_seen"] == m["budget_samples"] == m["epochs"][-1]["budget_samples"]
