"""The policy export: `rlkd.load_policy` reads it with no Ray and no unpickling, and acts as RLlib's module does."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from rlkd.cli import main
from rlkd.curriculum.observation import OBS_KEYS
from rlkd.curriculum.policies import load_policy
from rlkd.errors import CheckpointError
from tests.conftest import FRACTION_ONLY, args_for

ACTION_KINDS = {"continuous": [], "discrete": FRACTION_ONLY + ["env.action=discrete", "env.control_fraction=false"]}

# a fresh interpreter where unpickling raises and Ray cannot be imported; then load and act
LOAD_WITHOUT_PICKLE_OR_RAY = """
import _pickle, json, pickle, sys

import torch


def refuse(*args, **kwargs):
    raise AssertionError("load_policy tried to unpickle")


class RefusedUnpickler:
    def __init__(self, *args, **kwargs):
        refuse()


for module in (pickle, _pickle):
    module.load, module.loads, module.Unpickler = refuse, refuse, RefusedUnpickler
torch.load = refuse
sys.modules["ray"] = None  # `import ray` now raises ImportError

import numpy as np

import rlkd

policy = rlkd.load_policy(sys.argv[1])
observations = np.array(json.loads(sys.argv[2]), dtype=np.float32)
actions = [np.asarray(policy.raw_action(obs)).tolist() for obs in observations]
difficulties = [policy.act(obs, 0, 3).difficulty for obs in observations]
print(json.dumps({"actions": actions, "difficulties": difficulties}))
"""


@pytest.fixture(scope="module", params=sorted(ACTION_KINDS))
def checkpoint(request, tmp_path_factory, teacher_dir, shards_dir, ray_session):
    """The final checkpoint folder of a tiny digits PPO run: the session's `trained_ppo` for the continuous
    action (the default), one PPO iteration of its own for the others."""
    if not ACTION_KINDS[request.param]:
        return (request.getfixturevalue("trained_ppo") / "checkpoint").resolve()
    out = tmp_path_factory.mktemp(f"train_{request.param}")
    assert main(args_for("train", out, teacher_dir, shards_dir, "ppo.iterations=1", *ACTION_KINDS[request.param])) == 0
    return (out / "checkpoint").resolve()


def rllib_actions(checkpoint, observations):
    """The deterministic actions of the checkpoint's RLlib module, computed as the RLlib-based loader did."""
    import torch
    from gymnasium.spaces import Discrete
    from ray.rllib.core.columns import Columns
    from ray.rllib.core.rl_module.rl_module import RLModule
    from ray.rllib.utils.spaces.space_utils import unsquash_action

    from rlkd.rl.export import rllib_module_dir

    module = RLModule.from_checkpoint(str(rllib_module_dir(checkpoint)))
    actions = []
    for obs in observations:
        with torch.no_grad():
            out = module.forward_inference({Columns.OBS: torch.as_tensor(obs)[None]})
        dist_inputs = out[Columns.ACTION_DIST_INPUTS][0].numpy()
        if isinstance(module.action_space, Discrete):
            actions.append(int(np.argmax(dist_inputs)))
        else:
            actions.append(unsquash_action(dist_inputs[: len(dist_inputs) // 2], module.action_space))
    return actions


@pytest.mark.slow
def test_export_loads_without_pickle_or_ray_and_matches_rllib(checkpoint):
    observations = np.random.default_rng(7).uniform(0.0, 1.0, (50, len(OBS_KEYS))).astype(np.float32)
    res = subprocess.run([sys.executable, "-c", LOAD_WITHOUT_PICKLE_OR_RAY, str(checkpoint),
                          json.dumps(observations.tolist())], capture_output=True, text=True, timeout=180)
    assert res.returncode == 0, res.stderr
    got = json.loads(res.stdout.strip().splitlines()[-1])
    expected = rllib_actions(checkpoint, observations)
    spec = json.loads((checkpoint / "policy.json").read_text())
    discrete = spec["action_space"]["type"] == "discrete"
    if discrete:
        bins = spec["rlkd_config"]["env"]["difficulty_bins"]
        assert got["actions"] == expected and all(0 <= a < bins for a in expected)
        assert got["difficulties"] == [a / (bins - 1) for a in expected]
    else:
        assert np.allclose(got["actions"], np.stack(expected), rtol=0.0, atol=1e-6)
        assert np.allclose(got["difficulties"], np.clip(np.stack(expected)[:, 0], 0, 1), rtol=0.0, atol=1e-6)
    # the deterministic path only (tanh encoder, pi head: 5 logits, or mean and log-std of 2 dims); no value head
    out_width = 5 if discrete else 2 * 5  # 5 bins, or the default's 5 action dims x (mean, log std)
    assert spec["layers"] == [{"linear": [len(OBS_KEYS), 16]}, {"activation": "tanh"}, {"linear": [16, out_width]}]


@pytest.mark.slow
def test_folder_without_export_is_a_checkpoint_error(checkpoint, tmp_path):
    bare = tmp_path / "bare"
    shutil.copytree(checkpoint, bare)
    (bare / "policy.safetensors").unlink()
    with pytest.raises(CheckpointError, match="not an rlkd policy export.*rlkd train.*only on folders you trust"):
        load_policy(bare)


@pytest.mark.slow
def test_action_space_that_disagrees_with_the_config_is_a_checkpoint_error(checkpoint, tmp_path):
    folder = tmp_path / "policy"
    folder.mkdir()
    for name in ("policy.json", "policy.safetensors"):
        shutil.copy(checkpoint / name, folder / name)
    spec = json.loads((folder / "policy.json").read_text())
    env = spec["rlkd_config"]["env"]
    if env["action"] == "discrete":
        env["difficulty_bins"] += 1
    else:
        env["control_temperature"] = True
    (folder / "policy.json").write_text(json.dumps(spec))
    with pytest.raises(CheckpointError, match="action space .* does not match"):
        load_policy(folder)
