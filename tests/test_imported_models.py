"""Models by import path ("package.module:factory"): clear errors, and the user's module in every Ray process."""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import torch

from rlkd.errors import ConfigError
from rlkd.models import build_model
from rlkd.models.imported import load_callable, runtime_modules
from tests.test_inputs import LOADERS, TINY_PIPELINE

ROOT = Path(__file__).resolve().parent.parent

USER_MODELS = '''
"""A user's own models, outside rlkd and outside site-packages."""
from torch import nn


def small_cnn(num_classes, in_chans, input_shape, width=8):
    return nn.Sequential(nn.Conv2d(in_chans, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(16 * width, num_classes))


def small_mlp(num_classes, in_chans, input_shape, hidden=16):
    c, h, w = input_shape
    return nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, hidden), nn.ReLU(), nn.Linear(hidden, num_classes))


def broken(num_classes, in_chans, input_shape):
    raise ValueError("no weights here")


NOT_A_FACTORY = 3
'''


@pytest.fixture(scope="module")
def user_dir():
    folder = Path(tempfile.mkdtemp(prefix="rlkd-user-"))
    (folder / "user_models.py").write_text(USER_MODELS)
    sys.path.insert(0, str(folder))
    yield folder
    sys.path.remove(str(folder))
    sys.modules.pop("user_models", None)


def test_a_factory_builds_a_uint8_classifier_with_its_kwargs(user_dir):
    model = build_model("user_models:small_mlp", 10, 1, input_shape=(1, 12, 12), model_kwargs={"hidden": 7},
                        section="student")
    assert model.net[1].out_features == 7
    assert model(torch.zeros(2, 1, 12, 12, dtype=torch.uint8)).shape == (2, 10)
    assert [m.__name__ for m in runtime_modules([("student.arch", "user_models:small_mlp"),
                                                 ("teacher.arch", "tiny_cnn")])] == ["user_models"]
    assert runtime_modules([("student.arch", "torch.nn:Linear")]) == []  # installed packages are not shipped


@pytest.mark.parametrize("path, says", [
    ("no_such_pkg.models:net", "cannot import 'no_such_pkg.models'"),
    ("user_models:missing", "module 'user_models' has no 'missing'"),
    ("user_models:NOT_A_FACTORY", "is a int, not a callable"),
    ("user_models:", "is not an import path"),
])
def test_a_bad_import_path_names_the_key_and_the_path(user_dir, path, says):
    with pytest.raises(ConfigError, match="student.arch") as err:
        load_callable(path, "student.arch")
    assert says in str(err.value)


def test_a_factory_that_fails_is_named(user_dir):
    with pytest.raises(ConfigError, match=r"teacher.arch: user_models:broken raised ValueError: no weights here"):
        build_model("user_models:broken", 10, 1, input_shape=(1, 12, 12), section="teacher")
    with pytest.raises(ConfigError, match=r"must take \(num_classes, in_chans, input_shape, \*\*model_kwargs\)"):
        build_model("user_models:small_mlp", 10, 1, input_shape=(1, 12, 12), model_kwargs={"depth": 2},
                    section="student")


@pytest.mark.slow
def test_a_bad_import_path_is_exit_2_naming_it(tmp_path):
    res = subprocess.run([sys.executable, "-m", "rlkd.cli", "teacher", "--out", str(tmp_path),
                          "--set", "teacher.arch=no_such_pkg.models:net"], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 2, res.stderr[-2000:]
    assert "teacher.arch: cannot import 'no_such_pkg.models'" in res.stderr and "Traceback" not in res.stderr


# the user's folder is on the driver's sys.path only (not PYTHONPATH, which Ray's workers would inherit)
DRIVER = """
import runpy, sys
sys.path.insert(0, sys.argv.pop(1))
sys.argv[0] = sys.argv[1]
runpy.run_path(sys.argv.pop(1), run_name="__main__")
"""


@pytest.mark.slow
def test_a_users_loader_and_models_run_in_ray_data_actors_and_remote_env_runners(user_dir, tmp_path):
    """The user's loader (non-square float images) and models by import path, through the pipeline's Ray stages."""
    (user_dir / "user_loaders.py").write_text(LOADERS)
    work = tmp_path / "work"
    overrides = TINY_PIPELINE + ["data.source=python", "data.python.loader=user_loaders:wide_digits", "data.views=2",
                                 "teacher.arch=user_models:small_cnn", "student.arch=user_models:small_mlp",
                                 "student.model_kwargs={}"]
    sets = [a for o in overrides for a in ("--set", o)]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    stages = "train,distill,precompute,teacher"  # run in pipeline order whatever the order
    res = subprocess.run([sys.executable, "-c", DRIVER, str(user_dir), str(ROOT / "scripts" / "launch.py"),
                          "--workdir", str(work), "--stage", stages, *sets], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    assert [line.split("]")[0] for line in res.stdout.splitlines() if "] running into" in line] == \
        ["[teacher", "[precompute", "[distill", "[train"]  # and the stages not named are left alone
    metrics = {s: json.loads((work / s / "metrics.json").read_text()) for s in ("teacher", "distill", "train")}
    assert metrics["teacher"]["val_acc"] > 30.0  # the teacher learned from these inputs (chance is 10%)
    assert metrics["distill"]["val_acc_last_epoch"] > 0
    manifest = json.loads((work / "precompute" / "shards" / "manifest.json").read_text())
    assert "user_models:small_cnn" in json.dumps(manifest)  # the actors built the teacher from its import path
    assert manifest["data"]["splits"]["train"]["views"] == 2  # crops and flips of 8 x 12 float images
    history = metrics["train"]["history"]
    assert [h["iteration"] for h in history] == [1, 2] and history[-1]["env_steps_sampled"] >= 2
