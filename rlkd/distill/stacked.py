"""Several students of one architecture as one batched model: stacked tensors, one vmapped forward.

Each student keeps its own `nn.Module`, but its parameters and buffers become views of row k of one
stacked tensor per name. Its optimiser, its `state_dict()` and its own forward therefore read and
write the very memory that the batched forward (`torch.func.functional_call` under `vmap`) trains:
nothing is copied between the two.
"""

from __future__ import annotations

import copy
from typing import Optional

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap


class StackedStudents:
    def __init__(self, students: list[nn.Module], amp: bool = False):
        self.params, self.buffers = stack_module_state(students)
        self.template = copy.deepcopy(students[0]).to("meta")  # the architecture only: the tensors come per call
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
            return self._own_inputs(params, buffers, x).float()

    @torch.no_grad()
    def logits(self, lanes: Optional[torch.Tensor], images: torch.Tensor, batch: int = 1024) -> torch.Tensor:
        """Eval-mode logits (len(lanes), N, C) of students `lanes` on the same images, as DistillationRun._logits."""
        params, buffers = self._rows(lanes)
        self.template.eval()
        try:
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.amp):
                return torch.cat([self._shared_input(params, buffers, images[i:i + batch]).float()
                                  for i in range(0, len(images), batch)], dim=1)
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
