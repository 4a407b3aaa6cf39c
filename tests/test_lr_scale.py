"""The lr_scale action dimension: x0.1 .. x10 on the run's own lr, on a log scale, x1 at the box centre."""

import numpy as np
import pytest
import torch

from rlkd.config import load_config
from rlkd.curriculum.actions import EpochAction, action_dims, decode_action
from rlkd.distill import DistillationRun
from rlkd.distill.population import StudentPopulation
from rlkd.errors import ConfigError
from tests.test_population import assert_same_stats, assert_same_weights, config, synthetic


@pytest.fixture(scope="module")
def inputs():
    return synthetic()


def test_lr_scale_decodes_on_a_log_scale_around_the_runs_lr():
    cfg = load_config(None, ["env.control_lr_scale=true"])
    dims = action_dims(cfg.env, 1)
    assert dims == action_dims(load_config(None, []).env, 1) + ["lr_scale"]  # the last dimension
    for value, scale in ((0.0, 0.1), (0.25, 10 ** -0.5), (0.5, 1.0), (0.75, 10 ** 0.5), (1.0, 10.0)):
        action = np.full(len(dims), 0.5)
        action[-1] = value
        assert decode_action(action, cfg, 1).lr_scale == pytest.approx(scale, rel=1e-12)
    assert decode_action(np.full(len(dims), 0.5), cfg, 1).lr_scale == 1.0  # exactly the run's own lr
    assert decode_action(np.full(len(action_dims(load_config(None, []).env, 1)), 0.5),
                         load_config(None, []), 1).lr_scale is None  # off: the dimension is not there


def test_lr_scale_needs_the_continuous_action():
    with pytest.raises(ConfigError, match="env.action"):
        load_config(None, ["env.control_lr_scale=true", "env.action=discrete"])


def test_lr_scale_one_is_the_configured_epoch_bit_for_bit(inputs):
    data, shards = inputs
    a, b = DistillationRun(config(), shards, 0, data), DistillationRun(config(), shards, 0, data)
    for _ in range(2):
        assert_same_stats(a.epoch(EpochAction()), b.epoch(EpochAction(lr_scale=1.0)))
    for p, q in zip(a.student.parameters(), b.student.parameters()):
        assert torch.equal(p, q)


def test_lr_scale_multiplies_every_step_like_a_larger_lr(inputs):
    data, shards = inputs
    scaled = DistillationRun(config("distill.lr=0.002"), shards, 0, data)
    larger = DistillationRun(config("distill.lr=0.006"), shards, 0, data)
    plan = scaled.plan_epoch(EpochAction(lr_scale=3.0))
    assert [scaled.step_lr(plan, i) for i in range(plan.num_batches)] == pytest.approx(
        [3 * scaled.step_lr(scaled.plan_epoch(EpochAction()), i) for i in range(plan.num_batches)], rel=1e-12)
    scaled = DistillationRun(config("distill.lr=0.002"), shards, 0, data)  # the plans above drew from its generator
    stats = scaled.epoch(EpochAction(lr_scale=3.0))
    assert stats.lr_scale == 3.0 and scaled.history[-1]["lr_scale"] == 3.0
    larger.epoch(EpochAction())
    assert_same_weights(larger, scaled)  # 3 x (0.002 x cosine) is (0.006 x cosine) to the last bits or so
    unscaled = DistillationRun(config("distill.lr=0.002"), shards, 0, data)
    unscaled.epoch(EpochAction())
    assert any(not torch.allclose(p, q, atol=1e-4) for p, q in zip(unscaled.student.parameters(),
                                                                   scaled.student.parameters()))  # it mattered


def test_lanes_with_different_lr_scales_equal_their_lone_runs(inputs):
    """Lanes whose lr differs must not share a fused optimiser call (their group scalars differ)."""
    data, shards = inputs
    cfgs = [config(), config(), config()]
    steps = [[EpochAction(lr_scale=0.1), EpochAction(lr_scale=1.0), EpochAction(lr_scale=10.0, fraction=0.5)],
             [EpochAction(lr_scale=2.0), EpochAction(), EpochAction(lr_scale=0.5)]]
    population = StudentPopulation(cfgs, shards, [0, 1, 2], data)
    results = [population.epoch(step) for step in steps]
    for k, cfg in enumerate(cfgs):
        lone = DistillationRun(cfg, shards, k, data)
        for epoch, step in enumerate(steps):
            assert_same_stats(lone.epoch(step[k]), results[epoch][k])
        assert_same_weights(lone, population.runs[k])
