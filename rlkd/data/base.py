"""What every data source returns: three disjoint splits of inputs with a fingerprint.

Inputs are uint8 images N x C x H x W (0..255, normalised inside the model), or float32 tensors of any of
the shapes N x C x H x W (H != W allowed), N x C x L (signals) or N x F (feature vectors), passed to the
model as they are. Everything downstream (fingerprints, shards, views, built-in models, the env) follows
`input_shape`; stored augmentation views exist for images only.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property
from typing import Optional, Sequence, Union

import numpy as np
import torch
from PIL import Image
from sklearn.model_selection import train_test_split

from rlkd.config import DataConfig
from rlkd.config.checks import check
from rlkd.errors import DataError

SPLITS = ("train", "val", "test")
INPUT_DTYPES = (torch.uint8, torch.float32)


@dataclass
class Split:
    """One split. `ids` say where each sample came from, so disjointness can be checked."""

    images: torch.Tensor  # the inputs: uint8 or float32, N x C x H x W, N x C x L or N x F
    labels: torch.Tensor  # int64, N
    ids: list[str]

    def __post_init__(self) -> None:
        if self.images.dtype not in INPUT_DTYPES or not 2 <= self.images.ndim <= 4:
            raise DataError(f"inputs must be a uint8 or float32 tensor N x C x H x W, N x C x L or N x F, got "
                            f"{self.images.dtype} {tuple(self.images.shape)}")
        if (self.labels.dtype != torch.int64 or len(self.labels) != len(self.images)
            or len(self.ids) != len(self.images)):
            raise DataError("labels (int64) and ids must have one entry per image")

    def __len__(self) -> int:
        return len(self.labels)

    @cached_property
    def fingerprint(self) -> str:
        """sha256 over shape, dtype (when not uint8), inputs and labels: equal iff the split's content is equal."""
        h = hashlib.sha256()
        h.update(str(tuple(self.images.shape)).encode())
        if self.images.dtype != torch.uint8:
            h.update(str(self.images.dtype).encode())
        h.update(self.images.contiguous().numpy().tobytes())
        h.update(self.labels.numpy().astype("<i8").tobytes())
        return h.hexdigest()

    def subset(self, idx: np.ndarray) -> "Split":
        idx_t = torch.as_tensor(idx, dtype=torch.long)
        return Split(self.images[idx_t].contiguous(), self.labels[idx_t].contiguous(), [self.ids[i] for i in idx])


@dataclass
class DatasetSplits:
    train: Split
    val: Split
    test: Split
    class_names: list[str]
    name: str
    noise: dict = field(default_factory=dict)  # label noise settings and flips per split; empty: clean labels

    def __post_init__(self) -> None:
        """Every source assembles its splits here: a label outside the class range (e.g. -1, which HF datasets
        use for unlabelled samples) would otherwise surface much later as an index error in a loss."""
        for split_name in SPLITS:
            labels = self.split(split_name).labels
            bad = labels[(labels < 0) | (labels >= self.num_classes)]
            if len(bad):
                raise DataError(f"{self.name}: split {split_name!r} has labels {sorted(set(bad.tolist()))[:10]} "
                                f"outside 0..{self.num_classes - 1} ({self.num_classes} classes); -1 usually marks "
                                f"unlabelled samples: use a labelled split, or fix the labels or the class list")

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """One sample's shape: (C, H, W), (C, L) or (F,)."""
        return tuple(int(d) for d in self.train.images.shape[1:])

    @property
    def in_chans(self) -> int:
        """Channels of images and signals; 1 for feature vectors."""
        return self.input_shape[0] if len(self.input_shape) >= 2 else 1

    @property
    def is_image(self) -> bool:
        """N x C x H x W: the only inputs stored augmentation views (crops, flips) apply to."""
        return len(self.input_shape) == 3

    def split(self, name: str) -> Split:
        if name not in SPLITS:
            raise DataError(f"unknown split {name!r}; expected one of {SPLITS}")
        return getattr(self, name)

    @property
    def fingerprints(self) -> dict[str, str]:
        return {s: self.split(s).fingerprint for s in SPLITS}

    @property
    def fingerprint(self) -> str:
        """One id for the whole data set: the split fingerprints and the class names."""
        h = hashlib.sha256()
        for s, fp in self.fingerprints.items():
            h.update(f"{s}:{fp};".encode())
        h.update("|".join(self.class_names).encode())
        return h.hexdigest()

    def describe(self) -> str:
        shape = "x".join(str(d) for d in self.input_shape)
        return (f"{self.name}: {self.num_classes} classes, {shape} {str(self.train.images.dtype)[6:]}, "
                f"train {len(self.train)} / val {len(self.val)} / test {len(self.test)}")


def carve_split(split: Split, fraction: float, seed: int) -> tuple[Split, Split]:
    """Stratified (rest, carved) partition of `split`; deterministic for `seed`."""
    idx = np.arange(len(split))
    labels = split.labels.numpy()
    try:
        rest, carved = train_test_split(idx, test_size=fraction, random_state=seed, stratify=labels)
    except ValueError:  # a class with a single sample cannot be stratified
        rest, carved = train_test_split(idx, test_size=fraction, random_state=seed)
    return split.subset(np.sort(rest)), split.subset(np.sort(carved))


def pil_to_array(img: Image.Image, channels: Optional[int], image_size: Union[int, Sequence[int], None],
                 where: str) -> np.ndarray:
    """A PIL image as uint8 C x H x W: mode converted, resized and center-cropped to `image_size`.

    An int S gives S x S (shorter side to S, then the square crop); a pair (H, W) gives H x W without
    distorting the aspect (scaled until both sides fit, then the center H x W crop).
    """
    if channels is not None:
        img = img.convert("RGB" if channels == 3 else "L")
    elif img.mode not in ("RGB", "L"):
        raise DataError(f"{where}: image mode {img.mode!r} is neither RGB nor L; set data.channels to 1 or 3 "
                        f"to convert every image")
    if image_size is not None:
        out_h, out_w = (image_size, image_size) if isinstance(image_size, int) else image_size
        w, h = img.size
        scale = max(out_h / h, out_w / w)
        img = img.resize((max(out_w, round(w * scale)), max(out_h, round(h * scale))), Image.BILINEAR)
        w, h = img.size
        left, top = (w - out_w) // 2, (h - out_h) // 2
        img = img.crop((left, top, left + out_w, top + out_h))
    arr = np.asarray(img, dtype=np.uint8)
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)


def stack_images(arrays: Sequence[np.ndarray], ids: Sequence[str]) -> torch.Tensor:
    """Stack C x H x W arrays; mixed modes or sizes get an error naming the first odd sample."""
    if not arrays:
        raise DataError("no images found")
    first = arrays[0].shape
    for arr, sid in zip(arrays, ids):
        if arr.shape != first:
            what = "channels" if arr.shape[0] != first[0] else "size"
            fix = "set data.channels to 1 or 3" if what == "channels" else "set data.image_size"
            raise DataError(f"{sid}: image shape {arr.shape} differs from {ids[0]} {first} (mixed {what}); "
                            f"{fix} so every image is converted the same way")
    return torch.from_numpy(np.stack(arrays))


def check_no_decoding(cfg: DataConfig, path: str) -> None:
    """A source that hands over arrays has no image files to decode: image_size and channels stay null."""
    check(cfg.image_size is None and cfg.channels is None, f"{path}.image_size/channels",
          (cfg.image_size, cfg.channels), f"null for {cfg.source} (they say how to decode image files)")
