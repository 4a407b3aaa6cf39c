"""Teacher embeddings for feature-level KD: which layer, how they are projected, and the stored projection.

Embeddings come from the main teacher (teacher 0) for every (sample, view) row, fold teachers included
rows: the fold teachers' feature spaces differ from one another, so rows embedded by different folds could
not be compared inside one batch (which PKT and RKD do). A layer wider than `teacher.embedding.dim` is
projected to it by a fixed matrix, PCA fitted on the train split's identity views (up to 10,000 of them)
or a seeded Gaussian; the matrix and mean are saved beside the shards and named, with their sha256, in
the manifest, so the stored numbers can be traced back to the teacher's own features.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch
from safetensors.torch import save_file
from torch import nn

from rlkd.config import EmbeddingConfig
from rlkd.models.features import FeatureTap
from rlkd.models.io import file_sha256

PROJECTION_FILE = "embedding_projection.safetensors"
PCA_SAMPLES = 10_000


@dataclass
class EmbeddingSpec:
    """What an actor needs to embed rows: the layer, and the projection (None: stored as the layer gives it)."""

    layer: Optional[str]
    source_dim: int
    mean: Optional[np.ndarray] = None  # (source_dim,)
    matrix: Optional[np.ndarray] = None  # (source_dim, dim)

    @property
    def dim(self) -> int:
        return self.source_dim if self.matrix is None else self.matrix.shape[1]

    def project(self, features: torch.Tensor) -> torch.Tensor:
        if self.matrix is None:
            return features
        return (features - torch.from_numpy(self.mean).to(features)) @ torch.from_numpy(self.matrix).to(features)


@torch.no_grad()
def teacher_features(model: nn.Module, tap: FeatureTap, images: torch.Tensor, batch: int = 512) -> torch.Tensor:
    """(N, source_dim) float32 features of `images` at the tap's layer, in eval mode."""
    out = []
    for i in range(0, len(images), batch):
        model(images[i:i + batch])
        out.append(tap.take().cpu())
    return torch.cat(out)


def _pca(features: torch.Tensor, dim: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The top `dim` principal axes of `features`, each with a fixed sign."""
    mean = features.mean(0)
    _, _, v = torch.linalg.svd(features - mean, full_matrices=False)
    matrix = v[:dim].T
    return mean, matrix * torch.sign(matrix[matrix.abs().argmax(0), torch.arange(dim)])


def _random(features: torch.Tensor, dim: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded Gaussian matrix scaled by 1/sqrt(dim) (distances kept in expectation), no centring."""
    gen = torch.Generator().manual_seed(seed)
    source_dim = features.shape[1]
    return (torch.zeros(source_dim, dtype=torch.float64),
            torch.randn(source_dim, dim, generator=gen, dtype=torch.float64) / dim ** 0.5)


# `teacher.embedding.projection` by name: (float64 features, dim, seed) -> (mean, source_dim x dim matrix)
PROJECTIONS: dict[str, Callable[[torch.Tensor, int, int], tuple[torch.Tensor, torch.Tensor]]] = {
    "pca": _pca,  # fitted on the train split's identity views
    "random": _random,
}


def fit_embedding(cfg: EmbeddingConfig, teacher: nn.Module, train_images: torch.Tensor) -> EmbeddingSpec:
    """The layer's width from one forward; a projection fitted when the layer is wider than `cfg.dim`."""
    tap = FeatureTap(teacher, cfg.layer, "teacher.embedding.layer")
    try:
        rng = np.random.default_rng(cfg.seed)
        sample = np.sort(rng.permutation(len(train_images))[:PCA_SAMPLES])
        features = teacher_features(teacher, tap, train_images[torch.from_numpy(sample)]).double()
    finally:
        tap.remove()
    source_dim = features.shape[1]
    if cfg.dim == 0 or cfg.dim >= source_dim:
        return EmbeddingSpec(cfg.layer, source_dim)
    mean, matrix = PROJECTIONS[cfg.projection](features, cfg.dim, cfg.seed)
    return EmbeddingSpec(cfg.layer, source_dim, mean.float().numpy(), matrix.float().numpy())


def manifest_entry(cfg: EmbeddingConfig, spec: EmbeddingSpec, folder: Path) -> dict:
    """The manifest's `embedding` key; writes the projection file into `folder` when there is one."""
    entry = {"dim": spec.dim, "source_dim": spec.source_dim, "layer": spec.layer, "teacher": 0, "dtype": "float16",
             "projection": None if spec.matrix is None else cfg.projection, "seed": cfg.seed}
    if spec.matrix is not None:
        path = folder / PROJECTION_FILE
        save_file({"mean": torch.from_numpy(spec.mean), "matrix": torch.from_numpy(spec.matrix)}, str(path))
        entry.update(projection_file=PROJECTION_FILE, projection_sha256=file_sha256(path))
    return entry
