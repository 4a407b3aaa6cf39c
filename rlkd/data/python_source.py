"""`data.source: python`: the user's own loader, `data.python.loader: package.module:function`.

The function is called with `data.python.kwargs` and returns a mapping

    {"train": (x, y), "val": (x, y), "test": (x, y), "class_names": [...], "name": "..."}

with x an array or tensor of one of the shapes rlkd reads (N x C x H x W, N x C x L, N x F; uint8 images
stay uint8, any other dtype becomes float32) and y integer labels. "val" may be left out (it is then carved
out of train by `data.val_fraction`, stratified, seeded by `data.seed`); "class_names" and "name" are optional.
Like model factories, the module is shipped to every Ray process (rlkd.models.imported).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from rlkd.config import DataConfig
from rlkd.config.checks import check
from rlkd.data.base import SPLITS, DatasetSplits, Split, carve_split, check_no_decoding
from rlkd.errors import DataError
from rlkd.models.imported import load_callable

KEY = "data.python.loader"
SHAPES = "N x C x H x W (images), N x C x L (signals) or N x F (feature vectors)"


def _as_inputs(x: Any, where: str) -> torch.Tensor:
    try:
        arr = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    except Exception as exc:
        raise DataError(f"{where}: inputs are a {type(x).__name__} that is not array-like ({exc})") from exc
    if arr.dtype != np.uint8 and not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise DataError(f"{where}: inputs have dtype {arr.dtype}; return numbers (uint8 images or floats)")
    if not 2 <= arr.ndim <= 4:
        raise DataError(f"{where}: inputs have shape {arr.shape}; expected {SHAPES}")
    out = torch.from_numpy(np.ascontiguousarray(arr if arr.dtype == np.uint8 else arr.astype(np.float32)))
    if out.is_floating_point() and not bool(torch.isfinite(out).all()):
        raise DataError(f"{where}: inputs hold NaN or inf; clean or impute them in the loader")
    return out


def _as_labels(y: Any, n: int, where: str) -> torch.Tensor:
    arr = y.detach().cpu().numpy() if isinstance(y, torch.Tensor) else np.asarray(y)
    if arr.ndim != 1 or len(arr) != n or not np.issubdtype(arr.dtype, np.integer):
        raise DataError(f"{where}: labels must be {n} integers (one per input), got {arr.dtype} {arr.shape}")
    return torch.from_numpy(arr.astype(np.int64))


def _split(result: dict, split: str, source: str) -> Split:
    where = f"{KEY} {source} [{split!r}]"
    pair = result[split]
    if not isinstance(pair, (tuple, list)) or len(pair) != 2:
        raise DataError(f"{where}: expected an (inputs, labels) pair, got {type(pair).__name__}")
    inputs = _as_inputs(pair[0], where)
    labels = _as_labels(pair[1], len(inputs), where)
    return Split(inputs, labels, [f"{source}:{split}:{i}" for i in range(len(inputs))])


def check_python_config(cfg: DataConfig, path: str) -> None:
    check_no_decoding(cfg, path)
    check(cfg.python.loader is not None and ":" in cfg.python.loader, f"{path}.python.loader",
          cfg.python.loader, "package.module:function when data.source is python")


def load_python_splits(cfg: DataConfig) -> DatasetSplits:
    source = cfg.python.loader
    result = load_callable(source, KEY)(**cfg.python.kwargs)
    if not isinstance(result, dict):
        raise DataError(f"{KEY}: {source} returned a {type(result).__name__}; return a dict with 'train', 'test' "
                        f"(and optionally 'val', 'class_names', 'name')")
    unknown = set(result) - {*SPLITS, "class_names", "name"}
    missing = [s for s in ("train", "test") if s not in result]
    if missing or unknown:
        raise DataError(f"{KEY}: {source} returned keys {sorted(result)}; missing {missing}, unknown "
                        f"{sorted(unknown)}; expected 'train', 'test', optional 'val', 'class_names', 'name'")
    splits = {s: _split(result, s, source) for s in SPLITS if s in result}
    if "val" not in splits:
        splits["train"], splits["val"] = carve_split(splits["train"], cfg.val_fraction, cfg.seed)
    first = splits["train"].images
    for name, split in splits.items():
        if split.images.shape[1:] != first.shape[1:] or split.images.dtype != first.dtype:
            raise DataError(f"{KEY} {source} [{name!r}]: inputs are {split.images.dtype} "
                            f"{tuple(split.images.shape)}, train's are {first.dtype} {tuple(first.shape)}; every "
                            f"split needs the same per-sample shape and dtype")
    top = max(int(s.labels.max()) for s in splits.values() if len(s))
    names = [str(c) for c in result.get("class_names") or range(top + 1)]
    return DatasetSplits(splits["train"], splits["val"], splits["test"], names, str(result.get("name", source)))
