"""A 10-class set of 1-D signals, 40 values each, made here so the example needs no download.

Class k is a fixed motif (12 values) placed at a random offset in Gaussian noise with a random gain: a
convolutional teacher finds the motif wherever it is, a small MLP student has to learn every offset.
That gap is what distillation has to transfer, as with the embedded digits on a larger canvas.
"""

from __future__ import annotations

import numpy as np

MOTIF = 12
CLASSES = 10


def _motifs(seed: int) -> np.ndarray:
    """One smooth motif per class, the same for the same seed: another seed is another set of classes."""
    raw = np.random.default_rng(seed).normal(size=(CLASSES, MOTIF + 2))
    return (raw[:, :-2] + raw[:, 1:-1] + raw[:, 2:]) / 3.0


def _split(per_class: int, length: int, noise: float, seed: int, motifs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(CLASSES), per_class)
    n = len(labels)
    signals = noise * rng.normal(size=(n, length))
    offsets = rng.integers(0, length - MOTIF + 1, size=n)
    gains = rng.uniform(0.7, 1.3, size=n)
    for i, (label, offset, gain) in enumerate(zip(labels, offsets, gains)):
        signals[i, offset:offset + MOTIF] += gain * motifs[label]
    return signals[:, None].astype(np.float32), labels  # N x 1 x L


def load_signals(train_per_class: int = 120, val_per_class: int = 40, test_per_class: int = 60, length: int = 40,
                 noise: float = 0.3, seed: int = 0, motif_seed: int = 1234) -> dict:
    """rlkd's `data.source: python` contract: (inputs, labels) per split, class names, a name. `motif_seed`
    picks the set of class motifs (1234: the example's own), `seed` the samples drawn from them."""
    motifs = _motifs(motif_seed)
    return {
        "train": _split(train_per_class, length, noise, seed * 3 + 0, motifs),
        "val": _split(val_per_class, length, noise, seed * 3 + 1, motifs),
        "test": _split(test_per_class, length, noise, seed * 3 + 2, motifs),
        "class_names": [f"motif{k}" for k in range(CLASSES)],
        "name": f"signals-{length}" + ("" if motif_seed == 1234 else f"-motifs{motif_seed}"),
    }
