"""Small built-in networks: a CNN teacher and an MLP student for the embedded default, a 1-D CNN for signals.

Every built-in is called like a user's factory, `(num_classes, in_chans, input_shape, **model_kwargs)`.
The digits pair is chosen for headroom (CALIBRATION.md, point 6): global pooling makes the CNN indifferent
to where a digit sits on the canvas, the MLP is not.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

from torch import nn

from rlkd.errors import ConfigError


def _need_shape(name: str, input_shape: Sequence[int], ndim: int, what: str, instead: str) -> None:
    if len(input_shape) != ndim:
        raise ConfigError(f"built-in {name!r} takes {what}, but one input here has shape {tuple(input_shape)}; "
                          f"use {instead}, or your own model by import path (package.module:factory)")


def _conv_block(cin: int, cout: int, conv: type = nn.Conv2d, norm: type = nn.BatchNorm2d) -> nn.Sequential:
    return nn.Sequential(conv(cin, cout, 3, padding=1, bias=False), norm(cout), nn.ReLU(inplace=True))


def tiny_cnn(num_classes: int, in_chans: int, input_shape: Sequence[int], width: int = 32) -> nn.Module:
    _need_shape("tiny_cnn", input_shape, 3, "images (C, H, W)", "cnn1d for signals (C, L) or mlp for any shape")
    return nn.Sequential(
        _conv_block(in_chans, width),
        _conv_block(width, 2 * width),
        nn.MaxPool2d(2),
        _conv_block(2 * width, 2 * width),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(2 * width, num_classes),
    )


def cnn1d(num_classes: int, in_chans: int, input_shape: Sequence[int], width: int = 32) -> nn.Module:
    """tiny_cnn's layout in one dimension: a shift-tolerant teacher for signals."""
    _need_shape("cnn1d", input_shape, 2, "signals (C, L)", "tiny_cnn for images (C, H, W) or mlp for any shape")
    block = dict(conv=nn.Conv1d, norm=nn.BatchNorm1d)
    return nn.Sequential(
        _conv_block(in_chans, width, **block),
        _conv_block(width, 2 * width, **block),
        nn.MaxPool1d(2),
        _conv_block(2 * width, 2 * width, **block),
        nn.AdaptiveAvgPool1d(1),
        nn.Flatten(),
        nn.Linear(2 * width, num_classes),
    )


def mlp(num_classes: int, in_chans: int, input_shape: Sequence[int], hidden: Sequence[int] = (16,)) -> nn.Module:
    """Flattens any input shape."""
    layers: list[nn.Module] = [nn.Flatten()]
    width = math.prod(input_shape)
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU(inplace=True)]
        width = h
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)


BUILTIN_MODELS: dict[str, Callable[..., nn.Module]] = {"tiny_cnn": tiny_cnn, "cnn1d": cnn1d, "mlp": mlp}
