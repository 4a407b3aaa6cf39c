"""Batched forward passes and accuracy, shared by the teacher stage, precompute and evaluation."""

from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import nn


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


@torch.no_grad()
def predict_logits(model: nn.Module, images: torch.Tensor, batch_size: int = 512,
                   device: Optional[torch.device] = None) -> torch.Tensor:
    """float32 logits on the CPU for uint8 `images`, in eval mode, batch by batch."""
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    out = [model(images[i:i + batch_size].to(device)).float().cpu() for i in range(0, len(images), batch_size)]
    model.train(was_training)
    return torch.cat(out) if out else torch.empty(0)


def map_classes(logits: torch.Tensor, class_map: Optional[Sequence[int]]) -> torch.Tensor:
    """Keep the teacher classes that correspond to the data's classes, in the data's order."""
    return logits if class_map is None else logits[:, torch.as_tensor(list(class_map), dtype=torch.long)]


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Top-1 accuracy in percent (0-100), the unit of the seed's reward."""
    return 100.0 * (logits.argmax(1) == labels).float().mean().item()
