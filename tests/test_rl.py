"""RLlib PPO on a tiny digits episode in a real local Ray (the session's `trained_ppo`); policies restored without
Ray. `rlkd evaluate` on that policy is checked in test_evaluate_controls.py."""

import json
import subprocess
import sys

import numpy as np
import pytest

from rlkd.cli import main
from rlkd.env import OBS_KEYS
from tests.conftest import args_for


@pytest.mark.slow
def test_ppo_two_iterations_and_checkpoint(trained_ppo):
    m = json.loads((trained_ppo / "metrics.json").read_text())
    assert [h["iteration"] for h in m["history"]] == [1, 2]
    assert all(h["env_steps_sampled"] >= 6 for h in m["history"])  # two whole 3-epoch episodes
    # the runner's two sub-envs are one CurriculumVectorEnv: each lane ran one whole episode per iteration
    assert m["rl_cost"]["episodes"] == 4 and m["rl_cost"]["samples_seen"] > 0
    assert m["history"][-1]["final_val_acc"] is not None  # the callback's metric reached the results
    assert (trained_ppo / "checkpoint" / "rlkd_config.yaml").is_file()


@pytest.mark.slow
def test_load_policy_in_fresh_process_without_ray_matches_trained_module(trained_ppo, ray_session):
    import torch
    from ray.rllib.algorithms.algorithm import Algorithm
    from ray.rllib.core.columns import Columns
    from ray.rllib.utils.spaces.space_utils import unsquash_action

    ckpt = (trained_ppo / "checkpoint").resolve()
    obs = np.linspace(0.1, 0.9, len(OBS_KEYS)).astype(np.float32)
    algo = Algorithm.from_checkpoint(str(ckpt))
    try:
        module = algo.get_module()
        with torch.no_grad():
            out = module.forward_inference({Columns.OBS: torch.as_tensor(obs)[None]})
        dist = out[Columns.ACTION_DIST_INPUTS][0].numpy()
        expected = unsquash_action(dist[: len(dist) // 2], algo.env_runner.env.single_action_space)
    finally:
        algo.stop()
    code = f"""
import json, numpy as np, ray
from rlkd.curriculum.policies import load_policy
p = load_policy({str(ckpt)!r})
a = p.raw_action(np.array({obs.tolist()}, dtype=np.float32))
act = p.act(np.array({obs.tolist()}, dtype=np.float32), 0, 3)
assert not ray.is_initialized()
print(json.dumps({{"raw": [float(x) for x in a], "difficulty": act.difficulty}}))
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180)
    assert res.returncode == 0, res.stderr
    got = json.loads(res.stdout.strip().splitlines()[-1])
    assert np.allclose(got["raw"], expected, atol=1e-6)
    assert got["difficulty"] == pytest.approx(float(np.clip(expected[0], 0, 1)), abs=1e-6)


@pytest.mark.slow
def test_resume_continues_iteration_count(trained_ppo, tmp_path, teacher_dir, shards_dir):
    out = tmp_path / "resumed"
    ckpt = trained_ppo / "checkpoint"
    assert main(args_for("train", out, teacher_dir, shards_dir, "ppo.iterations=3") + ["--resume", str(ckpt)]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert [h["iteration"] for h in m["history"]] == [3] and m["iterations"] == 3


@pytest.mark.slow
def test_apply_end_to_end(trained_ppo, tmp_path, teacher_dir, shards_dir):
    out = tmp_path / "apply"
    checkpoint = str(trained_ppo / "checkpoint")
    assert main(args_for("apply", out, teacher_dir, shards_dir) + ["--checkpoint", checkpoint]) == 0
    m = json.loads((out / "metrics.json").read_text())
    traj = json.loads((out / "trajectory.json").read_text())
    assert len(traj) == 3 and 0 <= m["test_acc_last_epoch"] <= 100 and (out / "trajectory.png").is_file()
    assert all({"action", "subset_size", "val_acc", "reward"} <= set(r) for r in traj)

