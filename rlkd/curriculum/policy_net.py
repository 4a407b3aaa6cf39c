"""A learned policy as plain data: policy.json (spaces, layers, rlkd config) + policy.safetensors (weights).

`rlkd.load_policy` reads policy folders that may come from someone else. RLlib's own checkpoint is a
pickle (loading it runs code from the folder), so the policy is shared as this export instead: a torch
MLP rebuilt from JSON, weights from safetensors, no Ray and nothing unpickled. `rlkd.rl.export`
writes it from RLlib's module; this module owns the format, both ways.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from torch import nn

from rlkd.errors import CheckpointError
from rlkd.models.io import load_weights, save_weights

POLICY_SPEC = "policy.json"
POLICY_WEIGHTS = "policy.safetensors"
SPEC_FORMAT = "rlkd-policy"
# 2: alpha, temperature and lr are decoded around the run the policy acts in (version 1: around the config it was
# trained with), and policy.json may record its training tasks' ranges and provenance
SPEC_VERSION = 2
ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "silu": nn.SiLU, "elu": nn.ELU}
ACTION_RULES = {  # written into policy.json for its readers; `deterministic_action` is the code
    "box": "mean = first half of the outputs, in RLlib's normalised [-1, 1]; "
           "action = clip(low + (mean + 1) * (high - low) / 2, low, high)",
    "discrete": "argmax of the outputs",
}


@dataclass(frozen=True)
class PolicySpec:
    """What policy.json holds besides its format tag: enough to rebuild the network and decode its output."""

    observation_space: dict  # {"type": "box", "shape": [...], "low": [...], "high": [...]}
    action_space: dict  # the same for a Box, or {"type": "discrete", "n": N}
    layers: list  # in order: {"linear": [in, out]} or {"activation": name}
    config: dict  # the rlkd config the policy was trained under (what its actions mean)
    # [low, high] over the training episodes' tasks of each observation key fixed for a run (d_label quantiles,
    # the teacher's val accuracy, ...): apply and distill say when a run lies outside (rlkd.curriculum.policies)
    training_ranges: dict = field(default_factory=dict)
    # how a shipped policy was made: script, command, commit, seeds, training tasks (scripts/train_pretrained.py)
    provenance: dict = field(default_factory=dict)

    def as_json(self) -> dict:
        return {"format": SPEC_FORMAT, "version": SPEC_VERSION, "observation_space": self.observation_space,
                "action_space": self.action_space, "action_rule": ACTION_RULES[self.action_space["type"]],
                "layers": self.layers, "rlkd_config": self.config, "training_ranges": self.training_ranges,
                **({"provenance": self.provenance} if self.provenance else {})}


def build_network(layers: list[dict]) -> nn.Sequential:
    """The MLP that `layers` describes; its state-dict keys are `<index>.weight` / `<index>.bias`."""
    modules = []
    for layer in layers:
        if "linear" in layer:
            modules.append(nn.Linear(*layer["linear"]))
        elif layer.get("activation") in ACTIVATIONS:
            modules.append(ACTIVATIONS[layer["activation"]]())
        else:
            raise ValueError(f"unknown layer {layer} (known: linear, activation in {sorted(ACTIVATIONS)})")
    return nn.Sequential(*modules).eval()


def describe_space(space: dict) -> str:
    """'Discrete(n)' or 'Box(shape=(...))' for messages; ValueError / KeyError when `space` is malformed."""
    if space["type"] == "discrete":
        return f"Discrete({int(space['n'])})"
    if space["type"] == "box" and np.size(space["low"]) == np.size(space["high"]) == int(np.prod(space["shape"])):
        return f"Box(shape={tuple(space['shape'])})"
    raise ValueError(f"unknown or inconsistent space {space}")


def unsquash(mean: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """RLlib's `unsquash_action` for a bounded float Box: normalised [-1, 1] -> [low, high], then clipped."""
    return np.clip(low + (mean + 1.0) * (high - low) / 2.0, low, high)


def deterministic_action(outputs: np.ndarray, action_space: dict):
    """The network's outputs (RLlib's ACTION_DIST_INPUTS) -> the action in the env's space."""
    if action_space["type"] == "discrete":
        return int(np.argmax(outputs))
    low = np.asarray(action_space["low"], dtype=np.float32)
    high = np.asarray(action_space["high"], dtype=np.float32)
    return unsquash(outputs[: low.size], low, high)


@dataclass(frozen=True)
class PolicyNetwork:
    """The deterministic policy: one observation -> one action (a Box vector or a Discrete index)."""

    net: nn.Sequential
    spec: PolicySpec

    def outputs(self, observation: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return self.net(torch.as_tensor(observation, dtype=torch.float32)[None])[0].numpy()

    def action(self, observation: np.ndarray):
        return deterministic_action(self.outputs(observation), self.spec.action_space)


def save_policy(folder: Path, net: nn.Sequential, spec: PolicySpec) -> None:
    save_weights(net, folder / POLICY_WEIGHTS, {"format": SPEC_FORMAT, "version": SPEC_VERSION})
    (folder / POLICY_SPEC).write_text(json.dumps(spec.as_json(), indent=2))


def load_policy_network(folder: Path) -> PolicyNetwork:
    """Rebuild the policy from `folder`'s export; every way the files can be wrong is a CheckpointError."""
    spec_path, weights_path = folder / POLICY_SPEC, folder / POLICY_WEIGHTS
    if not (spec_path.is_file() and weights_path.is_file()):
        raise CheckpointError(
            f"{folder}: not an rlkd policy export (needs {POLICY_SPEC} and {POLICY_WEIGHTS}); `rlkd train` and "
            f"`rlkd tune` write them beside every checkpoint, so re-save the policy with one of them (an RLlib "
            f"checkpoint alone is read only by `rlkd train --resume` and Tune's restore, which unpickle it: "
            f"use those only on folders you trust)")
    try:
        data = json.loads(spec_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{spec_path}: not valid JSON ({exc}); re-export the policy") from None
    if not isinstance(data, dict) or data.get("format") != SPEC_FORMAT:
        found = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise CheckpointError(f"{spec_path}: format {found!r} is not {SPEC_FORMAT!r}: not an rlkd policy export")
    if data.get("version") != SPEC_VERSION:
        raise CheckpointError(
            f"{spec_path}: policy format version {data.get('version')!r}, but this rlkd reads version {SPEC_VERSION} "
            f"(version 2 decodes alpha, temperature and lr around the run the policy acts in, version 1 around its "
            f"training config); re-export it from its RLlib checkpoint with this rlkd: `rlkd train --resume "
            f"CHECKPOINT --set ppo.iterations=<its iterations>` trains no further and writes the export")
    try:
        spec = PolicySpec(data["observation_space"], data["action_space"], data["layers"], data["rlkd_config"],
                          data.get("training_ranges") or {}, data.get("provenance") or {})
        for space in (spec.observation_space, spec.action_space):
            describe_space(space)  # raises on a malformed space
        net = build_network(spec.layers)
        load_weights(net, weights_path)
    except (KeyError, TypeError, ValueError, RuntimeError, SafetensorError) as exc:
        raise CheckpointError(f"{folder}: {POLICY_SPEC} and {POLICY_WEIGHTS} do not make a policy ({exc!r}); "
                              f"re-export the policy") from None
    return PolicyNetwork(net, spec)
