"""Teacher shards: Parquet files of native Arrow types plus a `manifest.json`, and their reader.

One row per (split, sample, view):

| column | Arrow type | meaning |
|---|---|---|
| split | string | train / val / test |
| index | int64 | position of the sample in its split |
| label | int64 | class |
| view | int32 | 0 = identity view; 1..K-1 augmented (train only) |
| crop_top, crop_left, crop_height, crop_width, flip | int32 | the view (`rlkd.data.views.render_view`) |
| logits_{t} | fixed_size_list<float16 or float32>[C] | teacher t's logits for this view, after class map and / T* |
| topk_idx_{t}, topk_val_{t} | fixed_size_list<int32>[k], fixed_size_list<float16 or float32>[k] | instead of logits_{t} with `teacher.topk: k`: the k largest probabilities |
| d_conf, d_entropy | float32 | seed difficulty terms of teacher 0, from its full distribution |
| embedding | fixed_size_list<float16>[d] | with `teacher.embedding.store`: teacher 0's features of this view (rlkd.precompute.embeddings) |

Top-k rebuild (as FKD / ReLabel): p_i = topk_val for the stored classes; the
remaining mass 1 - sum(topk_val) is spread evenly over the other C - k
classes; the reader returns log p as logits, so softmax(logits) = p.

Plain pyarrow or HF `datasets` read the files without Ray.
"""  # noqa: E501  (markdown table rows cannot be wrapped)

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import torch

from rlkd.data.base import SPLITS
from rlkd.data.views import VIEW_FIELDS
from rlkd.errors import DataError
from rlkd.models.io import file_sha256

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
REDO = "re-run `rlkd precompute --force` (or delete the folder and re-run the pipeline)"


def logits_column(t: int) -> str:
    return f"logits_{t}"


def topk_columns(t: int) -> tuple[str, str]:
    return f"topk_idx_{t}", f"topk_val_{t}"


def shard_schema(num_classes: int, num_teachers: int, dtype: str, topk: int, embedding_dim: int = 0) -> pa.Schema:
    value = pa.float16() if dtype == "float16" else pa.float32()
    fields = [pa.field("split", pa.string()), pa.field("index", pa.int64()), pa.field("label", pa.int64()),
              pa.field("view", pa.int32())]
    fields += [pa.field(f, pa.int32()) for f in VIEW_FIELDS]
    for t in range(num_teachers):
        if topk:
            idx, val = topk_columns(t)
            fields += [pa.field(idx, pa.list_(pa.int32(), topk)), pa.field(val, pa.list_(value, topk))]
        else:
            fields.append(pa.field(logits_column(t), pa.list_(value, num_classes)))
    fields += [pa.field("d_conf", pa.float32()), pa.field("d_entropy", pa.float32())]
    if embedding_dim:
        fields.append(pa.field("embedding", pa.list_(pa.float16(), embedding_dim)))
    return pa.schema(fields)


def embedding_dim(manifest: dict) -> int:
    """Width of the stored teacher embeddings; 0 when the shards hold none."""
    return int((manifest.get("embedding") or {}).get("dim", 0))


def topk_to_log_probs(idx: torch.Tensor, val: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Rebuild (N, C) log-probabilities from top-k probabilities (the documented formula)."""
    val = val.float()
    k = idx.shape[1]
    rest = (1.0 - val.sum(dim=1, keepdim=True)).clamp_min(0.0) / max(num_classes - k, 1)
    probs = rest.expand(-1, num_classes).clone()
    probs.scatter_(1, idx.long(), val)
    return probs.clamp_min(1e-12).log()


# ----------------------------------------------------------------------------- manifest


def shard_entry(path: Path) -> dict:
    return {"file": path.name, "rows": pq.ParquetFile(path).metadata.num_rows, "bytes": path.stat().st_size,
            "sha256": file_sha256(path)}


def _manifest_bytes(path: Path) -> bytes:
    file = path / MANIFEST
    if not path.is_dir():
        raise DataError(f"shards folder {path} does not exist; set data.shards or run `rlkd precompute`")
    if not file.is_file():
        raise DataError(f"{path}: no {MANIFEST}, so the precompute that wrote it did not finish; {REDO}")
    return file.read_bytes()


def _bytes_digest(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def manifest_digest(path: str | Path) -> str:
    """sha256 of `manifest.json`'s bytes: one cheap id for "these shards" (the manifest holds every shard's hash)."""
    return _bytes_digest(_manifest_bytes(Path(path)))


def _required(file: Path, container: object, key: str, where: str, kind: type) -> Any:
    name = f"{where}.{key}" if where else key
    if not isinstance(container, dict) or key not in container:
        raise DataError(f"{file}: missing key {name!r}; {REDO}")
    value = container[key]
    if not isinstance(value, kind):
        raise DataError(f"{file}: {name} is {type(value).__name__}, expected {kind.__name__}; {REDO}")
    return value


def validate_manifest(file: Path, manifest: object) -> None:
    """Every key the reader and its checks use is there, so a truncated or hand-edited manifest is a DataError."""
    if not isinstance(manifest, dict):
        raise DataError(f"{file}: a JSON {type(manifest).__name__}, expected an object; {REDO}")
    if manifest.get("schema_version") != SCHEMA_VERSION:
        raise DataError(f"{file}: schema_version {manifest.get('schema_version')} but this rlkd reads "
                        f"{SCHEMA_VERSION}; {REDO}")
    for key, kind in (("num_classes", int), ("logits_dtype", str), ("topk", int), ("rows", int)):
        _required(file, manifest, key, "", kind)
    for i, teacher in enumerate(_required(file, manifest, "teachers", "", list)):
        _required(file, teacher, "checkpoint_sha256", f"teachers[{i}]", str)
    splits = _required(file, _required(file, manifest, "data", "", dict), "splits", "data", dict)
    for split in SPLITS:
        info = _required(file, splits, split, "data.splits", dict)
        _required(file, info, "fingerprint", f"data.splits.{split}", str)
        _required(file, info, "samples", f"data.splits.{split}", int)
        _required(file, info, "views", f"data.splits.{split}", int)
    for i, entry in enumerate(_required(file, manifest, "shards", "", list)):
        for key, kind in (("file", str), ("rows", int), ("bytes", int), ("sha256", str)):
            _required(file, entry, key, f"shards[{i}]", kind)
    embedding = manifest.get("embedding")
    if embedding is not None:
        for key, kind in (("dim", int), ("source_dim", int), ("dtype", str)):
            _required(file, embedding, key, "embedding", kind)
        if embedding.get("projection") is not None:
            for key in ("projection_file", "projection_sha256"):
                _required(file, embedding, key, "embedding", str)


def _parse_manifest(path: Path, raw: bytes) -> dict:
    file = path / MANIFEST
    try:
        manifest = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{file}: not valid JSON ({exc}); {REDO}") from exc
    validate_manifest(file, manifest)
    return manifest


def read_manifest(path: str | Path) -> dict:
    path = Path(path)
    return _parse_manifest(path, _manifest_bytes(path))


# (manifest digest, shard file, its stat signature) for every shard whose sha256 this process already checked.
_HASHED: set[tuple[str, str, tuple[int, int, int, int]]] = set()


def _stat_signature(file: Path) -> tuple[int, int, int, int]:
    st = file.stat()
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


def _verify_files(path: Path, manifest: dict, digest: str) -> None:
    """Every shard's size, and its sha256 once per process for a given manifest (env runners build many envs and
    `evaluate` many runs: hashing each time would cost a full read of every shard per load).

    A shard replaced or rewritten after it was hashed is hashed again when its inode, size or mtime changed; a
    same-size change that keeps all three (bit rot, or a rewrite within the file system's clock tick) is caught by
    the next process, not this one.
    """
    for entry in manifest["shards"]:
        file = path / entry["file"]
        if not file.is_file():
            raise DataError(f"{file}: listed in {MANIFEST} but missing; {REDO}")
        signature = _stat_signature(file)
        if signature[2] != entry["bytes"]:
            raise DataError(f"{file}: {signature[2]} bytes, manifest says {entry['bytes']} (truncated or "
                            f"changed); {REDO}")
        key = (digest, str(file.resolve()), signature)
        if key in _HASHED:
            continue
        if file_sha256(file) != entry["sha256"]:
            raise DataError(f"{file}: sha256 differs from {MANIFEST} (the file is corrupt or was changed); {REDO}")
        _HASHED.add(key)


def _verify_projection(path: Path, manifest: dict) -> None:
    """The embedding projection the manifest names is there, unchanged."""
    name = (manifest.get("embedding") or {}).get("projection_file")
    if name is None:
        return
    file = path / name
    if not file.is_file() or file_sha256(file) != manifest["embedding"]["projection_sha256"]:
        raise DataError(f"{file}: the embedding projection named in {MANIFEST} is missing or changed; {REDO}")


# ----------------------------------------------------------------------------- reader


@dataclass
class SplitShards:
    """One split's rows ordered by (index, view): row = index * num_views + view."""

    num_views: int
    label: torch.Tensor  # (N,) int64, one per sample
    views: torch.Tensor  # (N, V, 5) int32
    logits: torch.Tensor  # (T, N, V, C) float32: teachers' logits (log-probs where rebuilt from top-k)
    d_conf: torch.Tensor  # (N, V) float32
    d_entropy: torch.Tensor  # (N, V) float32
    embeddings: Optional[torch.Tensor] = None  # (N, V, D) float16 teacher embeddings, when stored

    def __len__(self) -> int:
        return len(self.label)


@dataclass
class TeacherShards:
    manifest: dict
    splits: dict[str, SplitShards] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return int(self.manifest["num_classes"])

    @property
    def num_teachers(self) -> int:
        return len(self.manifest["teachers"])


@dataclass
class ShardExpectation:
    """What the run needs the shards to have been made from; None skips that check."""

    data_fingerprints: Optional[dict[str, str]] = None
    teacher_sha256: Optional[list[str]] = None
    num_classes: Optional[int] = None


def _check_expectation(path: Path, manifest: dict, expect: ShardExpectation) -> None:
    if expect.data_fingerprints is not None:
        for split, fp in expect.data_fingerprints.items():
            got = manifest["data"]["splits"][split]["fingerprint"]
            if got != fp:
                raise DataError(f"{path}/{MANIFEST}: data.splits.{split}.fingerprint {got[:12]}… is not the "
                                f"configured data set's {fp[:12]}… (other data, seed or split); {REDO}")
    if expect.teacher_sha256 is not None:
        got = [t["checkpoint_sha256"] for t in manifest["teachers"]]
        if got != expect.teacher_sha256:
            raise DataError(f"{path}/{MANIFEST}: teachers {[g[:12] for g in got]} are not the configured teacher "
                            f"checkpoints {[e[:12] for e in expect.teacher_sha256]}; {REDO}")
    if expect.num_classes is not None and manifest["num_classes"] != expect.num_classes:
        raise DataError(f"{path}/{MANIFEST}: num_classes {manifest['num_classes']} but the run expects "
                        f"{expect.num_classes}; {REDO}")


def _column_matrix(table: pa.Table, name: str, width: int) -> np.ndarray:
    return table.column(name).combine_chunks().flatten().to_numpy(zero_copy_only=False).reshape(-1, width)


def _split_arrays(table: pa.Table, split: str, n: int, views: int, manifest: dict, path: Path) -> SplitShards:
    index = table.column("index").to_numpy()
    view = table.column("view").to_numpy()
    order = np.lexsort((view, index))
    expected_index = np.repeat(np.arange(n), views)
    expected_view = np.tile(np.arange(views), n)
    if len(order) != n * views or not (np.array_equal(index[order], expected_index)
                                       and np.array_equal(view[order], expected_view)):
        raise DataError(f"{path}: split {split!r} has {len(order)} rows but needs each of {n} samples x {views} "
                        f"views exactly once (rows missing or duplicated); {REDO}")
    table = table.take(pa.array(order))
    c, k, teachers = manifest["num_classes"], manifest["topk"], len(manifest["teachers"])
    logits = []
    for t in range(teachers):
        if k:
            idx_name, val_name = topk_columns(t)
            idx = torch.from_numpy(_column_matrix(table, idx_name, k).astype(np.int64))
            val = torch.from_numpy(_column_matrix(table, val_name, k).astype(np.float32))
            logits.append(topk_to_log_probs(idx, val, c))
        else:
            logits.append(torch.from_numpy(_column_matrix(table, logits_column(t), c).astype(np.float32)))
    logits_t = torch.stack(logits)
    d_conf = torch.from_numpy(table.column("d_conf").to_numpy().astype(np.float32))
    d_ent = torch.from_numpy(table.column("d_entropy").to_numpy().astype(np.float32))
    dim = embedding_dim(manifest)
    embeddings = torch.from_numpy(_column_matrix(table, "embedding", dim).copy()) if dim else None
    checked = [("logits", logits_t), ("d_conf", d_conf), ("d_entropy", d_ent)]
    for name, values in checked + ([("embedding", embeddings)] if dim else []):
        if not bool(torch.isfinite(values).all()):
            raise DataError(f"{path}: split {split!r} column {name} holds NaN or inf (a diverged teacher or a "
                            f"corrupt write); fix the teacher and {REDO}")
    view_params = np.stack([table.column(f).to_numpy() for f in VIEW_FIELDS], axis=1).astype(np.int32)
    labels = table.column("label").to_numpy()[::views]
    return SplitShards(views, torch.from_numpy(labels.astype(np.int64)),
                       torch.from_numpy(view_params.reshape(n, views, 5)), logits_t.view(teachers, n, views, c),
                       d_conf.view(n, views), d_ent.view(n, views),
                       None if embeddings is None else embeddings.view(n, views, dim))


def load_shards(path: str | Path, expect: Optional[ShardExpectation] = None) -> TeacherShards:
    """Read and verify shards: manifest keys, every shard's size and sha256 (hashed once per process, see
    `_verify_files`), schema, coverage, finiteness."""
    path = Path(path)
    raw = _manifest_bytes(path)
    manifest = _parse_manifest(path, raw)
    if expect is not None:
        _check_expectation(path, manifest, expect)
    _verify_files(path, manifest, _bytes_digest(raw))
    _verify_projection(path, manifest)
    schema = shard_schema(manifest["num_classes"], len(manifest["teachers"]),
                          manifest["logits_dtype"], manifest["topk"],
                          embedding_dim(manifest))
    tables = []
    for entry in manifest["shards"]:
        file = path / entry["file"]
        try:
            table = pq.read_table(file, memory_map=True)
        except Exception as exc:  # a corrupt footer or page
            raise DataError(f"{file}: unreadable Parquet ({exc}); {REDO}") from exc
        missing = [f.name for f in schema if f.name not in table.schema.names]
        wrong = [f"{f.name} is {table.schema.field(f.name).type}, expected {f.type}" for f in schema
                 if f.name in table.schema.names and table.schema.field(f.name).type != f.type]
        if missing or wrong:
            raise DataError(f"{file}: schema mismatch (missing {missing}; {wrong}); {REDO}")
        if table.num_rows != entry["rows"]:
            raise DataError(f"{file}: {table.num_rows} rows, manifest says {entry['rows']}; {REDO}")
        tables.append(table.select(schema.names))
    table = pa.concat_tables(tables)
    split_col = table.column("split")
    shards = TeacherShards(manifest)
    for split in SPLITS:
        info = manifest["data"]["splits"][split]
        mask = pc.equal(split_col, split)
        shards.splits[split] = _split_arrays(table.filter(mask), split, info["samples"], info["views"], manifest, path)
    return shards
