"""The student's optimisers by name (`distill.optimizer`), and one step for many lanes in few kernel calls.

Each `OPTIMIZERS` entry builds its torch optimiser from the distill section and names the fused step that
updates several lanes at once. torch's fused Adam and SGD kernels update every tensor on its own, from the
group's scalars (lr, betas, ...) and the tensor's own step count. One call over the tensors of several lanes
whose scalars agree therefore updates each lane exactly as its own `optimizer.step()` would, without that
method's per-call Python overhead, which on a small student costs several times the kernel. Each lane keeps
its own optimiser object and state, so its state_dict is a lone run's; lanes whose lr (or any other group
scalar) differs take separate calls.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
from torch.optim import SGD, Adam, Optimizer
from torch.optim.adam import adam
from torch.optim.sgd import sgd

from rlkd.config import DistillConfig


def step_lanes(optimizers: Sequence[Optimizer]) -> None:
    """Step every optimiser once (their gradients set). Lanes whose group scalars agree share one fused call;
    a lane without state yet (its first step) takes its own step(), which creates the state as torch does."""
    calls: dict[tuple, list[Optimizer]] = defaultdict(list)
    for opt in optimizers:
        group = opt.param_groups[0]
        started = all(opt.state.get(p) for p in group["params"])
        if len(opt.param_groups) != 1 or type(opt) not in _FUSED_STEPS or not group.get("fused") or not started:
            opt.step()
            continue
        calls[(type(opt), tuple(sorted((k, v) for k, v in group.items() if k != "params")))].append(opt)
    with torch.no_grad():
        for (kind, _), members in calls.items():
            _FUSED_STEPS[kind](members)


def _tensors(members: list[Optimizer]) -> tuple[list[torch.Tensor], list[dict]]:
    params = [p for opt in members for p in opt.param_groups[0]["params"]]
    return params, [opt.state[p] for opt in members for p in opt.param_groups[0]["params"]]


def _adam_step(members: list[Optimizer]) -> None:
    """What Adam.step calls for a fused group, over all members' tensors at once."""
    group = members[0].param_groups[0]
    params, states = _tensors(members)
    adam(params, [p.grad for p in params], [s["exp_avg"] for s in states], [s["exp_avg_sq"] for s in states],
         [s["max_exp_avg_sq"] for s in states] if group["amsgrad"] else [], [s["step"] for s in states],
         fused=True, amsgrad=group["amsgrad"], beta1=group["betas"][0], beta2=group["betas"][1], lr=group["lr"],
         weight_decay=group["weight_decay"], eps=group["eps"], maximize=group["maximize"],
         decoupled_weight_decay=group["decoupled_weight_decay"])


def _sgd_step(members: list[Optimizer]) -> None:
    """What SGD.step calls for a fused group with momentum buffers, over all members' tensors at once."""
    group = members[0].param_groups[0]
    params, states = _tensors(members)
    sgd(params, [p.grad for p in params], [s["momentum_buffer"] for s in states], fused=True,
        weight_decay=group["weight_decay"], momentum=group["momentum"], lr=group["lr"],
        dampening=group["dampening"], nesterov=group["nesterov"], maximize=group["maximize"])


@dataclass(frozen=True)
class OptimizerKind:
    """One `distill.optimizer` name: how its optimiser is built, and the step that updates many lanes at once."""

    build: Callable[[list[torch.nn.Parameter], DistillConfig], Optimizer]
    torch_type: type[Optimizer]
    fused_step: Callable[[list[Optimizer]], None]


# fused kernels: one op per step instead of several per parameter (per-op overhead rules small students)
OPTIMIZERS: dict[str, OptimizerKind] = {
    "adam": OptimizerKind(lambda params, d: Adam(params, lr=d.lr, weight_decay=d.weight_decay, fused=True),
                          Adam, _adam_step),
    "sgd": OptimizerKind(lambda params, d: SGD(params, lr=d.lr, momentum=0.9, weight_decay=d.weight_decay,
                                               nesterov=True, fused=True), SGD, _sgd_step),
}
_FUSED_STEPS = {kind.torch_type: kind.fused_step for kind in OPTIMIZERS.values()}


def build_optimizer(params: list[torch.nn.Parameter], d: DistillConfig) -> Optimizer:
    """The optimiser `d.optimizer` names (a name `rlkd.names.check_names` has checked)."""
    return OPTIMIZERS[d.optimizer].build(params, d)
