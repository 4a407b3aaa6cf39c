"""The policies rlkd ships (rlkd/policies/<name>/): package data, loaded with no pickle and no Ray, made by a
script whose command, commit and seeds they record, and able to act in a run of every task family."""

import json
import re
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from rlkd.config import episode_configs, load_config
from rlkd.config.paths import BUILTIN_POLICIES, builtin_names
from rlkd.curriculum.policies import load_policy
from tests.test_pipeline import ROOT

SHIPPED = sorted(d.name for d in BUILTIN_POLICIES.iterdir() if (d / "policy.json").is_file())


def test_rlkd_ships_a_policy_trained_across_families():
    assert "families-v1" in SHIPPED and set(SHIPPED) <= set(builtin_names())


@pytest.mark.parametrize("name", SHIPPED)
def test_a_shipped_policy_records_the_script_commit_and_seeds_that_made_it(name):
    made = json.loads((BUILTIN_POLICIES / name / "policy.json").read_text())["provenance"]
    assert made["script"] == "scripts/train_pretrained.py" and (ROOT / made["script"]).is_file()
    assert made["command"].startswith("python scripts/train_pretrained.py") and f"--name {name}" in made["command"]
    assert re.fullmatch(r"[0-9a-f]{40}", made["commit"]), made["commit"]  # a clean tree: no '+dirty'
    assert {"ppo.seed", "env.seed", "teacher.seed", "data.seed", "seeds.choice"} <= made["seeds"].keys()
    trained = load_policy(BUILTIN_POLICIES / name).cfg
    assert [t["name"] for t in made["tasks"]] == [t.name for t in trained.env.tasks]
    assert made["rl_cost"]["episodes"] > 0 and made["families"]


@pytest.mark.parametrize("name", SHIPPED)
def test_a_shipped_policy_loads_with_no_pickle_and_no_ray(name):
    code = ("import pickle, sys, torch\n"
            "def refuse(*a, **k): raise AssertionError('unpickling')\n"
            "pickle.load = pickle.loads = torch.load = refuse\n"
            "pickle.Unpickler = refuse\n"
            "from rlkd.config import load_config\n"
            f"cfg = load_config(None, ['curriculum.policy=builtin:{name}'])\n"
            "from rlkd.curriculum.policies import load_policy\n"
            "policy = load_policy(cfg.curriculum.policy)\n"
            "assert not any(m == 'ray' or m.startswith('ray.') for m in sys.modules), 'ray imported'\n"
            "print(len(policy.observation_keys))\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout) == load_policy(BUILTIN_POLICIES / name).network.spec.observation_space["shape"][0]


@pytest.mark.parametrize("name", SHIPPED)
@pytest.mark.parametrize("family", ["digits", "signals", "tabular"])
def test_a_shipped_policy_acts_in_a_run_of_every_family(name, family):
    policy = load_policy(BUILTIN_POLICIES / name)
    ranges = policy.network.spec.training_ranges
    assert ranges, "the export records what its training tasks' runs observed"
    rng = np.random.default_rng(0)
    for task, _, run_cfg in episode_configs(load_config(ROOT / "tune_configs" / "families" / f"{family}.yaml")):
        acting = policy.acting_in(run_cfg)
        space = policy.network.spec.observation_space
        for _ in range(4):
            observation = rng.uniform(space["low"], space["high"]).astype(np.float32)
            action = acting.act(observation, 0, run_cfg.distill.epochs)
            assert 0.0 <= action.difficulty <= 1.0 and run_cfg.env.min_fraction <= action.fraction <= 1.0, task
            assert 0.1 - 1e-6 <= action.lr_scale <= 10 + 1e-6, task  # a factor on the run's own lr


@pytest.mark.slow
def test_the_built_wheel_holds_every_shipped_policy(tmp_path):
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w",
                            str(tmp_path), str(ROOT)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = tmp_path.glob("rlkd-*.whl")
    files = set(zipfile.ZipFile(wheel).namelist())
    for name in SHIPPED:
        assert {f"rlkd/policies/{name}/policy.json", f"rlkd/policies/{name}/policy.safetensors"} <= files, name


def test_rlkd_distill_runs_the_shipped_policy_on_a_config_without_its_switches(tmp_path, teacher_dir, shards_dir):
    """A user's own config (the default: no lr_scale dimension, no task keys): no RL, no Ray, one command."""
    from rlkd.cli import main
    from tests.conftest import args_for

    out = tmp_path / "distill"
    assert load_config().env.control_lr_scale is False
    assert main(args_for("distill", out, teacher_dir, shards_dir, "distill.alpha=0.3")
                + ["--curriculum", "policy:builtin:families-v1"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["policy"] == str(BUILTIN_POLICIES / "families-v1")
    actions = [row["action"] for row in json.loads((out / "trajectory.json").read_text())]
    assert actions and all(0.1 - 1e-6 <= a["lr_scale"] <= 10 + 1e-6 for a in actions)  # its own dimensions
    assert all(0.0 <= a["alpha"] <= 1.0 for a in actions) and metrics["test_acc_last_epoch"] > 0
