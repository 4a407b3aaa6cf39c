"""Cross-fitting folds: each training sample is held out of exactly one fold teacher."""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import StratifiedKFold


def fold_assignment(labels: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Fold id (0..k-1) of every training sample; stratified by class, fixed by `seed`."""
    folds = np.empty(len(labels), dtype=np.int64)
    splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    for fold, (_, held_out) in enumerate(splitter.split(np.zeros(len(labels)), labels)):
        folds[held_out] = fold
    return folds
