"""Label noise for benchmarking: flip a seeded, exact share of a split's labels.

Applied by `load_data` after a source has assembled its splits, so every source
gets it, the teacher stage trains on the same (noisy) train labels, and the
split fingerprints (which hash the labels) change with it: shards made from
clean data never pass for noisy data. Val stays clean by default because it is
the small trusted set the teacher is calibrated and the reward is measured on;
test always stays clean.
"""

from __future__ import annotations

from dataclasses import asdict, replace
from typing import Sequence

import numpy as np
import torch

from rlkd.config import LabelNoiseConfig
from rlkd.data.base import SPLITS, DatasetSplits, Split
from rlkd.errors import DataError


def flip_labels(labels: torch.Tensor, num_classes: int, rate: float, kind: str,
                seed: int | Sequence[int]) -> torch.Tensor:
    """A copy of `labels` with exactly round(rate * N) of them, chosen by `seed`, moved to another class.

    symmetric: each chosen label becomes a uniformly random *other* class; pairflip: y -> (y + 1) mod C
    (the class-dependent noise of Han et al. 2018). A flipped label never equals the original.
    """
    if kind not in ("symmetric", "pairflip"):
        raise ValueError(f"kind must be 'symmetric' or 'pairflip', got {kind!r}")
    rng = np.random.default_rng(seed)
    flipped = labels.clone()
    chosen = torch.from_numpy(rng.choice(len(labels), size=round(rate * len(labels)), replace=False))
    shift = torch.ones(len(chosen), dtype=labels.dtype) if kind == "pairflip" else \
        torch.from_numpy(rng.integers(1, num_classes, size=len(chosen))).to(labels.dtype)
    flipped[chosen] = (labels[chosen] + shift) % num_classes
    return flipped


def apply_label_noise(data: DatasetSplits, cfg: LabelNoiseConfig) -> DatasetSplits:
    """`data` with the configured splits' labels flipped; `noise` records the settings and realised flips."""
    if cfg.rate == 0.0:
        return data
    if data.num_classes < 2:
        raise DataError(f"data.label_noise.rate: {cfg.rate} needs at least 2 classes to flip a label to another; "
                        f"{data.name} has {data.num_classes}; set data.label_noise.rate to 0")
    splits, flipped = {}, {}
    for index, name in enumerate(SPLITS):
        split = data.split(name)
        if name in cfg.splits:
            labels = flip_labels(split.labels, data.num_classes, cfg.rate, cfg.kind, (cfg.seed, index))
            split = Split(split.images, labels, split.ids)
        splits[name] = split
        flipped[name] = int((split.labels != data.split(name).labels).sum())
    noise = {**asdict(cfg), "flipped": flipped}
    return replace(data, **splits, name=f"{data.name}+noise({cfg.kind},{cfg.rate},{'/'.join(cfg.splits)})",
                   noise=noise)
