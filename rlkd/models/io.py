"""Weights as safetensors with JSON metadata: nothing is ever unpickled."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from safetensors import safe_open
from safetensors.torch import load_model, save_model
from torch import nn

from rlkd.errors import CheckpointError

META_KEY = "rlkd"


def save_weights(model: nn.Module, path: str | Path, meta: dict[str, Any]) -> Path:
    """Write `model`'s weights and `meta` (arch, num_classes, in_chans, data fingerprint, ...)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    save_model(model, str(tmp), metadata={META_KEY: json.dumps(meta, sort_keys=True)})
    tmp.replace(path)
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
    return json.loads(raw)


def load_weights(model: nn.Module, path: str | Path) -> None:
    missing, unexpected = load_model(model, str(path), strict=False)
    if missing or unexpected:
        raise CheckpointError(f"{path}: weights do not fit the model (missing {sorted(missing)[:5]}, "
                              f"unexpected {sorted(unexpected)[:5]}); was it saved for another model_kwargs?")


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()
