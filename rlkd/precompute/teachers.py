"""The teachers whose outputs precompute stores, shipped to Ray actors as bytes.

Weights travel through Ray's object store, not a shared file system, so actors
on other nodes need no access to the checkpoint folder. A cross-fitted teacher
brings its fold teachers and, for every train position, the fold that never saw it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from safetensors.torch import load as load_safetensors_bytes
from torch import nn

from rlkd.config import Config
from rlkd.data import DatasetSplits
from rlkd.errors import CheckpointError, ConfigError
from rlkd.models import build_model, file_sha256, read_metadata


@dataclass
class WeightsBlob:
    meta: dict
    blob: bytes

    def build(self, device: torch.device) -> nn.Module:
        m = self.meta
        model = build_model(m["arch"], m["num_classes"], m["in_chans"], input_shape=m.get("input_shape"),
                            model_kwargs=m.get("model_kwargs") or {})
        model.load_state_dict(load_safetensors_bytes(self.blob))
        return model.to(device).eval()


@dataclass
class TeacherBundle:
    """One teacher: its main model, its fold models (if cross-fitted) and what the manifest records."""

    path: str
    main: WeightsBlob
    folds: list[WeightsBlob] = field(default_factory=list)
    fold_of_train: Optional[np.ndarray] = None  # fold id per train position
    sha256: str = ""

    def manifest_entry(self) -> dict:
        m = self.main.meta
        return {"checkpoint": self.path, "checkpoint_sha256": self.sha256, "arch": m["arch"],
                "num_classes": m["num_classes"], "class_map": m.get("class_map"),
                "temperature": m.get("temperature", 1.0),
                "cross_fit": len(self.folds),
                "folds": [{"temperature": f.meta.get("temperature", 1.0), "holdout_samples": len(f.meta["holdout"])}
                          for f in self.folds]}


def _blob(path: Path) -> WeightsBlob:
    return WeightsBlob(read_metadata(path), path.read_bytes())


def load_bundle(path: str, data: DatasetSplits) -> TeacherBundle:
    file = Path(path)
    main = _blob(file)
    if main.meta.get("data_fingerprint") != data.fingerprint:
        raise CheckpointError(f"{file}: the teacher was made for another data set or split (fingerprint "
                              f"{str(main.meta.get('data_fingerprint'))[:12]}… vs {data.fingerprint[:12]}…); "
                              f"its soft labels could leak val/test — re-run `rlkd teacher` on this config")
    bundle = TeacherBundle(str(file.resolve()), main, sha256=file_sha256(file))
    if main.meta.get("folds"):
        bundle.folds = [_blob(file.parent / name) for name in main.meta["folds"]]
        fold_of = np.full(len(data.train), -1, dtype=np.int64)
        for k, fold in enumerate(bundle.folds):
            fold_of[np.asarray(fold.meta["holdout"], dtype=np.int64)] = k
        if (fold_of < 0).any():
            raise CheckpointError(f"{file}: its fold teachers' holdouts do not cover train; re-run `rlkd teacher`")
        bundle.fold_of_train = fold_of
    return bundle


def load_teacher_bundles(cfg: Config, data: DatasetSplits) -> list[TeacherBundle]:
    if cfg.teacher.checkpoint is None:
        raise ConfigError("teacher.checkpoint: not set; precompute scores data with a trained teacher — run "
                          "`rlkd teacher` first and pass --set teacher.checkpoint=.../teacher.safetensors "
                          "(scripts/launch.py wires it for you)")
    bundles = [load_bundle(p, data) for p in [cfg.teacher.checkpoint, *cfg.teacher.additional]]
    for b in bundles:
        cm = b.main.meta.get("class_map")
        width = len(cm) if cm is not None else b.main.meta["num_classes"]
        if width != data.num_classes:
            raise CheckpointError(f"{b.path}: the teacher gives {width} classes after its class map, the data has "
                                  f"{data.num_classes}")
    return bundles
