"""`FeatureTap`: a model's features at one layer, kept from its last forward by a hook.

One tap serves both sides of feature-level KD: precompute reads the teacher's embeddings through it
(stored once in the shards), a DistillationRun reads its student's. By default it keeps the input of the
model's last `nn.Linear` (the classifier head: what FitNet-, PKT- and RKD-style losses compare); a named
layer keeps that module's output instead. Either way the features are flattened to (batch, dim) float32.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from rlkd.errors import ConfigError


class FeatureTap:
    def __init__(self, model: nn.Module, layer: Optional[str], key: str):
        """`key` is the config key that named `layer`: an error about the layer names it."""
        modules = dict(model.named_modules())
        self.features: Optional[torch.Tensor] = None
        if layer is None:
            heads = [name for name, m in modules.items() if isinstance(m, nn.Linear)]
            if not heads:
                raise ConfigError(f"{key}: null means the input of the model's last nn.Linear, but "
                                  f"{type(model).__name__} has none; name a layer ({_some(modules)})")
            self.layer = heads[-1]
            self._handle = modules[self.layer].register_forward_pre_hook(lambda m, args: self._keep(args[0]))
        else:
            if layer not in modules:
                raise ConfigError(f"{key}: the model has no layer {layer!r}; its layers: {_some(modules)}")
            self.layer = layer
            self._handle = modules[layer].register_forward_hook(lambda m, args, out: self._keep(out))

    def _keep(self, x: torch.Tensor) -> None:
        self.features = x.flatten(1).float()

    def take(self) -> torch.Tensor:
        """The features of the last forward, once: a stale read is a bug, not a silent reuse."""
        if self.features is None:
            raise RuntimeError(f"no features at layer {self.layer!r}: the model has not run since the last read")
        out, self.features = self.features, None
        return out

    def remove(self) -> None:
        self._handle.remove()


def _some(modules: dict[str, nn.Module], limit: int = 12) -> str:
    names = [n for n in modules if n]
    return ", ".join(names[-limit:]) + (" (the last few)" if len(names) > limit else "")
