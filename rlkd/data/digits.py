"""The embedded default: scikit-learn's 8x8 digits, optionally made harder.

Plain digits leave no room for KD: an MLP student gets within two points of a
CNN teacher (CALIBRATION.md, point 6). The procedural variant places each
(optionally upscaled) digit at a seeded random offset on a larger canvas and
adds noise, which a convolutional teacher handles and a small MLP does not.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.datasets import load_digits

from rlkd.config import DataConfig
from rlkd.data.base import DatasetSplits, Split, carve_split


def render_digits(cfg: DataConfig) -> tuple[np.ndarray, np.ndarray]:
    """All 1,797 digits as uint8 N x 1 x canvas x canvas, placement and noise fixed by `cfg.seed`."""
    raw = load_digits()
    pixels = np.round(raw.images * (255.0 / 16.0)).astype(np.float32)  # 0..16 -> 0..255
    d = cfg.digits
    if d.upscale > 1:
        pixels = pixels.repeat(d.upscale, axis=1).repeat(d.upscale, axis=2)
    n, side = len(pixels), pixels.shape[1]
    rng = np.random.default_rng([cfg.seed, 1797])
    canvas = np.zeros((n, d.canvas, d.canvas), dtype=np.float32)
    room = d.canvas - side
    offsets = rng.integers(0, room + 1, size=(n, 2)) if room else np.zeros((n, 2), dtype=int)
    for i, (top, left) in enumerate(offsets):
        canvas[i, top:top + side, left:left + side] = pixels[i]
    if d.noise > 0:
        canvas += rng.normal(0.0, 255.0 * d.noise, size=canvas.shape).astype(np.float32)
    images = np.clip(np.round(canvas), 0, 255).astype(np.uint8)[:, None]
    return images, raw.target.astype(np.int64)


def load_digits_splits(cfg: DataConfig) -> DatasetSplits:
    images, labels = render_digits(cfg)
    everything = Split(torch.from_numpy(images), torch.from_numpy(labels), [f"digits:{i}" for i in range(len(labels))])
    rest, test = carve_split(everything, cfg.test_fraction, cfg.seed)
    train, val = carve_split(rest, cfg.val_fraction / (1.0 - cfg.test_fraction), cfg.seed)
    d = cfg.digits
    name = f"digits(canvas={d.canvas},upscale={d.upscale},noise={d.noise})"
    return DatasetSplits(train, val, test, [str(i) for i in range(10)], name)
