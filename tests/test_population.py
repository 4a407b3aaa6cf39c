"""StudentPopulation: K lanes trained as one batched model equal K lone DistillationRuns (no Ray).

Synthetic in-memory shards (random 1x12x12 images, 2 stored views, teacher logits leaning to the label)
and a small student keep the file fast. Tolerances are the ones docs/distill.md states: weights 1e-6
absolute, losses 1e-5 relative, subset difficulty statistics 1e-6; everything else equal.
"""

import copy
import logging
import math
from dataclasses import asdict

import pytest
import torch

from rlkd.config import DistillConfig, load_config
from rlkd.curriculum.actions import EpochAction
from rlkd.data import DatasetSplits, Split
from rlkd.data.shards import SplitShards, TeacherShards
from rlkd.distill import DistillationRun, NonFiniteLossError
from rlkd.distill.losses import LOSSES, Targets
from rlkd.distill.optimizers import step_lanes
from rlkd.distill.population import StudentPopulation
from rlkd.distill.run import batch_bounds
from rlkd.errors import ConfigError

SMALL = ["student.model_kwargs={hidden: [32]}", "distill.epochs=3"]
CLOSE_STATS = {"loss": dict(rel_tol=1e-5), "subset_difficulty_mean": dict(abs_tol=1e-6),
               "subset_difficulty_std": dict(abs_tol=1e-6)}


def synthetic(n: int = 240, size: int = 12, views: int = 2, classes: int = 10) -> tuple[DatasetSplits, TeacherShards]:
    g = torch.Generator().manual_seed(0)

    def split(m: int, tag: str) -> Split:
        return Split(torch.randint(0, 256, (m, 1, size, size), dtype=torch.uint8, generator=g),
                     torch.arange(m) % classes, [f"{tag}{i}" for i in range(m)])

    data = DatasetSplits(split(n, "tr"), split(n // 3, "va"), split(n // 3, "te"), [str(c) for c in range(classes)],
                         "synthetic")
    boxes = torch.zeros(n, views, 5, dtype=torch.int32)
    boxes[:, :, 2:4] = size
    boxes[:, 1:, :2] = torch.randint(0, 3, (n, views - 1, 2), generator=g, dtype=torch.int32)
    boxes[:, 1:, 2:4] = size - 3
    logits = torch.randn(1, n, views, classes, generator=g) * 2
    logits[0, torch.arange(n), :, data.train.labels] += 4
    p = torch.softmax(logits[0], -1)
    train = SplitShards(views, data.train.labels, boxes, logits, 1 - p.max(-1).values,
                        -(p * p.log()).sum(-1) / math.log(classes))
    manifest = {"num_classes": classes, "teachers": [{}],
                "data": {"splits": {s: {"fingerprint": data.split(s).fingerprint} for s in ("train", "val", "test")}}}
    return data, TeacherShards(manifest, {"train": train})


@pytest.fixture(scope="module")
def inputs():
    return synthetic()


def config(*overrides):
    return load_config(None, SMALL + list(overrides))


def assert_same_stats(lone, lane):
    a, b = asdict(lone), asdict(lane)
    for key in a:
        if key in CLOSE_STATS:
            assert math.isclose(a[key], b[key], **CLOSE_STATS[key]), (key, a[key], b[key])
        elif key != "seconds":
            assert a[key] == b[key], (key, a[key], b[key])


def assert_same_weights(lone: DistillationRun, lane: DistillationRun):
    for (name, p), q in zip(lone.student.named_parameters(), lane.student.parameters()):
        assert torch.allclose(p, q, rtol=0, atol=1e-6), (name, (p - q).abs().max().item())
    assert torch.allclose(lone.student_logits, lane.student_logits, rtol=0, atol=1e-5)


def test_lanes_equal_lone_runs(inputs):
    data, shards = inputs
    cfgs = [config(), config("env.budget=0.4"), config("distill.lr=0.01", "distill.batch_size=48"),
            config("distill.mode=multi_teacher")]
    actions = [
        [EpochAction(sampler="adaptive", difficulty=0.2, fraction=0.5), EpochAction(fraction=0.9, temperature=2.0),
         EpochAction(), EpochAction(sampler="random", fraction=0.3, mix=0.5, alpha=0.3)],
        [EpochAction(sampler="hard_mining", difficulty=0.7, fraction=0.6, alpha=0.3), EpochAction(),
         EpochAction(sampler="mixed", fraction=0.8, temperature=2.0, alpha=0.3), EpochAction(teacher_weights=(1.0,))],
        [EpochAction(sampler="clean", fraction=0.4), EpochAction(), EpochAction(sampler="easy_to_hard"),
         EpochAction(temperature=8.0)],
    ]
    population = StudentPopulation(cfgs, shards, [0, 1, 2, 3], data)
    assert population.batched and len(population) == 4
    results = [population.epoch(step) for step in actions]
    assert population.finished == [True, True, True, True]
    for k, cfg in enumerate(cfgs):
        lone = DistillationRun(cfg, shards, k, data)
        for epoch, step in enumerate(actions):
            if lone.finished:
                assert results[epoch][k] is None  # lane 1's budget ends after two epochs
                continue
            assert_same_stats(lone.epoch(step[k]), results[epoch][k])
        assert_same_weights(lone, population.runs[k])
        lone_obs, lane_obs = lone.observe(), population.runs[k].observe()
        assert lone_obs.keys() == lane_obs.keys()
        assert all(math.isclose(lone_obs[key], lane_obs[key], rel_tol=1e-5, abs_tol=1e-6) for key in lone_obs)
        assert lone.evaluate("test")[0] == population.evaluate("test")[k][0]
    assert results[-1][1] is None and population.runs[1].samples_seen == population.runs[1].budget_samples


def test_lane_without_a_batch_is_not_touched(inputs):
    data, shards = inputs
    population = StudentPopulation(config(), shards, [0, 1], data)
    short = population.runs[1]
    snapshots = []  # lane 1 as each step's backward finds it: after the previous step's update

    def snapshot(_):
        state = short.optimizer.state
        snapshots.append(([p.detach().clone() for p in short.student.parameters()],
                          [{key: v.clone() for key, v in state.get(p, {}).items()}
                           for p in short.student.parameters()]))

    # the stacked bias of the first layer: one gradient per step (the batched backward), before any update
    population.stack.params["net.1.bias"].register_post_accumulate_grad_hook(snapshot)
    population.epoch([EpochAction(sampler="full"), EpochAction(sampler="random", fraction=0.3)])
    own_batches, steps = (len(batch_bounds(run.history[-1]["subset_size"], 64)) - 1 for run in population.runs[::-1])
    assert len(snapshots) == steps > own_batches + 1
    after = snapshots[own_batches:] + [([p.detach() for p in short.student.parameters()],
                                        [short.optimizer.state[p] for p in short.student.parameters()])]
    for params, state in after[1:]:
        assert all(torch.equal(a, b) for a, b in zip(after[0][0], params))
        for a, b in zip(after[0][1], state):
            assert a.keys() == b.keys() and all(torch.equal(a[key], b[key]) for key in a)
    assert float(after[0][1][0]["step"]) == own_batches
    assert not torch.equal(snapshots[1][0][0], after[0][0][0])  # lane 1 did train before it ran out


def test_fallback_trains_lane_by_lane(inputs, caplog):
    data, shards = inputs
    cfg = config("student.arch=tiny_cnn", "student.model_kwargs={width: 4}")
    with caplog.at_level(logging.WARNING, logger="rlkd.distill.population"):
        population = StudentPopulation(cfg, shards, [0, 1], data)
    assert not population.batched and "buffers" in population.reason
    assert sum("cannot be batched" in r.getMessage() for r in caplog.records) == 1
    actions = [EpochAction(fraction=0.3, sampler="adaptive"), EpochAction(fraction=0.2, sampler="random")]
    results = population.epoch(actions)
    for k, action in enumerate(actions):
        lone = DistillationRun(cfg, shards, k, data)
        stats = lone.epoch(action)
        assert {**asdict(stats), "seconds": 0} == {**asdict(results[k]), "seconds": 0}
        assert all(torch.equal(p, q) for p, q in zip(lone.student.state_dict().values(),
                                                     population.runs[k].student.state_dict().values()))


def test_one_lane_is_a_lone_run(inputs):
    data, shards = inputs
    population = StudentPopulation(config(), shards, [7], data)
    assert not population.batched and population.reason.startswith("one lane")
    lone = DistillationRun(config(), shards, 7, data)
    assert population.epoch([EpochAction()])[0].loss == lone.epoch().loss


def test_lane_state_round_trips_through_a_lone_run(inputs):
    data, shards = inputs
    cfg = config("distill.epochs=4")
    population = StudentPopulation(cfg, shards, [0, 1, 2], data)
    population.epoch([EpochAction(fraction=0.6), EpochAction(fraction=0.8, sampler="adaptive"), EpochAction()])
    state = copy.deepcopy(population.state_dict(1))
    assert all(t.untyped_storage().nbytes() == t.numel() * t.element_size() for t in state["student"].values())
    lone = DistillationRun(cfg, shards, 99, data)  # another seed: everything must come from the state
    lone.load_state_dict(state)
    action = EpochAction(fraction=0.7, sampler="hard_mining", difficulty=0.6)
    lane_stats = population.epoch([EpochAction(), action, EpochAction()])[1]
    assert_same_stats(lone.epoch(action), lane_stats)
    assert_same_weights(lone, population.runs[1])
    # and back: the lone run's state into lane 0, which then trains as the lone run does
    population.load_state_dict(0, copy.deepcopy(lone.state_dict()))
    assert_same_stats(lone.epoch(), population.epoch([EpochAction(), EpochAction(), EpochAction()])[0])
    assert_same_weights(lone, population.runs[0])


def test_reset_starts_a_lane_as_a_fresh_run(inputs):
    data, shards = inputs
    population = StudentPopulation(config(), shards, [0, 1], data)
    population.epoch([EpochAction(), EpochAction()])
    population.reset(1, seed=5)
    fresh = DistillationRun(config(), shards, 5, data)
    assert population.runs[1].epoch_index == 0
    assert_same_stats(fresh.epoch(EpochAction(fraction=0.5)),
                      population.epoch([EpochAction(), EpochAction(fraction=0.5)])[1])
    assert_same_weights(fresh, population.runs[1])


def test_a_diverged_lane_does_not_touch_the_others(inputs):
    data, shards = inputs
    population = StudentPopulation(config(), shards, [0, 1], data)
    with torch.no_grad():
        next(population.runs[1].student.parameters())[0, 0] = float("nan")
    results = population.epoch([EpochAction(), EpochAction()])
    assert isinstance(results[1], NonFiniteLossError) and population.finished == [False, True]
    lone = DistillationRun(config(), shards, 0, data)
    assert_same_stats(lone.epoch(), results[0])
    assert_same_weights(lone, population.runs[0])
    assert population.epoch([EpochAction(), EpochAction()])[1] is None


def test_a_bad_action_leaves_every_lane_as_it_was(inputs):
    data, shards = inputs
    population = StudentPopulation([config(), config("distill.mode=labels")], shards, [0, 1], data)
    before = [run.gen.get_state() for run in population.runs]
    with pytest.raises(ConfigError, match="distill.mode"):
        population.epoch([EpochAction(fraction=0.5), EpochAction(alpha=0.5)])  # labels has no label weight to set
    assert all(torch.equal(run.gen.get_state(), state) for run, state in zip(population.runs, before))


def test_lanes_must_share_the_student(inputs):
    data, shards = inputs
    with pytest.raises(ConfigError, match="student"):
        StudentPopulation([config(), config("student.model_kwargs={hidden: [16]}")], shards, [0, 1], data)


@pytest.mark.parametrize("mode", sorted(LOSSES))
def test_a_loss_over_lanes_is_each_lanes_own_loss(mode):
    torch.manual_seed(0)
    lanes, batch, classes = 3, 5, 4
    loss_fn = LOSSES[mode](DistillConfig(mode=mode, alpha=0.3))
    logits = torch.randn(lanes * batch, classes, requires_grad=True)
    labels = torch.randint(0, classes, (lanes * batch,))
    teacher = torch.randn(1, lanes * batch, classes)
    probs = torch.softmax(teacher / 2.0, -1)
    together = loss_fn(logits, Targets(labels, teacher, probs, 2.0, 1, lanes=lanes))
    together.sum().backward()
    for k in range(lanes):
        rows = slice(k * batch, (k + 1) * batch)
        own = logits.detach()[rows].clone().requires_grad_()
        alone = loss_fn(own, Targets(labels[rows], teacher[:, rows], probs[:, rows], 2.0, 1))
        alone.backward()
        assert together.shape == (lanes,) and math.isclose(together[k].item(), alone.item(), rel_tol=1e-6)
        assert torch.allclose(logits.grad[rows], own.grad, rtol=0, atol=1e-7)


@pytest.mark.parametrize("kind", ["adam", "sgd"])
def test_lanes_step_in_one_fused_call_exactly_as_alone(kind):
    def make(seed):
        torch.manual_seed(seed)
        net = torch.nn.Linear(7, 3)
        opt = (torch.optim.Adam(net.parameters(), lr=0.01, fused=True) if kind == "adam" else
               torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, nesterov=True, fused=True))
        return net, opt

    alone, together = [make(s) for s in range(3)], [make(s) for s in range(3)]
    for step in range(3):
        for lanes in (alone, together):
            for k, (net, _) in enumerate(lanes):
                torch.manual_seed(100 * step + k)
                net(torch.randn(4, 7)).square().sum().backward()
        together[2][1].param_groups[0]["lr"] = alone[2][1].param_groups[0]["lr"] = 0.02 * (step + 1)  # own LR
        for _, opt in alone:
            opt.step()
        step_lanes([opt for _, opt in together])
        for net, opt in alone + together:
            opt.zero_grad(set_to_none=True)
    for (a, _), (b, _) in zip(alone, together):
        assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_mlp_students_train_through_plain_matmuls_as_through_vmap():
    from rlkd.distill.stacked import StackedStudents, linear_chain
    from rlkd.models import build_model

    def students():
        torch.manual_seed(3)
        return [build_model("mlp", 10, 1, False, input_shape=(1, 12, 12), model_kwargs={"hidden": [32, 16]})
                for _ in range(3)]

    assert linear_chain(students()[0]) == ["net.1", "net.3", "net.5"]
    assert linear_chain(build_model("tiny_cnn", 10, 1, False, input_shape=(1, 12, 12))) is None
    x = torch.randint(0, 256, (3, 8, 1, 12, 12), dtype=torch.uint8)
    plain, mapped = StackedStudents(students()), StackedStudents(students(), plain_matmuls=False)
    assert plain.linears and mapped.linears is None
    outs = []
    for stack in (plain, mapped):
        out = stack.forward(None, x)
        out.square().sum().backward()
        outs.append((out.detach(), {n: p.grad for n, p in stack.params.items()}))
    torch.testing.assert_close(outs[0][0], outs[1][0], rtol=1e-5, atol=1e-6)
    for name, grad in outs[0][1].items():
        torch.testing.assert_close(grad, outs[1][1][name], rtol=1e-5, atol=1e-5)
    lanes = torch.tensor([2, 0])
    torch.testing.assert_close(plain.forward(lanes, x[:2]), mapped.forward(lanes, x[:2]), rtol=1e-5, atol=1e-6)
    images = torch.randint(0, 256, (5, 1, 12, 12), dtype=torch.uint8)
    torch.testing.assert_close(plain.logits(None, images, batch=2), mapped.logits(None, images, batch=2),
                               rtol=1e-5, atol=1e-6)


def test_kd_takes_one_label_weight_per_lane_in_one_call():
    torch.manual_seed(1)
    lanes, batch, classes = 3, 5, 4
    loss_fn = LOSSES["kd"](DistillConfig(mode="kd", alpha=0.5))
    alphas = [0.0, 0.3, 1.0]  # the ends too: pure KD and pure labels
    logits = torch.randn(lanes * batch, classes, requires_grad=True)
    labels = torch.randint(0, classes, (lanes * batch,))
    probs = torch.softmax(torch.randn(1, lanes * batch, classes), -1)
    together = loss_fn(logits, Targets(labels, None, probs, 3.0, 0, alpha=torch.tensor(alphas), lanes=lanes))
    together.sum().backward()
    for k, alpha in enumerate(alphas):
        rows = slice(k * batch, (k + 1) * batch)
        own = logits.detach()[rows].clone().requires_grad_()
        alone = loss_fn(own, Targets(labels[rows], None, probs[:, rows], 3.0, 0, alpha=alpha))
        alone.backward()
        assert math.isclose(together[k].item(), alone.item(), rel_tol=1e-6, abs_tol=1e-7)
        assert torch.allclose(logits.grad[rows], own.grad, rtol=0, atol=1e-7)
