"""A directory tree root/<split>/<class>/<image>; classes are the sorted folder names of train."""

from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image, UnidentifiedImageError

from rlkd.config import DataConfig
from rlkd.config.checks import check
from rlkd.console import progress
from rlkd.data.base import DatasetSplits, Split, carve_split, pil_to_array, stack_images
from rlkd.errors import DataError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp"}
FOLDER_NAMES = {"train": ("train",), "val": ("val", "validation"), "test": ("test",)}


def _find(root: Path, split: str) -> Path | None:
    return next((root / n for n in FOLDER_NAMES[split] if (root / n).is_dir()), None)


def _read_split(folder: Path, class_names: list[str], cfg: DataConfig) -> Split:
    files, labels = [], []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        if sub.name not in class_names:
            raise DataError(f"{sub}: class folder {sub.name!r} does not exist under train; "
                            f"every split must use the classes of train ({', '.join(class_names)})")
        for f in sorted(sub.iterdir()):
            if f.suffix.lower() in IMAGE_SUFFIXES:
                files.append(f)
                labels.append(class_names.index(sub.name))
    if not files:
        raise DataError(f"{folder}: no images (*.png, *.jpg, ...) in its class folders")
    arrays = []
    for f in progress(files, desc=f"read {folder.name}", unit="img", leave=False):
        try:
            with Image.open(f) as img:
                arrays.append(pil_to_array(img, cfg.channels, cfg.image_size, str(f)))
        except UnidentifiedImageError as exc:
            raise DataError(f"{f}: not a readable image ({exc}); remove or replace it") from exc
    ids = [str(f.relative_to(folder.parent)) for f in files]
    return Split(stack_images(arrays, ids), torch.as_tensor(labels, dtype=torch.int64), ids)


def check_imagefolder_config(cfg: DataConfig, path: str) -> None:
    check(cfg.imagefolder.root is not None, f"{path}.imagefolder.root", None,
          "a directory path when data.source is imagefolder")


def load_imagefolder_splits(cfg: DataConfig) -> DatasetSplits:
    root = Path(cfg.imagefolder.root)
    if not root.is_dir():
        raise DataError(f"data.imagefolder.root: {root} is not a directory; expected root/<split>/<class>/*.png")
    train_dir, test_dir = _find(root, "train"), _find(root, "test")
    if train_dir is None or test_dir is None:
        raise DataError(f"data.imagefolder.root: {root} needs train/ and test/ folders (val/ is optional; "
                        f"without it val is carved out of train)")
    class_names = sorted(p.name for p in train_dir.iterdir() if p.is_dir())
    train = _read_split(train_dir, class_names, cfg)
    test = _read_split(test_dir, class_names, cfg)
    val_dir = _find(root, "val")
    if val_dir is not None:
        val = _read_split(val_dir, class_names, cfg)
    else:
        train, val = carve_split(train, cfg.val_fraction, cfg.seed)
    return DatasetSplits(train, val, test, class_names, f"imagefolder:{root}")
