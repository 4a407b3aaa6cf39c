"""Several students of one architecture as one batched model: stacked tensors, one vmapped forward.

Each student keeps its own `nn.Module`, but its parameters and buffers become views of row k of one
stacked tensor per name. Its optimiser, its `state_dict()` and its own forward therefore read and
write the very memory that the batched forward (`torch.func.functional_call` under `vmap`) trains:
nothing is copied between the two.

The `mlp` built-in (flatten, then Linear and ReLU in turn) trains through plain `torch.baddbmm` on the
stacked weights instead: the same arithmetic without vmap's per-op batching machinery, which on this
project's default student costs about as much as the matmuls themselves (docs/benchmarks.md).
"""

from __future__ import annotations

import copy
from typing import Optional

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from rlkd.models.factory import ImageClassifier, normalise_inputs


class StackedStudents:
    def __init__(self, students: list[nn.Module], amp: bool = False, plain_matmuls: bool = True):
        """`plain_matmuls`: train an MLP student through baddbmm (False: through vmap, as every other student)."""
        self.params, self.buffers = stack_module_state(students)
        self.template = copy.deepcopy(students[0]).to("meta")  # the architecture only: the tensors come per call
        self.linears = linear_chain(self.template) if plain_matmuls else None
        self.amp = amp  # bf16 autocast on CUDA, as DistillationRun._forward
        self._lane_params: list[list[tuple[str, nn.Parameter]]] = [[] for _ in students]  # set by attach
        self._own_inputs = vmap(self._call)  # student k on its own batch x[k]
        self._shared_input = vmap(self._call, in_dims=(0, 0, None))  # every student on the same images

    @classmethod
    def build(cls, students: list[nn.Module], sample: torch.Tensor,
              amp: bool = False) -> tuple[Optional["StackedStudents"], str]:
        """(the stacked students, "") or (None, why they cannot be batched).

        A trial forward in training mode on `sample` (one batch per student) must pass under vmap and
        leave every buffer alone: a forward that updates buffers (BatchNorm's running statistics) or
        that vmap rejects (dropout's randomness, data-dependent control flow) cannot be batched here.
        The trial runs on the stacked copies, before the students' tensors become views of them.
        """
        stacked = cls(students, amp)
        versions = [b._version for b in stacked.buffers.values()]
        try:
            with torch.no_grad():
                stacked.forward(None, sample)
        except Exception as exc:  # whatever vmap or the model raise, the answer is the same: not batchable
            return None, f"vmap rejects its forward ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})"
        if [b._version for b in stacked.buffers.values()] != versions:
            return None, "its forward updates buffers in training (e.g. BatchNorm running statistics)"
        for k, student in enumerate(students):
            stacked.attach(k, student)
        return stacked, ""

    def _call(self, params: dict, buffers: dict, x: torch.Tensor) -> torch.Tensor:
        return functional_call(self.template, (params, buffers), (x,))

    def attach(self, k: int, student: nn.Module) -> None:
        """Copy the student's values into row k, then make its parameters and buffers views of that row."""
        with torch.no_grad():
            for stacked, named in ((self.params, student.named_parameters()), (self.buffers, student.named_buffers())):
                for name, tensor in named:
                    row = stacked[name].detach()[k]
                    row.copy_(tensor)
                    tensor.data = row
        self._lane_params[k] = list(student.named_parameters())

    def _rows(self, lanes: Optional[torch.Tensor]) -> tuple[dict, dict]:
        if lanes is None:
            return self.params, self.buffers
        return {n: p[lanes] for n, p in self.params.items()}, {n: b[lanes] for n, b in self.buffers.items()}

    def forward(self, lanes: Optional[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        """Training-mode logits (len(lanes), B, C) of students `lanes` (None: all) on their batches x[j]."""
        params, buffers = self._rows(lanes)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.amp):
            if self.linears is not None:
                return self._chain(params, buffers, x).float()
            return self._own_inputs(params, buffers, x).float()

    def _chain(self, params: dict, buffers: dict, x: torch.Tensor) -> torch.Tensor:
        """The `mlp` built-in on stacked rows, x (K, B, *input_shape): ImageClassifier's normalisation (its
        (K, 1, C, 1, ...) buffers broadcast over the batch), then each Linear as one baddbmm, ReLU between them."""
        h = normalise_inputs(x, buffers["mean"], buffers["std"]).flatten(2)
        for i, name in enumerate(self.linears):
            h = torch.baddbmm(params[f"{name}.bias"].unsqueeze(1), h, params[f"{name}.weight"].transpose(1, 2))
            if i + 1 < len(self.linears):
                h = torch.relu(h)
        return h

    @torch.no_grad()
    def logits(self, lanes: Optional[torch.Tensor], images: torch.Tensor, batch: int = 1024) -> torch.Tensor:
        """Eval-mode logits (len(lanes), N, C) of students `lanes` on the same images, as DistillationRun._logits."""
        params, buffers = self._rows(lanes)
        k = next(iter(params.values())).shape[0]
        self.template.eval()
        try:
            out = []
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.amp):
                for chunk in images.split(batch):
                    if self.linears is not None:  # an MLP has no train/eval difference: the chain on shared images
                        out.append(self._chain(params, buffers, chunk.unsqueeze(0).expand(k, *chunk.shape)).float())
                    else:
                        out.append(self._shared_input(params, buffers, chunk).float())
            return torch.cat(out, dim=1)
        finally:
            self.template.train()

    def zero_grad(self) -> None:
        for p in self.params.values():
            p.grad = None

    def hand_grads(self, k: int) -> None:
        """Row k of the stacked gradients becomes student k's own .grad (views: its optimiser steps on them)."""
        for name, p in self._lane_params[k]:
            p.grad = self.params[name].grad[k]

    def drop_grads(self, k: int) -> None:
        for _, p in self._lane_params[k]:
            p.grad = None


def linear_chain(model: nn.Module) -> Optional[list[str]]:
    """The names of the Linear layers of an `mlp` built-in student (ImageClassifier over flatten, then Linear
    and ReLU in turn, ending in a Linear), in order; None for any other model."""
    net = getattr(model, "net", None)
    if not isinstance(model, ImageClassifier) or not isinstance(net, nn.Sequential):
        return None
    layers = list(net.named_children())
    if len(layers) < 2 or not isinstance(layers[0][1], nn.Flatten) or layers[0][1].start_dim != 1:
        return None
    body = layers[1:]
    for i, (_, layer) in enumerate(body):
        want = nn.Linear if i % 2 == 0 else nn.ReLU
        if type(layer) is not want:
            return None
    if type(body[-1][1]) is not nn.Linear:
        return None
    return [f"net.{name}" for name, layer in body if isinstance(layer, nn.Linear)]
