"""Faults a user meets: Ray on loopback without the test suite's help, kills mid-stage, busy folders, shared storage."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rlkd.cli import main
from rlkd.errors import RlkdError
from rlkd.workdir import folder_lock, write_owner
from tests.conftest import is_loopback, run_overrides
from tests.test_pipeline import ROOT, sets

TRAIN = ["distill.epochs=2", "ppo.episodes_per_batch=1", "ppo.minibatch_size=2", "ppo.num_epochs=1", "ppo.hidden=[8]",
         "ppo.checkpoint_every=1"]


@pytest.mark.slow
def test_rlkd_train_listens_on_loopback_only_in_a_clean_environment(clean_train):
    """No RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER (conftest sets it for in-process tests) and an inherited RAY_ADDRESS."""
    assert clean_train["returncode"] == 0, clean_train["stderr"][-3000:]
    assert "ignoring RAY_ADDRESS=127.0.0.1:9" in clean_train["stderr"]
    names = {name for name, _, _ in clean_train["sockets"]}
    assert {"gcs_server", "raylet"} <= names, f"Ray's processes were not observed: {sorted(names)}"
    exposed = sorted(s for s in clean_train["sockets"] if not is_loopback(s[1]))
    assert not exposed, f"listening beyond loopback: {exposed}"


def test_second_run_in_a_busy_folder_stops_at_once_naming_the_first(tmp_path, capsys):
    with folder_lock(tmp_path, "rlkd train"):
        assert main(["distill", "--out", str(tmp_path), "--set", "distill.epochs=1"]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path} is in use by pid {os.getpid()}" in err and "rlkd train" in err
    with pytest.raises(RlkdError, match="is in use by"):
        with folder_lock(tmp_path, "a"), folder_lock(tmp_path, "b"):
            pass


@pytest.mark.slow
def test_train_refuses_a_real_folder_at_out_checkpoint_before_training(tmp_path, teacher_dir, shards_dir, capsys):
    (tmp_path / "checkpoint").mkdir()
    assert main(["train", "--out", str(tmp_path), *sets(run_overrides(teacher_dir, shards_dir) + TRAIN)]) == 2
    assert "checkpoint is a folder, not the link" in capsys.readouterr().err
    assert not (tmp_path / "checkpoints").exists()  # stopped before any training


def test_tune_never_deletes_an_experiment_it_did_not_create(tmp_path, teacher_dir, shards_dir, ray_session, capsys):
    from rlkd.config import load_config
    from rlkd.tune.experiment import experiment_location
    from rlkd.workdir import join_uri

    out, storage = tmp_path / "tune", tmp_path / "shared"
    overrides = run_overrides(teacher_dir, shards_dir) + TRAIN + ["ppo.iterations=1", f"tune.storage_path={storage}"]
    path = Path(join_uri(*experiment_location(load_config(None, overrides), out, "rlkd_tune")))
    path.mkdir(parents=True)
    (path / "precious.txt").write_text("someone else's")
    assert main(["tune", "--out", str(out), *sets(overrides)]) == 2
    assert "deletes only what this output folder" in capsys.readouterr().err
    assert (path / "precious.txt").is_file()
    write_owner(str(path), {"out": str(tmp_path / "another-run"), "config": "x"})
    assert main(["tune", "--out", str(out), *sets(overrides)]) == 2
    assert f"made by output folder {tmp_path / 'another-run'}" in capsys.readouterr().err


def test_experiment_names_are_unique_per_output_folder_and_uris_stay_uris(tmp_path, digits_cfg):
    from rlkd.tune.experiment import experiment_location

    cfg = digits_cfg("tune.storage_path=s3://bucket/rlkd")
    storage, a = experiment_location(cfg, tmp_path / "a", "rlkd_tune")
    assert storage == "s3://bucket/rlkd"
    _, b = experiment_location(cfg, tmp_path / "b", "rlkd_tune")
    _, again = experiment_location(cfg, tmp_path / "a", "rlkd_tune")
    assert a != b and a == again


def test_failing_streak_counts_only_iterations_without_samples_and_with_runners_in_trouble():
    from rlkd.rl.ppo import failing_streak

    assert failing_streak(1, steps_sampled=0, runners_in_trouble=True) == 2  # runner down or restarted again
    assert failing_streak(2, steps_sampled=40, runners_in_trouble=True) == 0  # a lost node's runner came back
    assert failing_streak(2, steps_sampled=0, runners_in_trouble=False) == 0  # slow env, runners healthy


MALFORMED_ADDRESSES = ["host:abc", "host:", ":6379", "host:70000"]

# launch.py's main once per address, in one fresh process: {address: [exit status, stderr]}
LAUNCH_EACH_ADDRESS = """
import contextlib, io, json, runpy, sys

launch_main = runpy.run_path(sys.argv[3])["main"]
done = {}
for address in json.loads(sys.argv[1]):
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        status = launch_main(["--workdir", sys.argv[2], "--cluster", "--address", address])
    done[address] = [status, err.getvalue()]
print(json.dumps(done))
"""


@pytest.fixture(scope="module")
def malformed_launches(tmp_path_factory):
    """Not in this process: with the session's Ray up, `ensure_ray` returns before it reads the address."""
    res = subprocess.run([sys.executable, "-c", LAUNCH_EACH_ADDRESS, json.dumps(MALFORMED_ADDRESSES),
                          str(tmp_path_factory.mktemp("malformed")), str(ROOT / "scripts" / "launch.py")],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]  # nothing escaped main: no traceback, no other exit
    return json.loads(res.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.parametrize("address", MALFORMED_ADDRESSES)
def test_malformed_cluster_address_is_a_clear_error(malformed_launches, address):
    status, err = malformed_launches[address]
    assert status == 2, err[-2000:]
    assert f"Ray address {address!r} is not HOST:PORT" in err and "Traceback" not in err
