"""A 1-D CNN teacher, brought in as `teacher.arch: examples.signals.models:conv_teacher`."""

from __future__ import annotations

from torch import nn


def conv_teacher(num_classes: int, in_chans: int, input_shape: tuple[int, ...], width: int = 32,
                 kernel: int = 5) -> nn.Module:
    """rlkd calls every model factory as (num_classes, in_chans, input_shape, **model_kwargs).

    Global max pooling over time makes the teacher blind to where the motif sits; that is its edge over the
    MLP student.
    """
    if len(input_shape) != 2:
        raise ValueError(f"conv_teacher takes signals (C, L), got one input of shape {input_shape}")
    pad = kernel // 2
    return nn.Sequential(
        nn.Conv1d(in_chans, width, kernel, padding=pad), nn.BatchNorm1d(width), nn.ReLU(),
        nn.Conv1d(width, 2 * width, kernel, padding=pad), nn.BatchNorm1d(2 * width), nn.ReLU(),
        nn.AdaptiveMaxPool1d(1), nn.Flatten(),
        nn.Linear(2 * width, num_classes),
    )
