"""Feature-level KD end to end: teacher embeddings stored by precompute (Ray Data), read back, and used by a
DistillationRun through the student's feature tap; the env's feature-weight action."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from rlkd.config import load_config
from rlkd.curriculum.actions import EpochAction, action_dims, decode_action
from rlkd.data import load_data
from rlkd.data.shards import load_shards
from rlkd.data.views import render_view
from rlkd.distill.run import DistillationRun
from rlkd.errors import ConfigError, DataError
from rlkd.models import build_model
from rlkd.models.features import FeatureTap
from rlkd.stages import STAGES, execute
from tests.conftest import run_overrides

PCA = ["teacher.embedding.store=true", "teacher.embedding.dim=8", "teacher.embedding.projection=pca"]


@pytest.fixture(scope="module")
def embedded_shards(tmp_path_factory, teacher_dir, ray_session):
    """The session teacher's shards (2 views per train sample) with its head input projected to 8 dims by PCA."""
    out = tmp_path_factory.mktemp("emb")
    cfg = load_config(None, run_overrides(teacher_dir) + PCA)
    execute(STAGES["precompute"], cfg, out)
    return out / "shards"


@pytest.mark.slow
def test_embeddings_round_trip_through_the_shards(embedded_shards, teacher_dir):
    cfg = load_config(None, run_overrides(teacher_dir))
    data = load_data(cfg.data)
    shards = load_shards(embedded_shards)
    entry = shards.manifest["embedding"]
    assert entry["dim"] == 8 and entry["source_dim"] == 64 and entry["projection"] == "pca"  # tiny_cnn width 32 x 2
    tr = shards.splits["train"]
    assert tr.embeddings.dtype == torch.float16 and tr.embeddings.shape == (len(data.train), 2, 8)
    assert shards.splits["test"].embeddings.shape == (len(data.test), 1, 8)
    # recompute: the main teacher's head input on each stored view, minus the mean, times the saved matrix
    teacher = build_model("tiny_cnn", 10, 1, input_shape=data.input_shape,
                          checkpoint=str(teacher_dir / "teacher.safetensors")).eval()
    tap = FeatureTap(teacher, None, "test")
    proj = load_file(str(embedded_shards / entry["projection_file"]))
    with torch.no_grad():
        images = render_view(data.train.images[:50].repeat_interleave(2, 0), tr.views[:50].reshape(-1, 5))
        teacher(images)
        want = (tap.take() - proj["mean"]) @ proj["matrix"]
    torch.testing.assert_close(tr.embeddings[:50].reshape(-1, 8).float(), want, rtol=2e-3, atol=2e-3)
    # PCA: projected train features are centred and their axes ordered by variance
    flat = tr.embeddings[:, 0].float()
    assert flat.mean(0).abs().max() < 0.05 * flat.std(0).max()
    assert bool((flat.var(0)[:-1] >= flat.var(0)[1:] * 0.99).all())


def test_a_changed_projection_file_is_caught(embedded_shards, tmp_path):
    import shutil

    copy = tmp_path / "shards"
    shutil.copytree(embedded_shards, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    tensors = load_file(str(copy / manifest["embedding"]["projection_file"]))
    tensors["matrix"] = tensors["matrix"] * 2
    from safetensors.torch import save_file

    save_file(tensors, str(copy / manifest["embedding"]["projection_file"]))
    with pytest.raises(DataError, match="embedding projection.*missing or changed"):
        load_shards(copy)


def feature_run(teacher_dir, shards, *extra, seed=0):
    cfg = load_config(None, run_overrides(teacher_dir, shards) + PCA + ["distill.epochs=3", *extra])
    return DistillationRun(cfg, load_shards(shards), seed, load_data(cfg.data))


def test_feature_losses_change_training_and_resume_exactly(embedded_shards, teacher_dir):
    plain = feature_run(teacher_dir, embedded_shards)
    fit = feature_run(teacher_dir, embedded_shards, "distill.feature.weights={fitnet: 1.0, pkt: 2.0}")
    assert fit.feature_kd.tap.layer == "net.3"  # the input of the MLP student's last Linear (after the ReLU)
    a, b = plain.epoch(), fit.epoch()
    assert b.feature_scale == 1.0 and a.feature_scale is None
    assert b.loss > a.loss  # the same first batches, plus a positive feature term
    state = copy.deepcopy(fit.state_dict())
    c = fit.epoch(EpochAction(feature_scale=0.5))
    again = feature_run(teacher_dir, embedded_shards, "distill.feature.weights={fitnet: 1.0, pkt: 2.0}", seed=7)
    again.load_state_dict(copy.deepcopy(state))  # another seed: the projection and all else come from the state
    d = again.epoch(EpochAction(feature_scale=0.5))
    assert c.loss == d.loss and c.feature_scale == 0.5
    torch.testing.assert_close(again.feature_kd.losses["fitnet"].proj.weight,
                               fit.feature_kd.losses["fitnet"].proj.weight,
                               rtol=0, atol=0)
    off = feature_run(teacher_dir, embedded_shards, "distill.feature.weights={fitnet: 1.0, pkt: 2.0}")
    off.load_state_dict(state)
    assert off.epoch(EpochAction(feature_scale=0.0)).loss != c.loss  # the scale reaches the loss


def test_feature_kd_without_stored_embeddings_says_how_to_fix(shards_dir, teacher_dir):
    cfg = load_config(None, run_overrides(teacher_dir, shards_dir) + ["teacher.embedding.store=true",
                                                                      "distill.feature.weights={pkt: 1.0}"])
    with pytest.raises(DataError, match="teacher.embedding.store: true and re-run `rlkd precompute`"):
        DistillationRun(cfg, load_shards(shards_dir), 0, load_data(cfg.data))


def test_feature_config_errors_name_the_key():
    with pytest.raises(ConfigError, match="teacher.embedding.store"):
        load_config(None, ["distill.feature.weights={pkt: 1.0}"])
    with pytest.raises(ConfigError, match="env.control_feature_weight"):
        load_config(None, ["env.control_feature_weight=true"])
    with pytest.raises(ConfigError, match="teacher.embedding.dim"):
        load_config(None, ["teacher.embedding.dim=300"])
    with pytest.raises(ConfigError, match="distill.feature.weights.pkt"):
        load_config(None, ["distill.feature.weights={pkt: -1}"])


def test_feature_weight_action_dimension():
    cfg = load_config(None, ["teacher.embedding.store=true", "distill.feature.weights={rkd: 1.0}",
                             "env.control_feature_weight=true"])
    dims = action_dims(cfg.env, 1)
    assert dims[-1] == "feature_weight"
    for value, scale in ((0.0, 0.0), (0.5, 1.0), (1.0, 2.0), (0.75, 1.5)):
        action = np.full(len(dims), 0.5)
        action[-1] = value
        assert decode_action(action, cfg, 1).feature_scale == pytest.approx(scale)


def test_feature_tap_layers():
    model = nn.Sequential(nn.Flatten(), nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3))
    x = torch.randn(4, 2, 3)
    head = FeatureTap(model, None, "k")
    model(x)
    torch.testing.assert_close(head.take(), torch.relu(model[1](x.flatten(1))))
    with pytest.raises(RuntimeError, match="has not run"):
        head.take()
    named = FeatureTap(model, "1", "k")
    model(x)
    torch.testing.assert_close(named.take(), model[1](x.flatten(1)))
    with pytest.raises(ConfigError, match=r"distill.feature.student_layer: the model has no layer 'fc'"):
        FeatureTap(model, "fc", "distill.feature.student_layer")
    with pytest.raises(ConfigError, match="has none; name a layer"):
        FeatureTap(nn.Sequential(nn.Conv1d(1, 2, 3)), None, "k")
