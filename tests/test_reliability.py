"""Faults a user meets: Ray on loopback without the test suite's help, kills mid-stage, busy folders, shared storage."""

import ipaddress
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest

from rlkd.cli import main
from rlkd.errors import RlkdError
from rlkd.workdir import folder_lock, write_owner
from tests.conftest import run_overrides
from tests.test_pipeline import ROOT, sets

TRAIN = ["distill.epochs=2", "ppo.episodes_per_batch=1", "ppo.minibatch_size=2", "ppo.num_epochs=1", "ppo.hidden=[8]",
         "ppo.checkpoint_every=1"]


def is_loopback(ip: str) -> bool:
    addr = ipaddress.ip_address(ip.split("%")[0])
    mapped = getattr(addr, "ipv4_mapped", None)
    return (mapped or addr).is_loopback


def listening(root: psutil.Process) -> set[tuple[str, str, int]]:
    """(process name, ip, port) of every listening socket of `root` and its descendants."""
    found = set()
    for proc in [root, *root.children(recursive=True)]:
        try:
            for conn in proc.net_connections(kind="inet"):
                if conn.status == psutil.CONN_LISTEN:
                    found.add((proc.name(), conn.laddr.ip, conn.laddr.port))
        except psutil.Error:
            pass
    return found


@pytest.mark.slow
def test_rlkd_train_listens_on_loopback_only_in_a_clean_environment(tmp_path, teacher_dir, shards_dir):
    """No RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER (conftest sets it for in-process tests) and an inherited RAY_ADDRESS."""
    env = {k: v for k, v in os.environ.items() if k != "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"}
    env.update(RAY_TMPDIR=tempfile.mkdtemp(prefix="rl", dir="/tmp"), HOME=str(tmp_path), RAY_ADDRESS="127.0.0.1:9")
    args = [sys.executable, "-m", "rlkd.cli", "train", "--out", str(tmp_path / "train"),
            *sets(run_overrides(teacher_dir, shards_dir) + TRAIN + ["ppo.iterations=1", "resources.num_env_runners=1"])]
    proc = subprocess.Popen(args, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    root, seen = psutil.Process(proc.pid), set()
    while proc.poll() is None:
        seen |= listening(root)
        time.sleep(0.3)
    out, err = proc.communicate()
    assert proc.returncode == 0, err[-3000:]
    assert "ignoring RAY_ADDRESS=127.0.0.1:9" in err
    names = {name for name, _, _ in seen}
    assert {"gcs_server", "raylet"} <= names, f"Ray's processes were not observed: {sorted(names)}"
    exposed = sorted(s for s in seen if not is_loopback(s[1]))
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
