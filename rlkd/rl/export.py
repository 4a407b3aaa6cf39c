"""RLlib's PPO module -> the plain policy export (policy.json + policy.safetensors) that `rlkd.load_policy` reads.

Only the deterministic policy path of RLlib's default PPO torch module is exported: the actor's
encoder MLP (shared with the critic by default, `vf_share_layers`) followed by the pi head's MLP.
Its output is RLlib's ACTION_DIST_INPUTS. The export is checked against the module it came from
before it is written, so a change in RLlib's module layout fails here, not in a user's `rlkd apply`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from rlkd.config import Config, config_to_dict
from rlkd.curriculum.policy_net import ACTIVATIONS, PolicySpec, build_network, save_policy
from rlkd.env.curriculum_env import training_ranges
from rlkd.errors import CheckpointError

CHECK_OBSERVATIONS = 16  # random observations on which the export must reproduce the module
CHECK_ATOL = 1e-6


def rllib_module_dir(checkpoint: Path) -> Path:
    """Where an Algorithm checkpoint keeps the policy's RLModule (RAY_NOTES.md)."""
    from ray.rllib.core import COMPONENT_LEARNER, COMPONENT_LEARNER_GROUP, COMPONENT_RL_MODULE, DEFAULT_MODULE_ID

    return Path(checkpoint) / COMPONENT_LEARNER_GROUP / COMPONENT_LEARNER / COMPONENT_RL_MODULE / DEFAULT_MODULE_ID


def policy_path_layers(module) -> list[nn.Module]:
    """The modules RLlib's forward_inference runs to get ACTION_DIST_INPUTS, in order."""
    encoder = module.encoder
    actor = encoder.encoder if encoder.config.shared else encoder.actor_encoder
    return [*actor.net.mlp, *module.pi.net.mlp]


def layer_entry(layer: nn.Module) -> dict:
    if isinstance(layer, nn.Linear) and layer.bias is not None:
        return {"linear": [layer.in_features, layer.out_features]}
    for name, cls in ACTIVATIONS.items():
        if type(layer) is cls:
            return {"activation": name}
    raise CheckpointError(f"cannot export the policy layer {layer}: the rlkd policy format has biased linear layers "
                          f"and the activations {sorted(ACTIVATIONS)}; keep RLlib's default MLP model_config")


def space_entry(space) -> dict:
    import gymnasium as gym

    if isinstance(space, gym.spaces.Discrete):
        return {"type": "discrete", "n": int(space.n)}
    if isinstance(space, gym.spaces.Box) and space.is_bounded():
        return {"type": "box", "shape": list(space.shape), "low": space.low.tolist(), "high": space.high.tolist()}
    raise CheckpointError(f"cannot export a policy over the space {space}: rlkd exports Discrete or bounded Box spaces")


def check_reproduces(module, net: nn.Sequential, observation_space: dict) -> None:
    """Refuse an export whose outputs differ from the module's forward_inference on random observations."""
    from ray.rllib.core.columns import Columns

    rng = np.random.default_rng(0)
    shape = (CHECK_OBSERVATIONS, *observation_space["shape"])
    obs = torch.as_tensor(rng.uniform(observation_space["low"], observation_space["high"], shape), dtype=torch.float32)
    device = next(module.parameters()).device
    with torch.no_grad():
        expected = module.forward_inference({Columns.OBS: obs.to(device)})[Columns.ACTION_DIST_INPUTS].cpu()
        got = net(obs)
    if got.shape != expected.shape or not torch.allclose(got, expected, rtol=0.0, atol=CHECK_ATOL):
        raise CheckpointError(f"the exported policy does not reproduce RLlib's module (outputs {tuple(got.shape)} vs "
                              f"{tuple(expected.shape)}); RLlib's default PPO module changed: update rlkd/rl/export.py")


def export_policy(module, cfg: Config, folder: Path) -> Path:
    """Write policy.json + policy.safetensors for `module` (an RLlib default PPO torch module) into `folder`."""
    layers = policy_path_layers(module)
    spec = PolicySpec(space_entry(module.observation_space), space_entry(module.action_space),
                      [layer_entry(layer) for layer in layers], config_to_dict(cfg), training_ranges(cfg))
    net = build_network(spec.layers)
    net.load_state_dict({f"{i}.{name}": tensor.detach().cpu()
                         for i, layer in enumerate(layers) for name, tensor in layer.state_dict().items()})
    check_reproduces(module, net, spec.observation_space)
    save_policy(Path(folder), net, spec)
    return Path(folder)
