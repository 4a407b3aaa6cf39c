"""Data sources: each returns disjoint train / val / test splits of inputs (rlkd.data.base says which shapes)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from rlkd.config import DataConfig
from rlkd.data.base import SPLITS, DatasetSplits, Split, carve_split, check_no_decoding
from rlkd.data.digits import load_digits_splits
from rlkd.data.hf import check_hf_config, load_hf_splits
from rlkd.data.imagefolder import check_imagefolder_config, load_imagefolder_splits
from rlkd.data.noise import apply_label_noise, flip_labels
from rlkd.data.python_source import check_python_config, load_python_splits


@dataclass(frozen=True)
class DataSource:
    """One `data.source` name: its loader, and the check of the `data` keys it reads (ConfigError naming the
    key), run when a stage loads its config (`rlkd.names.check_names`) and again before loading."""

    load: Callable[[DataConfig], DatasetSplits]
    check: Callable[[DataConfig, str], None]
    # the data set family a config's data belongs to (its variants, e.g. noise or sizes, share it): a policy
    # applied to a family none of its training tasks came from is judged zero-shot
    family: Callable[[DataConfig], str]


SOURCES: dict[str, DataSource] = {
    "digits": DataSource(load_digits_splits, check_no_decoding, lambda cfg: "digits"),
    "hf": DataSource(load_hf_splits, check_hf_config, lambda cfg: f"hf:{cfg.hf.name or cfg.hf.path}"),
    "imagefolder": DataSource(load_imagefolder_splits, check_imagefolder_config,
                              lambda cfg: f"imagefolder:{cfg.imagefolder.root}"),
    "python": DataSource(load_python_splits, check_python_config, lambda cfg: f"python:{cfg.python.loader}"),
}


def data_family(cfg: DataConfig) -> str:
    return SOURCES[cfg.source].family(cfg)


def load_data(cfg: DataConfig) -> DatasetSplits:
    """The source's splits, with `data.label_noise` applied (after assembly, so every source gets it)."""
    source = SOURCES[cfg.source]
    source.check(cfg, "data")
    return apply_label_noise(source.load(cfg), cfg.label_noise)


__all__ = ["SOURCES", "SPLITS", "DataSource", "DatasetSplits", "Split", "carve_split", "data_family", "flip_labels",
           "load_data"]
