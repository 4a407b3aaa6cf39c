"""Small networks for the embedded default: a CNN teacher and an MLP student.

The pair is chosen for headroom (CALIBRATION.md, point 6): global pooling makes
the CNN indifferent to where a digit sits on the canvas, the MLP is not.
"""

from __future__ import annotations

from typing import Callable, Sequence

from torch import nn


def _conv_block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


def tiny_cnn(num_classes: int, in_chans: int, image_size: int, width: int = 32) -> nn.Module:
    return nn.Sequential(
        _conv_block(in_chans, width),
        _conv_block(width, 2 * width),
        nn.MaxPool2d(2),
        _conv_block(2 * width, 2 * width),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(2 * width, num_classes),
    )


def mlp(num_classes: int, in_chans: int, image_size: int, hidden: Sequence[int] = (16,)) -> nn.Module:
    layers: list[nn.Module] = [nn.Flatten()]
    width = in_chans * image_size * image_size
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU(inplace=True)]
        width = h
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)


BUILTIN_MODELS: dict[str, Callable[..., nn.Module]] = {"tiny_cnn": tiny_cnn, "mlp": mlp}
