"""Test-wide settings: every Ray process stays on 127.0.0.1 and writes under a temp dir."""

import os
import tempfile

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
