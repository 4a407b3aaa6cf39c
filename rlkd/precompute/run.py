"""`rlkd precompute`: teacher soft labels and difficulty for every (sample, view), with Ray Data.

Rows are small descriptors (split, index, label, view parameters); images and
teacher weights go to the object store once and every actor reads them from
there, so nothing but row ids moves per batch and no shared file system is
needed to read. Writing does need a path every node can reach (docs/cluster.md).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import shutil
import time
import uuid
import warnings
from pathlib import Path
from typing import Optional

import numpy as np
import pyarrow as pa
import torch

import rlkd
from rlkd.config import Config, ResourcesConfig
from rlkd.console import quiet_ray_data_console
from rlkd.data import SPLITS, DatasetSplits
from rlkd.data.shards import MANIFEST, SCHEMA_VERSION, load_shards, shard_entry
from rlkd.data.views import VIEW_FIELDS, sample_views, view_extent
from rlkd.errors import DataError
from rlkd.models.inference import resolve_device
from rlkd.precompute.embeddings import EmbeddingSpec, fit_embedding
from rlkd.precompute.embeddings import manifest_entry as embedding_entry
from rlkd.precompute.scoring import LoadedTeacher, score_rows
from rlkd.precompute.teachers import TeacherBundle
from rlkd.ray_runtime import start_ray

SHARDS_DIR = "shards"


def view_count(cfg: Config, split: str) -> int:
    """Augmented views exist for train only; val and test are scored as they are."""
    return cfg.data.views if split == "train" else 1


def check_views(cfg: Config, data: DatasetSplits) -> None:
    """Crops and flips are image augmentations: other inputs get the identity view only."""
    if cfg.data.views > 1 and not data.is_image:
        raise DataError(f"data.views: {cfg.data.views} stored views need images (N x C x H x W), but these inputs are "
                        f"{'N x ' + ' x '.join(map(str, data.input_shape))}; set data.views: 1")


def row_table(cfg: Config, data: DatasetSplits) -> pa.Table:
    """One row per (split, sample, view), views drawn from `data.view_seed`."""
    parts = []
    for split in SPLITS:
        s = data.split(split)
        k = view_count(cfg, split)
        h, w = view_extent(data.input_shape)
        views = sample_views(len(s), k, h, w, cfg.data.view_seed + SPLITS.index(split), cfg.data.view_min_scale,
                             cfg.data.view_flip).reshape(-1, 5)
        cols = {"split": pa.array([split] * len(views)), "index": pa.array(np.repeat(np.arange(len(s)), k)),
                "label": pa.array(np.repeat(s.labels.numpy(), k)),
                "view": pa.array(np.tile(np.arange(k, dtype=np.int32), len(s)))}
        cols.update({f: pa.array(views[:, i]) for i, f in enumerate(VIEW_FIELDS)})
        parts.append(pa.table(cols))
    return pa.concat_tables(parts)


def inputs_key(cfg: Config, data: DatasetSplits, bundles: list[TeacherBundle]) -> str:
    """Everything the shards depend on; equal keys mean a re-run would write the same shards."""
    d = cfg.data
    spec = {"schema": SCHEMA_VERSION, "data": data.fingerprint, "teachers": [b.sha256 for b in bundles],
            "views": [d.views, d.view_seed, d.view_min_scale, d.view_flip],
            "dtype": cfg.teacher.logits_dtype, "topk": cfg.teacher.topk,
            "embedding": dataclasses.asdict(cfg.teacher.embedding) if cfg.teacher.embedding.store else None}
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


class TeacherPredictor:
    """A Ray Data actor: loads the teachers once, then scores batches of rows."""

    def __init__(self, images, bundles, num_classes: int, dtype: str, topk: int, device: str, threads: int,
                 embedding: Optional[EmbeddingSpec] = None):
        import ray

        if threads > 0:
            torch.set_num_threads(threads)
        images = ray.get(images) if isinstance(images, ray.ObjectRef) else images
        bundles = ray.get(bundles) if isinstance(bundles, ray.ObjectRef) else bundles
        with warnings.catch_warnings():  # arrays from the object store are read-only; we only read them
            warnings.simplefilter("ignore", UserWarning)
            self.images = {k: torch.from_numpy(v) for k, v in images.items()}
        self.device = resolve_device(device)
        self.teachers = [LoadedTeacher.from_bundle(b, self.device, embedding if t == 0 else None)
                         for t, b in enumerate(bundles)]
        self.args = (num_classes, dtype, topk, self.device)

    def __call__(self, batch: dict) -> pa.Table:
        return score_rows(batch, self.images, self.teachers, *self.args)


def write_scored_rows(rows: pa.Table, images: dict[str, np.ndarray], bundles: list[TeacherBundle], num_classes: int,
                      dtype: str, topk: int, res: ResourcesConfig, folder: Path,
                      embedding: Optional[EmbeddingSpec] = None) -> None:
    """The Ray Data pipeline: row blocks -> actor pool of TeacherPredictor -> Parquet files in `folder`."""
    import ray

    quiet_ray_data_console()
    # Ray 2.60 itself puts every actor pool's map function in the object store, so its core worker logs one
    # "E ... core_worker.cc ... constructor arguments in the object store and max_restarts > 0" line per pool
    # (ray-project/ray#53727): a C++ line no Python filter reaches; say what it is before it appears
    print("precompute: Ray may log one 'E ... core_worker.cc: ... constructor arguments in the object store' line "
          "for the actor pool: harmless here (ray-project/ray#53727), the shards are verified after writing")

    batch = res.precompute.batch_size
    blocks = [rows.slice(i, batch) for i in range(0, rows.num_rows, batch)]
    gpus = res.precompute.gpus_per_actor
    ray.data.from_arrow(blocks).map_batches(
        TeacherPredictor, batch_size=batch, batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=res.precompute.actors),
        num_cpus=res.precompute.cpus_per_actor, num_gpus=gpus,
        fn_constructor_kwargs={"images": ray.put(images), "bundles": ray.put(bundles), "num_classes": num_classes,
                               "dtype": dtype, "topk": topk, "device": "cuda" if gpus > 0 else "cpu",
                               "threads": max(1, math.floor(res.precompute.cpus_per_actor)) if gpus == 0 else 1,
                               "embedding": embedding},
    ).write_parquet(str(folder), min_rows_per_file=res.precompute.rows_per_shard)


def _finish(tmp: Path, final: Path, manifest_base: dict) -> dict:
    """Name the shards, hash them, write the manifest, then move the folder into place.

    An existing `final` is renamed aside first and deleted only once the new folder is in place, so at every
    moment one complete folder exists: a kill between the two renames leaves the previous shards in
    `.<name>.old-*` next to `final` (the next run removes it); any other failure puts them back.
    """
    files = sorted(tmp.glob("*.parquet"))
    entries = []
    for i, f in enumerate(files):
        named = f.with_name(f"shard-{i:05d}.parquet")
        f.rename(named)
        entries.append(shard_entry(named))
    manifest = {**manifest_base, "rows": sum(e["rows"] for e in entries), "shards": entries}
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    if not final.exists():
        tmp.rename(final)
        return manifest
    aside = final.with_name(f".{final.name}.old-{uuid.uuid4().hex[:8]}")
    final.rename(aside)
    try:
        tmp.rename(final)
    except BaseException:
        aside.rename(final)
        raise
    shutil.rmtree(aside)
    return manifest


def _summary(final: Path, manifest: dict, seconds: float) -> dict:
    shards = load_shards(final)  # read back and hash what was written: the proof it is usable
    metrics = {"shards_path": str(final), "rows": manifest["rows"], "shards": len(manifest["shards"]),
               "megabytes": round(sum(e["bytes"] for e in manifest["shards"]) / 1e6, 3),
               "seconds_write": round(seconds, 3),
               "rows_per_s": round(manifest["rows"] / max(seconds, 1e-9), 1)}
    for split, s in shards.splits.items():
        metrics[f"{split}_d_conf_mean"] = s.d_conf.mean().item()
        metrics[f"{split}_d_conf_std"] = s.d_conf.std().item()
        metrics[f"{split}_d_entropy_std"] = s.d_entropy.std().item()
        pred = s.logits[0, :, 0].argmax(1)
        metrics[f"{split}_teacher_acc"] = 100.0 * (pred == s.label).float().mean().item()
    return metrics


def write_shards(cfg: Config, data: DatasetSplits, bundles: list[TeacherBundle], key: str,
                 final: Path) -> tuple[dict, float]:
    """Score every (split, sample, view) row into a hidden folder and publish it as `final`: (manifest, seconds)."""
    res = cfg.resources
    start_ray(cfg)
    tmp = final.with_name(f".{final.name}.tmp-{uuid.uuid4().hex[:8]}")
    final.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    emb = cfg.teacher.embedding
    try:
        spec = fit_embedding(emb, bundles[0].main.build(torch.device("cpu")), data.train.images) if emb.store else None
        write_scored_rows(row_table(cfg, data), {s: data.split(s).images.numpy() for s in SPLITS}, bundles,
                          data.num_classes, cfg.teacher.logits_dtype, cfg.teacher.topk, res, tmp, spec)
        seconds = time.perf_counter() - start
        manifest = _finish(tmp, final, {
            "schema_version": SCHEMA_VERSION, "rlkd_version": rlkd.__version__, "inputs_key": key,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "num_classes": data.num_classes, "class_names": data.class_names,
            "logits_dtype": cfg.teacher.logits_dtype, "topk": cfg.teacher.topk,
            "views": {"train": cfg.data.views, "seed": cfg.data.view_seed, "min_scale": cfg.data.view_min_scale,
                      "flip": cfg.data.view_flip},
            "teachers": [b.manifest_entry() for b in bundles],
            "embedding": None if spec is None else embedding_entry(emb, spec, tmp),
            "data": {"name": data.name, "fingerprint": data.fingerprint, "label_noise": data.noise or None,
                     "splits": {s: {"fingerprint": data.split(s).fingerprint, "samples": len(data.split(s)),
                                    "views": view_count(cfg, s)} for s in SPLITS}},
        })
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return manifest, seconds
