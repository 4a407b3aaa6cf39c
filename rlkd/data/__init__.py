"""Data sources: each returns disjoint train / val / test splits of uint8 images."""

from __future__ import annotations

from typing import Callable

from rlkd.config import DataConfig
from rlkd.data.base import SPLITS, DatasetSplits, Split, carve_split
from rlkd.data.digits import load_digits_splits
from rlkd.data.hf import load_hf_splits
from rlkd.data.imagefolder import load_imagefolder_splits

SOURCES: dict[str, Callable[[DataConfig], DatasetSplits]] = {
    "digits": load_digits_splits,
    "hf": load_hf_splits,
    "imagefolder": load_imagefolder_splits,
}


def load_data(cfg: DataConfig) -> DatasetSplits:
    return SOURCES[cfg.source](cfg)


__all__ = ["SOURCES", "SPLITS", "DatasetSplits", "Split", "carve_split", "load_data"]
