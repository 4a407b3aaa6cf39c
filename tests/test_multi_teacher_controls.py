"""Two teachers of different quality: `rlkd evaluate`'s equal-weights and single-teacher controls (issue 10, item 6)."""

import json

import pytest
import torch
import torch.nn.functional as F

from rlkd.config import DistillConfig, config_to_dict, load_config
from rlkd.curriculum.policies import baseline_policies
from rlkd.curriculum.policy_net import PolicySpec, build_network, save_policy
from rlkd.distill.inputs import load_run_inputs
from rlkd.distill.losses import HintonKD, MultiTeacherKD, Targets
from rlkd.env.curriculum_env import CurriculumEnv
from rlkd.models import build_model, read_metadata
from rlkd.models.inference import predict_logits
from rlkd.rl.export import space_entry
from rlkd.stages import STAGES, execute
from rlkd.stages.evaluate import run_evaluate
from tests.conftest import SMALL_TEACHER, run_overrides

WEAK_TEACHER = ["teacher.epochs=1"]  # the same tiny_cnn stopped early: a clearly worse second teacher


@pytest.fixture(scope="module")
def weak_teacher_dir(tmp_path_factory):
    """A second cross-fitted teacher (2 folds), made like conftest's `teacher_dir` but trained for one epoch."""
    out = tmp_path_factory.mktemp("weak_teacher")
    execute(STAGES["teacher"], load_config(None, SMALL_TEACHER + WEAK_TEACHER), out)
    return out


def two_teachers(teacher_dir, weak_teacher_dir, shards=None):
    return run_overrides(teacher_dir, shards) + [f"teacher.additional=[{weak_teacher_dir / 'teacher.safetensors'}]",
                                                 "distill.mode=multi_teacher"]


@pytest.fixture(scope="module")
def two_teacher_shards(tmp_path_factory, teacher_dir, weak_teacher_dir, ray_session):
    out = tmp_path_factory.mktemp("pre2")
    execute(STAGES["precompute"], load_config(None, two_teachers(teacher_dir, weak_teacher_dir)), out)
    return out / "shards"


def one_hot_rows(controls):
    """The controls that fix teacher weights, with the weights their first epoch gets."""
    weights = {name: policy.act(None, 0, 1).teacher_weights for name, _, policy in controls}
    return {name: w for name, w in weights.items() if w is not None}


# ------------------------------------------------------------------ the control list
def test_two_teachers_get_equal_weights_and_one_control_per_teacher():
    full = baseline_policies(1.0, "multi_teacher", ["strong.safetensors", "weak.safetensors"])
    assert one_hot_rows(full) == {"kd (all data), teacher 0 only: strong.safetensors": (1.0, 0.0),
                                  "kd (all data), teacher 1 only: weak.safetensors": (0.0, 1.0)}
    names = {name: overrides for name, overrides, _ in full}
    # equal weights is the loss's default, so the kd rows are that control already: not repeated
    assert names["kd (all data)"] == ["env.budget=1.0"]
    assert names["kd (all data), teacher 1 only: weak.safetensors"] == []  # at the policy's budget
    assert [n for n in names if n.startswith("kd")] == [
        "kd (all data)", "kd (all data), teacher 0 only: strong.safetensors",
        "kd (all data), teacher 1 only: weak.safetensors"]
    half = baseline_policies(0.5, "multi_teacher", ["a", "b", "c"])
    assert one_hot_rows(half) == {"kd (all data, policy's budget), teacher 0 only: a": (1.0, 0.0, 0.0),
                                  "kd (all data, policy's budget), teacher 1 only: b": (0.0, 1.0, 0.0),
                                  "kd (all data, policy's budget), teacher 2 only: c": (0.0, 0.0, 1.0)}
    assert {"kd (all data)", "kd (all data, policy's budget)"} <= {name for name, _, _ in half}


@pytest.mark.parametrize("mode, teachers", [("kd", ["a", "b"]), ("multi_teacher", ["a"]), ("multi_teacher", [])])
def test_one_teacher_or_another_loss_keeps_the_plain_kd_rows(mode, teachers):
    controls = baseline_policies(0.5, mode, teachers)
    assert one_hot_rows(controls) == {}
    assert [name for name, _, _ in controls] == [name for name, _, _ in baseline_policies(0.5)]


# ------------------------------------------------------------------ the loss under one-hot weights
def test_teacher_1_only_is_hinton_kd_from_teacher_1_alone():
    torch.manual_seed(0)
    batch, classes, temperature, alpha = 6, 5, 3.0, 0.3
    cfg = DistillConfig(mode="multi_teacher", alpha=alpha)
    labels = torch.randint(classes, (batch,))
    teacher_logits = torch.randn(2, batch, classes) * 3
    teacher_probs = torch.softmax(teacher_logits / temperature, dim=2)
    control = one_hot_rows(baseline_policies(1.0, "multi_teacher", ["t0", "t1"]))
    weights = torch.tensor(control["kd (all data), teacher 1 only: t1"]).expand(batch, -1)  # as the run does

    def loss_and_grad(loss_fn, targets):
        student = torch.randn(batch, classes, generator=torch.Generator().manual_seed(1)).requires_grad_()
        loss = loss_fn(student, targets)
        loss.backward()
        return loss.detach(), student.grad

    multi = loss_and_grad(MultiTeacherKD(cfg), Targets(labels, teacher_logits, teacher_probs, temperature,
                                                       teacher_weights=weights))
    student = torch.randn(batch, classes, generator=torch.Generator().manual_seed(1))
    by_hand = (alpha * F.cross_entropy(student, labels) + (1 - alpha) * temperature ** 2
               * -(teacher_probs[1] * F.log_softmax(student / temperature, dim=1)).sum(1).mean())
    assert multi[0].item() == pytest.approx(by_hand.item(), rel=1e-6)
    hinton = loss_and_grad(HintonKD(cfg), Targets(labels, teacher_logits[1:], teacher_probs[1:], temperature))
    assert multi[0].item() == pytest.approx(hinton[0].item(), rel=1e-6)
    assert torch.allclose(multi[1], hinton[1], atol=1e-6)
    teacher_0 = HintonKD(cfg)(student, Targets(labels, teacher_logits[:1], teacher_probs[:1], temperature))
    assert abs(teacher_0.item() - by_hand.item()) > 1e-3  # the weights pick the teacher


def test_the_kd_rows_are_the_equal_weights_control():
    """A FixedSchedule without teacher weights leaves them to MultiTeacherKD, whose default is the plain average."""
    torch.manual_seed(2)
    batch, classes, temperature = 4, 3, 2.0
    cfg = DistillConfig(mode="multi_teacher", alpha=0.2)
    labels, student = torch.randint(classes, (batch,)), torch.randn(batch, classes)
    teacher_logits = torch.randn(2, batch, classes) * 2
    teacher_probs = torch.softmax(teacher_logits / temperature, dim=2)
    kd = {name: policy for name, _, policy in baseline_policies(1.0, "multi_teacher", ["t0", "t1"])}
    unset = kd["kd (all data)"].act(None, 0, 1).teacher_weights
    assert unset is None
    default = MultiTeacherKD(cfg)(student, Targets(labels, teacher_logits, teacher_probs, temperature,
                                                   teacher_weights=unset))
    halves = MultiTeacherKD(cfg)(student, Targets(labels, teacher_logits, teacher_probs, temperature,
                                                  teacher_weights=torch.full((batch, 2), 0.5)))
    assert default.item() == pytest.approx(halves.item(), rel=1e-6)


# ------------------------------------------------------------------ a tiny two-teacher setting, end to end
@pytest.mark.slow
def test_shards_hold_both_cross_fitted_teachers_and_the_action_grows_by_two(
        teacher_dir, weak_teacher_dir, two_teacher_shards):
    cfg = load_config(None, two_teachers(teacher_dir, weak_teacher_dir, two_teacher_shards))
    data, shards = load_run_inputs(cfg)
    assert shards.num_teachers == 2 and [t["cross_fit"] for t in shards.manifest["teachers"]] == [2, 2]
    train = shards.splits["train"].logits  # (T, N, V, C)
    assert train.shape[0] == 2 and not torch.allclose(train[0], train[1])
    weak = weak_teacher_dir / "teacher.safetensors"
    for fold_file in read_metadata(weak)["folds"]:  # each train sample scored by the weak fold that never saw it
        fold = weak_teacher_dir / fold_file
        meta = read_metadata(fold)
        held_out = torch.tensor(meta["holdout"])
        model = build_model("tiny_cnn", 10, 1, input_shape=data.input_shape, checkpoint=str(fold))
        expected = predict_logits(model, data.train.images[held_out]) / meta["temperature"]
        # view 0 is the identity view; the shards store fp16
        assert torch.allclose(train[1, held_out, 0], expected, rtol=2e-3, atol=2e-2)
    plain = CurriculumEnv({"config": config_to_dict(cfg)}).action_space.shape[0]
    weighted = CurriculumEnv({"config": config_to_dict(load_config(
        None, two_teachers(teacher_dir, weak_teacher_dir, two_teacher_shards) + ["env.control_teacher_weights=true"]
    ))}).action_space.shape[0]
    assert weighted == plain + 2


def export_untrained_policy(folder, cfg):
    """A policy export in `rlkd train`'s format with untrained weights: evaluate needs its actions, not its skill."""
    env = CurriculumEnv({"config": config_to_dict(cfg)})
    obs, act = space_entry(env.observation_space), space_entry(env.action_space)
    layers = [{"linear": [obs["shape"][0], 2 * act["shape"][0]]}]
    folder.mkdir()
    torch.manual_seed(0)
    save_policy(folder, build_network(layers), PolicySpec(obs, act, layers, config_to_dict(cfg)))


@pytest.mark.slow
def test_evaluate_lists_equal_weights_and_each_teacher_alone(tmp_path, teacher_dir, weak_teacher_dir,
                                                             two_teacher_shards):
    overrides = two_teachers(teacher_dir, weak_teacher_dir, two_teacher_shards) + [
        "env.control_teacher_weights=true", "distill.epochs=2", "env.eval_seeds=2"]
    export_untrained_policy(tmp_path / "policy", load_config(None, overrides))
    out = tmp_path / "eval"
    out.mkdir()
    run_evaluate(load_config(None, overrides + [f"ppo.checkpoint={tmp_path / 'policy'}"]), out)
    metrics = json.loads((out / "runs.json").read_text())
    weak_acc = read_metadata(weak_teacher_dir / "teacher.safetensors")["val_acc"]
    single = {f"kd (all data), teacher 0 only: {teacher_dir.name}/teacher.safetensors, val acc "
              f"{read_metadata(teacher_dir / 'teacher.safetensors')['val_acc']:.1f}%": [1.0, 0.0],
              f"kd (all data), teacher 1 only: {weak_teacher_dir.name}/teacher.safetensors, val acc {weak_acc:.1f}%":
                  [0.0, 1.0]}
    assert {"policy", "kd (all data)", *single} <= set(metrics)
    for name, weights in single.items():
        assert all(row["action"]["teacher_weights"] == weights for run in metrics[name] for row in run["trajectory"])
    assert all(row["action"]["teacher_weights"] is None
               for run in metrics["kd (all data)"] for row in run["trajectory"])  # equal weights: the loss's
    assert all(len(row["action"]["teacher_weights"]) == 2 for run in metrics["policy"] for row in run["trajectory"])
    report = (out / "report.md").read_text()
    assert all(f"| {name} | " in report for name in single)
