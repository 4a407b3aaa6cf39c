"""A tabular classification task made here with scikit-learn (no download): feature vectors N x F.

`make_classification` puts each class on several Gaussian clusters in a few informative directions, the
other features noise or mixtures of those: a wide MLP teacher separates the clusters, a narrow student has
to learn them from fewer units. Features are standardised with the train split's mean and spread.
"""

from __future__ import annotations

import numpy as np
from sklearn.datasets import make_classification


def load_tabular(train: int = 1500, val: int = 500, test: int = 1000, features: int = 20, informative: int = 8,
                 classes: int = 5, clusters: int = 3, class_sep: float = 1.0, seed: int = 0) -> dict:
    """rlkd's `data.source: python` contract: (inputs, labels) per split, class names, a name. Label noise is
    rlkd's `data.label_noise` (train only), not sklearn's flip_y, which would flip test labels too."""
    x, y = make_classification(n_samples=train + val + test, n_features=features, n_informative=informative,
                               n_redundant=min(2, features - informative), n_classes=classes,
                               n_clusters_per_class=clusters, class_sep=class_sep, flip_y=0.0, random_state=seed)
    x = x.astype(np.float32)
    mean, std = x[:train].mean(0), x[:train].std(0) + 1e-6
    x = (x - mean) / std
    cut = np.cumsum([train, val])
    parts = np.split(np.arange(len(y)), cut)
    return {
        "train": (x[parts[0]], y[parts[0]]), "val": (x[parts[1]], y[parts[1]]), "test": (x[parts[2]], y[parts[2]]),
        "class_names": [f"class{k}" for k in range(classes)],
        "name": f"tabular-f{features}-c{classes}-sep{class_sep:g}-s{seed}",
    }
