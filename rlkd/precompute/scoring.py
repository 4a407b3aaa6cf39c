"""Score a batch of (split, index, view) rows with every teacher: the work of one actor call.

Pure of Ray, so the plain single-process loop of the benchmark runs the very
same code as the Ray Data actors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import pyarrow as pa
import torch
from torch import nn

from rlkd.data.shards import logits_column, shard_schema, topk_columns
from rlkd.data.views import VIEW_FIELDS, render_view
from rlkd.difficulty import teacher_difficulty
from rlkd.models.features import FeatureTap
from rlkd.models.inference import map_classes
from rlkd.precompute.embeddings import EmbeddingSpec, teacher_features
from rlkd.precompute.teachers import TeacherBundle


@dataclass
class LoadedTeacher:
    main: nn.Module
    main_temperature: float
    folds: list[tuple[nn.Module, float]]
    fold_of_train: Optional[torch.Tensor]
    class_map: Optional[list[int]]
    embedding: Optional[EmbeddingSpec] = None
    tap: Optional[FeatureTap] = None  # on `main`, when this teacher's embeddings are stored

    @classmethod
    def from_bundle(cls, bundle: TeacherBundle, device: torch.device,
                    embedding: Optional[EmbeddingSpec] = None) -> "LoadedTeacher":
        folds = [(f.build(device), float(f.meta.get("temperature", 1.0))) for f in bundle.folds]
        fold_of = torch.from_numpy(bundle.fold_of_train) if bundle.fold_of_train is not None else None
        main = bundle.main.build(device)
        tap = None if embedding is None else FeatureTap(main, embedding.layer, "teacher.embedding.layer")
        return cls(main, float(bundle.main.meta.get("temperature", 1.0)), folds, fold_of,
                   bundle.main.meta.get("class_map"), embedding, tap)

    def embeddings(self, images: torch.Tensor) -> np.ndarray:
        """(N, dim) float16: the main teacher's (projected) features of every row."""
        return self.embedding.project(teacher_features(self.main, self.tap, images)).numpy().astype(np.float16)

    @torch.no_grad()
    def logits(self, images: torch.Tensor, split: np.ndarray, index: torch.Tensor) -> torch.Tensor:
        """Calibrated, class-mapped logits; a train row goes to the fold teacher that never saw it."""
        which = torch.full((len(index),), -1, dtype=torch.long)
        if self.folds:
            is_train = torch.from_numpy(split == "train")
            which[is_train] = self.fold_of_train[index[is_train]]
        out = None
        for key in torch.unique(which).tolist():
            model, temperature = (self.main, self.main_temperature) if key < 0 else self.folds[key]
            rows = (which == key).nonzero().squeeze(1)
            part = map_classes(model(images[rows.to(images.device)]).float(), self.class_map) / temperature
            if out is None:
                out = torch.empty(len(index), part.shape[1], device=part.device)
            out[rows.to(part.device)] = part
        return out.cpu()


def _fixed_list(matrix: np.ndarray, arrow_type: pa.DataType) -> pa.Array:
    flat = pa.array(matrix.reshape(-1), type=arrow_type.value_type)
    return pa.FixedSizeListArray.from_arrays(flat, matrix.shape[1])


def score_rows(rows: dict[str, np.ndarray], images: dict[str, torch.Tensor], teachers: list[LoadedTeacher],
               num_classes: int, dtype: str, topk: int, device: torch.device) -> pa.Table:
    """Rows (split, index, label, view, view params) -> a shard table with logits and difficulty."""
    split = np.asarray(rows["split"]).astype(str)
    index = torch.as_tensor(np.asarray(rows["index"]), dtype=torch.long)
    params = torch.from_numpy(np.stack([np.asarray(rows[f]) for f in VIEW_FIELDS], axis=1).astype(np.int32))
    batch = None
    for name in np.unique(split):
        sel = torch.from_numpy(np.flatnonzero(split == name))
        rendered = render_view(images[name][index[sel]].to(device), params[sel].to(device))
        if batch is None:
            batch = torch.empty((len(index), *rendered.shape[1:]), dtype=rendered.dtype, device=device)
        batch[sel.to(device)] = rendered
    embedding = teachers[0].embedding
    schema = shard_schema(num_classes, len(teachers), dtype, topk, 0 if embedding is None else embedding.dim)
    np_dtype = np.float16 if dtype == "float16" else np.float32
    columns = {"split": pa.array(split), "index": pa.array(index.numpy(), pa.int64()),
               "label": pa.array(np.asarray(rows["label"]), pa.int64()),
               "view": pa.array(np.asarray(rows["view"]), pa.int32())}
    columns.update({f: pa.array(params[:, i].numpy(), pa.int32()) for i, f in enumerate(VIEW_FIELDS)})
    for t, teacher in enumerate(teachers):
        logits = teacher.logits(batch, split, index)
        if t == 0:  # difficulty from the full distribution, before any compression
            d_conf, d_entropy = teacher_difficulty(logits)
        if topk:
            val, idx = torch.softmax(logits.double(), dim=1).topk(topk, dim=1)
            idx_name, val_name = topk_columns(t)
            columns[idx_name] = _fixed_list(idx.numpy().astype(np.int32), schema.field(idx_name).type)
            columns[val_name] = _fixed_list(val.numpy().astype(np_dtype), schema.field(val_name).type)
        else:
            name = logits_column(t)
            columns[name] = _fixed_list(logits.numpy().astype(np_dtype), schema.field(name).type)
    if embedding is not None:
        columns["embedding"] = _fixed_list(teachers[0].embeddings(batch), schema.field("embedding").type)
    columns["d_conf"] = pa.array(d_conf.numpy(), pa.float32())
    columns["d_entropy"] = pa.array(d_entropy.numpy(), pa.float32())
    return pa.table(columns, schema=schema)
