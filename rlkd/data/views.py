"""Stored augmentation views: parameters drawn once, rendered identically by teacher and student.

Fixed teacher logits with fresh random student augmentation teach the wrong
target (Beyer et al. 2022). So every view is a crop box plus a flip, drawn from
a seeded generator at precompute time; the teacher scores exactly that view and
the student later replays it with the same `render_view`.

A view is 5 ints: (top, left, height, width, flip). View 0 is the identity. Only images (N x C x H x W)
have views other than the identity; signals and feature vectors are stored as the identity view of their
`view_extent`.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

VIEW_FIELDS = ("crop_top", "crop_left", "crop_height", "crop_width", "flip")


def view_extent(input_shape: tuple[int, ...]) -> tuple[int, int]:
    """(height, width) a view's box spans: an image's H x W; a signal of length L or F features, 1 x L."""
    return (input_shape[-2], input_shape[-1]) if len(input_shape) == 3 else (1, input_shape[-1])


def identity_views(n: int, height: int, width: int) -> np.ndarray:
    views = np.zeros((n, 5), dtype=np.int32)
    views[:, 2], views[:, 3] = height, width
    return views


def sample_views(n: int, k: int, height: int, width: int, seed: int, min_scale: float = 0.6,
                 flip: bool = True) -> np.ndarray:
    """(n, k, 5) view parameters: view 0 the identity, views 1..k-1 random resized crops (+ flips)."""
    views = np.repeat(identity_views(n, height, width)[:, None], k, axis=1)
    if k == 1:
        return views
    rng = np.random.default_rng([seed, n, k, height, width])
    m = n * (k - 1)
    area = rng.uniform(min_scale, 1.0, m) * height * width
    log_ratio = rng.uniform(math.log(3 / 4), math.log(4 / 3), m)
    w = np.clip(np.round(np.sqrt(area * np.exp(log_ratio))), 1, width).astype(np.int32)
    h = np.clip(np.round(np.sqrt(area / np.exp(log_ratio))), 1, height).astype(np.int32)
    top = np.floor(rng.uniform(0, 1, m) * (height - h + 1)).astype(np.int32)
    left = np.floor(rng.uniform(0, 1, m) * (width - w + 1)).astype(np.int32)
    flips = (rng.uniform(0, 1, m) < 0.5).astype(np.int32) if flip else np.zeros(m, dtype=np.int32)
    views[:, 1:] = np.stack([top, left, h, w, flips], axis=1).reshape(n, k - 1, 5)
    return views


def render_view(images: torch.Tensor, views: torch.Tensor) -> torch.Tensor:
    """Crop each image to its box, resize back to full size (bilinear) and flip if asked.

    One batched `grid_sample`, so it runs on the device that holds the images; uint8 images are rounded
    back to uint8, float ones stay float. Identity rows come back bit-exact (the only rows inputs other
    than images have).
    """
    views = torch.as_tensor(views, device=images.device)
    n = images.shape[0]
    height, width = view_extent(tuple(images.shape[1:]))
    identity = ((views[:, 0] == 0) & (views[:, 1] == 0) & (views[:, 2] == height) & (views[:, 3] == width)
                & (views[:, 4] == 0))
    if bool(identity.all()):
        return images
    if images.ndim != 4:
        raise ValueError(f"views other than the identity need images N x C x H x W, got {tuple(images.shape)}")
    v = views.to(torch.float32)
    sx, sy = v[:, 3] / width, v[:, 2] / height
    tx, ty = (2 * v[:, 1] + v[:, 3]) / width - 1, (2 * v[:, 0] + v[:, 2]) / height - 1
    sx = torch.where(views[:, 4] > 0, -sx, sx)
    theta = torch.zeros(n, 2, 3, device=images.device)
    theta[:, 0, 0], theta[:, 0, 2], theta[:, 1, 1], theta[:, 1, 2] = sx, tx, sy, ty
    grid = F.affine_grid(theta, (n, images.shape[1], height, width), align_corners=False)
    out = F.grid_sample(images.to(torch.float32), grid, mode="bilinear", padding_mode="border", align_corners=False)
    if images.dtype == torch.uint8:
        out = out.round().clamp(0, 255).to(torch.uint8)
    return torch.where(identity.view(-1, 1, 1, 1), images, out)
