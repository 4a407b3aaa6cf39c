"""Hugging Face `datasets` by hub name (`load_dataset`) or from a `save_to_disk` folder."""

from __future__ import annotations

from pathlib import Path

import torch

from rlkd.config import DataConfig
from rlkd.config.checks import check
from rlkd.console import progress
from rlkd.data.base import DatasetSplits, Split, carve_split, pil_to_array, stack_images
from rlkd.errors import DataError


def _open(cfg: DataConfig):
    import datasets

    hf = cfg.hf
    if hf.path is not None:
        if not Path(hf.path).exists():
            raise DataError(f"data.hf.path: {hf.path} does not exist; point it at a folder written by "
                            f"Dataset(Dict).save_to_disk, or use data.hf.name for a hub dataset")
        return datasets.load_from_disk(hf.path), hf.path
    try:
        return datasets.load_dataset(hf.name, hf.config_name, data_dir=hf.data_dir), hf.name
    except Exception as exc:  # network, missing dataset, bad config name: all end here
        raise DataError(f"data.hf.name: could not load {hf.name!r} ({type(exc).__name__}: {exc}); check the name, "
                        f"the network or HF_DATASETS_OFFLINE, or save it once and use data.hf.path") from exc


def _class_names(ds, label_column: str, labels: torch.Tensor) -> list[str]:
    feature = ds.features[label_column]
    names = getattr(feature, "names", None)
    if names:
        return list(names)
    return [str(i) for i in range(int(labels.max()) + 1)]


def _convert(ds, split_name: str, cfg: DataConfig, where: str) -> Split:
    hf = cfg.hf
    for col in (hf.image_column, hf.label_column):
        if col not in ds.column_names:
            key = "image_column" if col == hf.image_column else "label_column"
            raise DataError(f"{where} split {split_name!r} has no column {col!r} (data.hf.{key}); "
                            f"its columns are {ds.column_names}")
    ids = [f"{where}:{split_name}:{i}" for i in range(len(ds))]
    arrays = [pil_to_array(row[hf.image_column], cfg.channels, cfg.image_size, ids[i])
              for i, row in enumerate(progress(ds, desc=f"decode {split_name}", unit="img", leave=False))]
    labels = torch.as_tensor(ds[hf.label_column], dtype=torch.int64)
    return Split(stack_images(arrays, ids), labels, ids)


def check_hf_config(cfg: DataConfig, path: str) -> None:
    check((cfg.hf.name is None) != (cfg.hf.path is None), f"{path}.hf.name/{path}.hf.path",
          (cfg.hf.name, cfg.hf.path), "exactly one of name (hub id) or path (local folder)")


def load_hf_splits(cfg: DataConfig) -> DatasetSplits:
    hf = cfg.hf
    dsd, where = _open(cfg)
    available = list(dsd.keys()) if hasattr(dsd, "keys") else []
    for key, name in (("train_split", hf.train_split), ("test_split", hf.test_split)):
        if name not in available:
            raise DataError(f"data.hf.{key}: {where} has no split {name!r}; its splits are {available}")
    train = _convert(dsd[hf.train_split], hf.train_split, cfg, where)
    test = _convert(dsd[hf.test_split], hf.test_split, cfg, where)
    if hf.val_split is not None and hf.val_split in available:
        val = _convert(dsd[hf.val_split], hf.val_split, cfg, where)
    else:  # never carve val out of test: the test split stays untouched
        train, val = carve_split(train, cfg.val_fraction, cfg.seed)
    names = _class_names(dsd[hf.train_split], hf.label_column, train.labels)
    return DatasetSplits(train, val, test, names, f"hf:{where}")
