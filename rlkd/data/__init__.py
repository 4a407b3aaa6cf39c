"""Data sources: each returns disjoint train / val / test splits of inputs (rlkd.data.base says which shapes)."""

from __future__ import annotations

from typing import Callable

from rlkd.config import DataConfig
from rlkd.data.base import SPLITS, DatasetSplits, Split, carve_split
from rlkd.data.digits import load_digits_splits
from rlkd.data.hf import load_hf_splits
from rlkd.data.imagefolder import load_imagefolder_splits
from rlkd.data.noise import apply_label_noise, flip_labels
from rlkd.data.python_source import load_python_splits

SOURCES: dict[str, Callable[[DataConfig], DatasetSplits]] = {
    "digits": load_digits_splits,
    "hf": load_hf_splits,
    "imagefolder": load_imagefolder_splits,
    "python": load_python_splits,
}


def load_data(cfg: DataConfig) -> DatasetSplits:
    """The source's splits, with `data.label_noise` applied (after assembly, so every source gets it)."""
    return apply_label_noise(SOURCES[cfg.source](cfg), cfg.label_noise)


__all__ = ["SOURCES", "SPLITS", "DatasetSplits", "Split", "carve_split", "flip_labels", "load_data"]
