"""Logs land in the command's --out folder (TensorBoard events), none in ~/ray_results (Tune's short progress
lines: test_tune.py)."""

import json
import struct
from collections import defaultdict

import pytest

from rlkd.cli import main
from tests.conftest import run_overrides

TINY_PPO = ["distill.epochs=2", "ppo.iterations=2", "ppo.episodes_per_batch=1", "ppo.minibatch_size=2",
            "ppo.num_epochs=1", "ppo.hidden=[8]", "resources.num_env_runners=0"]
EPOCH_TAGS = {"val/acc", "train/loss", "train/subset_size", "curriculum/difficulty_target", "curriculum/fraction",
              "curriculum/subset_difficulty_mean"}


def sets(*overrides):
    return [arg for o in overrides for arg in ("--set", o)]


def read_scalars(folder):
    """{tag: [(step, value), ...]} from every TensorBoard event file under `folder` (TFRecord framing)."""
    from tensorboardX.proto import event_pb2

    scalars = defaultdict(list)
    files = sorted(folder.rglob("events.out.tfevents.*"))
    assert files, f"no event files under {folder}"
    for path in files:
        data, pos = path.read_bytes(), 0
        while pos < len(data):
            (length,) = struct.unpack("<Q", data[pos:pos + 8])
            event = event_pb2.Event.FromString(data[pos + 12:pos + 12 + length])  # after length and its crc
            pos += 12 + length + 4  # record and its crc
            for value in event.summary.value:
                scalars[value.tag].append((event.step, value.simple_value))
    return dict(scalars)


@pytest.mark.slow
def test_train_writes_tensorboard_per_iteration_and_nothing_in_home(clean_train):
    """`rlkd train` in its own process with HOME pointed at an empty folder (conftest's `clean_train`)."""
    assert clean_train["returncode"] == 0, clean_train["stderr"][-3000:]
    home, out = clean_train["home"], clean_train["out"]
    assert not (home / "ray_results").exists()
    history = json.loads((out / "metrics.json").read_text())["history"]
    scalars = read_scalars(out / "tensorboard")
    assert set(scalars) == {"episodes/return_mean", "episodes/val_acc_last_epoch", "episodes/mean_difficulty",
                            "episodes/mean_fraction", "speed/env_steps_per_s"}
    assert all([step for step, _ in points] == [1, 2] for points in scalars.values())
    for tag, key in [("episodes/return_mean", "episode_return_mean"), ("episodes/val_acc_last_epoch", "final_val_acc"),
                     ("episodes/mean_difficulty", "mean_difficulty")]:
        assert [v for _, v in scalars[tag]] == pytest.approx([h[key] for h in history], rel=1e-5)


def test_distill_writes_one_step_per_epoch_and_a_rerun_replaces_them(tmp_path, teacher_dir, shards_dir):
    out = tmp_path / "distill"
    args = ["distill", "--out", str(out), *sets(*run_overrides(teacher_dir, shards_dir), "distill.epochs=2")]
    for _ in range(2):  # the second run into the same folder must not add a second curve
        assert main(args) == 0
    m = json.loads((out / "metrics.json").read_text())
    scalars = read_scalars(out / "tensorboard")
    assert set(scalars) == EPOCH_TAGS | {"test/acc"}
    assert all([step for step, _ in points] == [1, 2] for points in scalars.values())
    assert [v for _, v in scalars["val/acc"]] == pytest.approx(m["val_acc_per_epoch"], rel=1e-6)
    assert [v for _, v in scalars["test/acc"]] == pytest.approx(m["test_acc_per_epoch"], rel=1e-6)


@pytest.mark.slow
def test_apply_writes_its_trajectory_and_last_epoch_test_acc(clean_train, tmp_path, teacher_dir, shards_dir,
                                                              ray_session):
    train_out = clean_train["out"]
    out = tmp_path / "apply"
    assert main(["apply", "--out", str(out), "--checkpoint", str(train_out / "checkpoint"),
                 *sets(*run_overrides(teacher_dir, shards_dir), *TINY_PPO)]) == 0
    m = json.loads((out / "metrics.json").read_text())
    traj = json.loads((out / "trajectory.json").read_text())
    scalars = read_scalars(out / "tensorboard")
    assert set(scalars) == EPOCH_TAGS | {"env/reward", "test/acc_last_epoch"}
    assert [step for step, _ in scalars["val/acc"]] == [1, 2]
    assert [v for _, v in scalars["env/reward"]] == pytest.approx([r["reward"] for r in traj], rel=1e-6)
    assert scalars["test/acc_last_epoch"] == [(2, pytest.approx(m["test_acc_last_epoch"], rel=1e-6))]
