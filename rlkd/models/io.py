"""Weights as safetensors with JSON metadata; foreign torch files only through torch.load(weights_only=True)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import load_model, save_model
from torch import nn

from rlkd.errors import CheckpointError
from rlkd.workdir import replaced_atomically

META_KEY = "rlkd"


def save_weights(model: nn.Module, path: str | Path, meta: dict[str, Any]) -> Path:
    """Write `model`'s weights and `meta` (arch, num_classes, in_chans, data fingerprint, ...)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with replaced_atomically(path) as tmp:
        save_model(model, str(tmp), metadata={META_KEY: json.dumps(meta, sort_keys=True)})
    return path


def read_metadata(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist; run `rlkd teacher` first or fix the path")
    try:
        with safe_open(str(path), framework="pt") as fh:
            raw = (fh.metadata() or {}).get(META_KEY)
    except Exception as exc:
        raise CheckpointError(f"{path}: not a safetensors file ({exc}); rlkd never loads pickled weights") from exc
    if raw is None:
        raise CheckpointError(f"{path}: has no rlkd metadata; save it with rlkd.models.save_weights")
    try:
        meta = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path}: its rlkd metadata is not valid JSON ({exc}); the file is damaged or was "
                              f"not written by rlkd.models.save_weights: retrain it or restore a good copy") from exc
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path}: its rlkd metadata is a {type(meta).__name__}, not a mapping; the file was "
                              f"not written by rlkd.models.save_weights: retrain it or restore a good copy")
    return meta


def load_weights(model: nn.Module, path: str | Path) -> None:
    missing, unexpected = load_model(model, str(path), strict=False)
    if missing or unexpected:
        raise CheckpointError(f"{path}: weights do not fit the model (missing {sorted(missing)[:5]}, "
                              f"unexpected {sorted(unexpected)[:5]}); was it saved for another model_kwargs?")


def read_torch_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """A torch.save'd state dict read with `weights_only=True`: a pickle that would import or call anything
    beyond tensors and plain containers is refused, so a foreign weights file cannot run code."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch's own text suggests weights_only=False: not advice to pass on
        raise CheckpointError(f"{path}: torch.load(weights_only=True) refused it ({type(exc).__name__}): the file "
                              f"is damaged or its pickle needs more than tensors and plain containers, which could "
                              f"run code, and rlkd never unpickles code. Save the weights with "
                              f"torch.save(model.state_dict()) or as .safetensors") from exc
    if not (isinstance(state, dict) and state
            and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items())):
        raise CheckpointError(f"{path}: holds a {type(state).__name__}, not a state dict (parameter names -> "
                              f"tensors); save torch.save(model.state_dict()) or a .safetensors file")
    return state


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()
