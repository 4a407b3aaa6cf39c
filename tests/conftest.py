"""Test-wide settings: every Ray process stays on 127.0.0.1 and writes under a temp dir."""

import ipaddress
import os
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("RAY_TMPDIR", tempfile.mkdtemp(prefix="rlkd-ray-"))
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest  # noqa: E402

from rlkd.config import load_config  # noqa: E402


@pytest.fixture
def digits_cfg():
    """The shipped default config, shortened where a test only needs it to run."""
    return lambda *overrides: load_config(None, list(overrides))


SMALL_TEACHER = ["teacher.epochs=6", "teacher.cross_fit=2"]
# the action is (difficulty, fraction) only: the default's alpha / mix / sampler switches off
FRACTION_ONLY = ["env.control_alpha=false", "env.control_mix=false", "env.control_sampler=false"]
SMALL_PRECOMPUTE = ["data.views=2", "resources.precompute.actors=2", "resources.precompute.batch_size=256",
                    "resources.precompute.rows_per_shard=1000"]


@pytest.fixture(scope="session")
def ray_session():
    """One embedded local Ray for the whole test session (on 127.0.0.1, see the top of this file)."""
    yield
    import ray

    ray.shutdown()


@pytest.fixture(scope="session")
def teacher_dir(tmp_path_factory):
    """A quickly trained, cross-fitted digits teacher (2 folds)."""
    from rlkd.stages import STAGES, execute

    out = tmp_path_factory.mktemp("teacher")
    execute(STAGES["teacher"], load_config(None, SMALL_TEACHER), out)
    return out


@pytest.fixture(scope="session")
def shards_dir(tmp_path_factory, teacher_dir, ray_session):
    """Digits shards with 2 views per training sample, written by 2 Ray Data actors."""
    from rlkd.stages import STAGES, execute

    out = tmp_path_factory.mktemp("pre")
    execute(STAGES["precompute"], load_config(None, run_overrides(teacher_dir)), out)
    return out / "shards"


@pytest.fixture(scope="session")
def trained_ppo(tmp_path_factory, teacher_dir, shards_dir, ray_session):
    """One tiny `rlkd train` (2 PPO iterations of two 3-epoch episodes, stepped as one population of 2 students):
    every test that only needs *a* trained policy (resume, apply, evaluate, export) reads its `checkpoint`
    instead of training its own."""
    from rlkd.cli import main

    out = tmp_path_factory.mktemp("train")
    assert main(args_for("train", out, teacher_dir, shards_dir, *POPULATION_OF_TWO)) == 0
    return out


@pytest.fixture(scope="session")
def clean_train(tmp_path_factory, teacher_dir, shards_dir):
    """One `rlkd train` (2 PPO iterations, 1 remote env runner) started as a user starts it: none of this suite's
    environment (no RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER), HOME an empty folder (Ray reads it at import), and an
    inherited RAY_ADDRESS it must ignore. Every listening socket of its process tree is recorded while it runs.
    The loopback test (test_reliability.py) and the log tests (test_logs.py) read this one run."""
    import psutil

    root = tmp_path_factory.mktemp("clean_train")
    home, out = root / "home", root / "train"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"}
    env.update(RAY_TMPDIR=tempfile.mkdtemp(prefix="rl", dir="/tmp"), HOME=str(home), RAY_ADDRESS="127.0.0.1:9")
    args = [sys.executable, "-m", "rlkd.cli", "train", "--out", str(out)]
    for o in run_overrides(teacher_dir, shards_dir) + CLEAN_TRAIN_PPO:
        args += ["--set", o]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    tree, sockets = psutil.Process(proc.pid), set()
    while proc.poll() is None:
        sockets |= listening(tree)
        time.sleep(0.3)
    stdout, stderr = proc.communicate()
    return {"returncode": proc.returncode, "stdout": stdout, "stderr": stderr, "home": home, "out": out,
            "sockets": sockets}


CLEAN_TRAIN_PPO = ["distill.epochs=2", "ppo.iterations=2", "ppo.episodes_per_batch=1", "ppo.minibatch_size=2",
                   "ppo.num_epochs=1", "ppo.hidden=[8]", "resources.num_env_runners=1"]


def listening(root) -> set[tuple[str, str, int]]:
    """(process name, ip, port) of every listening socket of the psutil.Process `root` and its descendants."""
    import psutil

    found = set()
    for proc in [root, *root.children(recursive=True)]:
        try:
            for conn in proc.net_connections(kind="inet"):
                if conn.status == psutil.CONN_LISTEN:
                    found.add((proc.name(), conn.laddr.ip, conn.laddr.port))
        except psutil.Error:
            pass
    return found


def is_loopback(ip: str) -> bool:
    addr = ipaddress.ip_address(ip.split("%")[0])
    mapped = getattr(addr, "ipv4_mapped", None)
    return (mapped or addr).is_loopback


POPULATION_OF_TWO = ["resources.num_envs_per_env_runner=2"]  # the env runner's 2 sub-envs: one CurriculumVectorEnv
TINY_PPO = ["distill.epochs=3", "ppo.iterations=2", "ppo.episodes_per_batch=2", "ppo.minibatch_size=6",
            "ppo.num_epochs=2", "ppo.hidden=[16]", "resources.num_env_runners=0"]


def args_for(command, out, teacher_dir, shards_dir, *extra):
    """`rlkd COMMAND --out OUT` on the session's teacher and shards with TINY_PPO, then `extra` overrides."""
    args = [command, "--out", str(out)]
    for o in run_overrides(teacher_dir, shards_dir) + TINY_PPO + list(extra):
        args += ["--set", o]
    return args


def run_overrides(teacher_dir, shards_dir=None):
    """Config overrides that point a run at the session's teacher (and shards)."""
    extra = [f"teacher.checkpoint={teacher_dir / 'teacher.safetensors'}"]
    if shards_dir is not None:
        extra.append(f"data.shards={shards_dir}")
    return SMALL_TEACHER + SMALL_PRECOMPUTE + extra
