"""Inputs of any shape: the user's loader (`data.source: python`), non-square images, 1-D signals, feature
vectors, through the data layer, the built-in models, views, and the whole pipeline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from rlkd.config import load_config
from rlkd.data import load_data
from rlkd.data.base import pil_to_array
from rlkd.data.views import render_view, sample_views, view_extent
from rlkd.errors import ConfigError, DataError
from rlkd.models import build_model
from rlkd.names import check_names
from rlkd.precompute.run import check_views

ROOT = Path(__file__).resolve().parents[1]

LOADERS = '''
import numpy as np
from sklearn.datasets import load_digits


def wide_digits(pad=4):
    """Digits as float 1 x 8 x (8 + pad) images, the digit at a per-sample offset: H != W."""
    raw = load_digits()
    rng = np.random.default_rng(0)
    x = np.zeros((len(raw.images), 1, 8, 8 + pad), dtype=np.float32)
    for i, off in enumerate(rng.integers(0, pad + 1, len(raw.images))):
        x[i, 0, :, off:off + 8] = raw.images[i] / 16.0
    y = raw.target
    return {"train": (x[:1000], y[:1000]), "val": (x[1000:1300], y[1000:1300]), "test": (x[1300:], y[1300:])}


def vectors(n=300, features=6, as_tensor=False):
    """N x F float64 feature vectors of 3 classes, no val split (carved from train), no class names."""
    rng = np.random.default_rng(1)
    y = np.arange(n) % 3
    x = rng.normal(size=(n, features)) + y[:, None]
    return {"train": (x, y), "test": (x[:60], y[:60])}


def not_a_dict():
    return [1, 2]


def mixed_shapes():
    a = np.zeros((30, 1, 8), dtype=np.float32)
    return {"train": (a, np.arange(30) % 3), "test": (np.zeros((9, 1, 9), dtype=np.float32), np.arange(9) % 3)}


def five_dims():
    return {"train": (np.zeros((6, 1, 2, 2, 2)), np.arange(6) % 2), "test": (np.zeros((2, 1, 2, 2, 2)), [0, 1])}
'''


@pytest.fixture(scope="module")
def loader_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("user")
    (folder / "user_loaders.py").write_text(LOADERS)
    sys.path.insert(0, str(folder))
    yield folder
    sys.path.remove(str(folder))
    sys.modules.pop("user_loaders", None)


def python_data(loader: str, *overrides: str):
    return load_data(load_config(None, ["data.source=python", f"data.python.loader={loader}", *overrides]).data)


def test_python_loader_non_square_float_images(loader_dir):
    data = python_data("user_loaders:wide_digits", "data.python.kwargs={pad: 5}")
    assert data.input_shape == (1, 8, 13) and data.train.images.dtype == torch.float32 and data.is_image
    assert (len(data.train), len(data.val), len(data.test)) == (1000, 300, 497)
    assert data.class_names == [str(k) for k in range(10)] and data.in_chans == 1


def test_python_loader_feature_vectors_carves_val(loader_dir):
    data = python_data("user_loaders:vectors")
    assert data.input_shape == (6,) and data.in_chans == 1 and not data.is_image
    assert data.train.images.dtype == torch.float32  # float64 arrives as float32
    assert len(data.train) + len(data.val) == 300 and len(data.val) == 60  # data.val_fraction 0.2, stratified
    assert sorted(np.bincount(data.val.labels.numpy())) == [20, 20, 20]
    again = python_data("user_loaders:vectors")
    assert data.fingerprint == again.fingerprint  # deterministic


@pytest.mark.parametrize("loader,message", [
    ("user_loaders:not_a_dict", "returned a list"),
    ("user_loaders:mixed_shapes", r"\['test'\].*same per-sample shape"),
    ("user_loaders:five_dims", r"shape \(6, 1, 2, 2, 2\)"),
    ("user_loaders:nothing_here", "has no 'nothing_here'"),
])
def test_python_loader_errors_name_the_key(loader_dir, loader, message):
    with pytest.raises((DataError, ConfigError), match=message) as info:
        python_data(loader)
    assert "data.python.loader" in str(info.value)


def test_python_source_needs_a_loader():
    cfg = load_config(None, ["data.source=python"])  # the source's own keys are the source's to check
    with pytest.raises(ConfigError, match="data.python.loader"):
        check_names(cfg)
    with pytest.raises(ConfigError, match="data.python.loader"):
        load_data(cfg.data)


def test_fingerprint_tells_float_from_uint8_inputs():
    from rlkd.data.base import Split

    pixels = torch.arange(12, dtype=torch.uint8).view(3, 1, 2, 2)
    labels = torch.zeros(3, dtype=torch.int64)
    assert (Split(pixels, labels, ["a", "b", "c"]).fingerprint
            != Split(pixels.float(), labels, ["a", "b", "c"]).fingerprint)


@pytest.mark.parametrize("shape", [(2, 5, 9), (3, 17), (11,)])
def test_mlp_flattens_any_shape(shape):
    model = build_model("mlp", 4, shape[0] if len(shape) > 1 else 1, input_shape=shape, model_kwargs={"hidden": [8]})
    assert model.net[1].in_features == int(np.prod(shape))
    assert model(torch.randn(6, *shape)).shape == (6, 4)


def test_float_inputs_reach_the_network_unscaled_uint8_are_normalised():
    model = build_model("mlp", 2, 1, input_shape=(1, 3), model_kwargs={"hidden": []})
    x = torch.tensor([[[0.0, 255.0, 51.0]]])
    w, b = model.net[1].weight.detach(), model.net[1].bias.detach()
    torch.testing.assert_close(model(x), x.flatten(1) @ w.T + b)
    torch.testing.assert_close(model(x.to(torch.uint8)), (x.flatten(1) / 127.5 - 1) @ w.T + b)


def test_cnn1d_builtin_and_shape_errors():
    model = build_model("cnn1d", 5, 2, input_shape=(2, 30), model_kwargs={"width": 4})
    assert model(torch.randn(3, 2, 30)).shape == (3, 5)
    with pytest.raises(ConfigError, match=r"teacher.arch: built-in 'tiny_cnn' takes images.*\(2, 30\).*cnn1d"):
        build_model("tiny_cnn", 5, 2, input_shape=(2, 30), section="teacher")
    with pytest.raises(ConfigError, match=r"student.arch: timm model 'resnet18' takes images"):
        build_model("resnet18", 5, 2, input_shape=(2, 30), section="student")


def test_views_on_non_square_float_images():
    images = torch.rand(4, 1, 6, 10)
    views = torch.from_numpy(sample_views(4, 3, 6, 10, seed=0)).view(-1, 5)
    out = render_view(images.repeat_interleave(3, 0), views)
    assert out.dtype == torch.float32 and out.shape == (12, 1, 6, 10)
    torch.testing.assert_close(out[::3], images, rtol=0, atol=0)  # view 0: the identity, bit-exact
    flipped = torch.tensor([[0, 0, 6, 10, 1]] * 4)
    torch.testing.assert_close(render_view(images, flipped), images.flip(-1), rtol=0, atol=1e-6)


def test_signals_have_identity_views_only(loader_dir):
    assert view_extent((2, 40)) == (1, 40) and view_extent((6,)) == (1, 6) and view_extent((3, 5, 7)) == (5, 7)
    signals = torch.randn(3, 2, 40)
    assert render_view(signals, torch.tensor([[0, 0, 1, 40, 0]] * 3)) is signals
    cfg = load_config(None, ["data.source=python", "data.python.loader=user_loaders:vectors", "data.views=2"])
    with pytest.raises(DataError, match=r"data.views: 2 .*need images.*N x 6; set data.views: 1"):
        check_views(cfg, load_data(cfg.data))


def test_image_size_pair_keeps_the_aspect():
    img = Image.fromarray(np.tile(np.arange(40, dtype=np.uint8) * 6, (20, 1)))  # 20 high, 40 wide, a ramp
    out = pil_to_array(img, None, [10, 16], "ramp.png")
    assert out.shape == (1, 10, 16)
    ramp = out[0, 5].astype(int)  # scaled by 1/2 (both sides fit), then the centre 16 of 20 columns
    assert np.all(np.diff(ramp) > 0) and abs(ramp[0] - 2 * 2 * 6) <= 6
    assert pil_to_array(img, None, 10, "ramp.png").shape == (1, 10, 10)
    with pytest.raises(ConfigError, match="data.image_size"):
        load_config(None, ["data.source=imagefolder", "data.imagefolder.root=/x", "data.image_size=[10, 2]"])


def test_imagefolder_image_size_pair(tmp_path):
    for split in ("train", "test"):
        for c in ("a", "b"):
            (tmp_path / split / c).mkdir(parents=True)
            for i in range(3):
                Image.new("RGB", (30 + i, 20), (i * 40, 0, 0)).save(tmp_path / split / c / f"{i}.png")
    data = load_data(load_config(None, ["data.source=imagefolder", f"data.imagefolder.root={tmp_path}",
                                        "data.image_size=[12, 18]", "data.val_fraction=0.34"]).data)
    assert data.input_shape == (3, 12, 18) and data.train.images.dtype == torch.uint8


TINY_PIPELINE = ["teacher.epochs=2", "teacher.cross_fit=0", "distill.epochs=2", "ppo.iterations=2",
                 "ppo.episodes_per_batch=1", "ppo.minibatch_size=2", "ppo.num_epochs=1", "ppo.hidden=[8]",
                 "resources.num_env_runners=1", "resources.precompute.actors=1", "tune.recipe.samples=1",
                 "tune.recipe.grace_period=1", "tune.recipe.finalists=1"]


def run_stages(cwd: Path, work: Path, config: list[str], overrides: list[str]) -> dict:
    """teacher -> precompute -> distill -> train (2 PPO iterations, 1 remote env runner) with one scripts/launch.py
    run from `cwd`, which is on no one's PYTHONPATH: the user's modules reach Ray's workers only if rlkd ships them."""
    sets = [a for o in TINY_PIPELINE + overrides for a in ("--set", o)]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    res = subprocess.run([sys.executable, str(ROOT / "scripts" / "launch.py"), *config, "--workdir", str(work),
                          "--stage", "teacher,precompute,distill,train", *sets], cwd=cwd, env=env, capture_output=True,
                         text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "[recipe]" not in res.stdout and "[evaluate]" not in res.stdout  # the stages not named are left alone
    return {s: json.loads((work / s / "metrics.json").read_text())
            for s in ("teacher", "precompute", "distill", "train")}


def check_pipeline(metrics: dict, teacher_min: float) -> None:
    assert metrics["teacher"]["val_acc"] > teacher_min  # the teacher learned from these inputs
    assert metrics["distill"]["val_acc_last_epoch"] > 0
    history = metrics["train"]["history"]
    assert [h["iteration"] for h in history] == [1, 2] and history[-1]["env_steps_sampled"] >= 2


@pytest.mark.slow
def test_the_signals_example_runs_end_to_end_at_a_tiny_size(tmp_path):
    """examples/signals (1-D loader + 1-D CNN teacher by import path), as the README runs it, but tiny."""
    metrics = run_stages(ROOT, tmp_path / "work", ["--config", "examples/signals/config.yaml"], [
        "data.python.kwargs={train_per_class: 20, val_per_class: 10, test_per_class: 10}",
        "teacher.model_kwargs={width: 8}", "teacher.epochs=10"])
    check_pipeline(metrics, teacher_min=20.0)  # chance is 10%
    meta = json.loads((tmp_path / "work" / "precompute" / "shards" / "manifest.json").read_text())["teachers"][0]
    assert "examples.signals.models:conv_teacher" in json.dumps(meta)
