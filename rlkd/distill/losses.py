"""KD losses, one small module each, picked by name from `LOSSES`.

Every loss sees the same `Targets`: teacher probabilities at the run's
temperature are computed once per epoch by the run (the teacher is fixed), so a
KD step adds only a soft-target cross-entropy to a label-only step. Adding a
loss means one class here plus one registry entry.

A population of students (rlkd.distill.population) calls a loss once for several students' equal
batches stacked as rows (`Targets.lanes`); the loss then returns one mean per student, so that
summing them gives each student the gradient of its own mean. With one student (lanes = 1)
every loss computes what it always has.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Union

import torch
import torch.nn.functional as F
from torch import nn

from rlkd.config import DistillConfig


@dataclass
class Targets:
    """What a loss may read for one batch. The run fills only the teacher fields a loss lists in `needs`."""

    labels: torch.Tensor  # (B,)
    teacher_logits: Optional[torch.Tensor]  # (T, B, C) stored (calibrated) teacher logits
    teacher_probs: Optional[torch.Tensor]  # (T, B, C) softmax(teacher_logits / temperature)
    temperature: float
    epoch: int = 0  # 0-based, for warm-ups
    teacher_weights: Optional[torch.Tensor] = None  # (B, T) per-sample weights over teachers
    # this epoch's label weight (a curriculum action); None: distill.alpha. A loss with `per_lane_alpha` also
    # takes a (lanes,) tensor: one label weight per student
    alpha: Optional[Union[float, torch.Tensor]] = None
    lanes: int = 1  # the rows are this many students' equal batches: the loss returns one mean per student

    def label_weight(self, configured: float) -> Union[float, torch.Tensor]:
        return configured if self.alpha is None else self.alpha


def lane_mean(per_row: torch.Tensor, lanes: int) -> torch.Tensor:
    """The mean over the rows (a scalar) for one student; for `lanes` students, one mean per equal block."""
    return per_row.mean() if lanes == 1 else per_row.view(lanes, -1).mean(1)


def lane_cross_entropy(logits: torch.Tensor, target: torch.Tensor, lanes: int = 1) -> torch.Tensor:
    """F.cross_entropy's mean exactly as a single run computes it, or one mean per student (lane_mean)."""
    if lanes == 1:
        return F.cross_entropy(logits, target)
    return lane_mean(F.cross_entropy(logits, target, reduction="none"), lanes)


def soft_cross_entropy(student_logits: torch.Tensor, teacher_probs: torch.Tensor, temperature: float,
                       lanes: int = 1) -> torch.Tensor:
    """T^2 * CE(p_t, softmax(s / T)): Hinton's KL up to the teacher entropy, which has no gradient."""
    return temperature ** 2 * lane_cross_entropy(student_logits / temperature, teacher_probs, lanes)


class _HintonKDFunction(torch.autograd.Function):
    """alpha * CE(s, y) + (1 - alpha) * T^2 * CE(p_t, softmax(s / T)) as one autograd node.

    The gradient is closed-form, (alpha (softmax(s) - onehot(y)) + (1 - alpha) T (softmax(s / T) - p_t)) / B,
    so a KD step adds a handful of ops instead of a dozen graph nodes: on a tiny student the per-op
    overhead, not the arithmetic, is what makes naive KD cost 1.3-1.4x a label-only step.
    With `lanes` students' batches as rows it returns one loss per student (`Targets.lanes`).
    """

    @staticmethod
    def forward(ctx, student_logits, labels, teacher_probs, temperature: float, alpha: Union[float, torch.Tensor],
                lanes: int = 1):
        batch = student_logits.shape[0] // lanes
        log_p = torch.log_softmax(student_logits, dim=1)
        log_q = torch.log_softmax(student_logits * (1.0 / temperature), dim=1)
        if lanes == 1:
            hard = F.nll_loss(log_p, labels, reduction="sum")
            soft = torch.dot(teacher_probs.reshape(-1), log_q.reshape(-1))
        else:  # one sum per student
            hard = F.nll_loss(log_p, labels, reduction="none").view(lanes, -1).sum(1)
            soft = (teacher_probs * log_q).view(lanes, -1).sum(1)
        ctx.save_for_backward(log_p, log_q, labels, teacher_probs)
        ctx.temperature, ctx.alpha, ctx.lanes = temperature, alpha, lanes
        if isinstance(alpha, torch.Tensor):  # one label weight per student
            return (hard * alpha - soft * ((1 - alpha) * temperature ** 2)) / batch
        return torch.sub(hard, soft, alpha=(1 - alpha) * temperature ** 2 / alpha).mul_(alpha / batch) if alpha > 0 \
            else soft.mul(-(temperature ** 2) / batch)

    @staticmethod
    def backward(ctx, grad_out):
        log_p, log_q, labels, teacher_probs = ctx.saved_tensors
        t, a, lanes = ctx.temperature, ctx.alpha, ctx.lanes
        batch = log_p.shape[0] // lanes
        grad = log_q.exp_().sub_(teacher_probs)  # saved tensors are ours to overwrite now
        if isinstance(a, torch.Tensor):  # each student's rows with its own label weight
            rows = grad.view(lanes, batch, -1)
            rows.mul_(((1 - a) * t).view(-1, 1, 1)).add_(log_p.exp_().view(lanes, batch, -1) * a.view(-1, 1, 1))
            grad[torch.arange(len(labels)), labels] -= a.repeat_interleave(batch)
        else:
            grad.mul_((1 - a) * t)
            if a > 0:
                grad.add_(log_p.exp_(), alpha=a)
                grad[torch.arange(len(labels)), labels] -= a
        grad.view(lanes, batch, -1).mul_((grad_out / batch).view(-1, 1, 1))  # each student's rows: its 1/B
        return grad, None, None, None, None, None


class LabelLoss(nn.Module):
    """Plain cross-entropy on labels: the label-only baseline."""

    label_weighted = False  # whether an epoch's alpha (Targets.alpha) sets its label weight
    needs: tuple[str, ...] = ()

    def __init__(self, cfg: DistillConfig):
        super().__init__()

    def forward(self, student_logits: torch.Tensor, t: Targets) -> torch.Tensor:
        return lane_cross_entropy(student_logits, t.labels, t.lanes)


class HintonKD(nn.Module):
    """alpha * CE(labels) + (1 - alpha) * T^2 * KL(p_t || p_s) at temperature T (Hinton et al. 2015)."""

    label_weighted = True  # whether an epoch's alpha (Targets.alpha) sets its label weight
    needs = ("teacher_probs",)
    per_lane_alpha = True  # Targets.alpha may hold one label weight per student (one call for a population)

    def __init__(self, cfg: DistillConfig):
        super().__init__()
        self.alpha = cfg.alpha

    def forward(self, student_logits: torch.Tensor, t: Targets) -> torch.Tensor:
        return _HintonKDFunction.apply(student_logits, t.labels, t.teacher_probs[0], t.temperature,
                                       t.label_weight(self.alpha), t.lanes)


class DecoupledKD(nn.Module):
    """DKD (Zhao et al. 2022): CE + warm-up * (alpha * TCKD + beta * NCKD).

    TCKD is the KL between binary (target, non-target) distributions; NCKD the KL
    between the distributions over the non-target classes only. Both are computed from log-probabilities
    (the target bin from `log_softmax`, the non-target bin from a `logsumexp` over the other classes), so a
    confident student at T = 1 (a logit margin of 40 or more) keeps mdistiller's float64 value and gradient
    where clamped float32 probabilities would lose them.
    """

    label_weighted = False  # whether an epoch's alpha (Targets.alpha) sets its label weight
    needs = ("teacher_logits",)

    def __init__(self, cfg: DistillConfig):
        super().__init__()
        self.alpha, self.beta = cfg.dkd.alpha, cfg.dkd.beta
        self.warmup, self.ce_weight = cfg.dkd.warmup, cfg.dkd.ce_weight

    def forward(self, student_logits: torch.Tensor, t: Targets) -> torch.Tensor:
        temp = t.temperature
        gt = F.one_hot(t.labels, student_logits.shape[1]).bool()
        log_bins_s, log_others_s = _target_split(student_logits / temp, gt)
        log_bins_t, log_others_t = _target_split(t.teacher_logits[0] / temp, gt)
        tckd = lane_mean(_kl_from_logs(log_bins_t, log_bins_s), t.lanes) * temp ** 2
        nckd = lane_mean(_kl_from_logs(log_others_t, log_others_s), t.lanes) * temp ** 2
        ramp = min((t.epoch + 1) / self.warmup, 1.0) if self.warmup > 0 else 1.0
        return (self.ce_weight * lane_cross_entropy(student_logits, t.labels, t.lanes)
                + ramp * (self.alpha * tckd + self.beta * nckd))


def _target_split(scaled_logits: torch.Tensor, gt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """log (p_target, p_non-target) per row, (B, 2), and log-softmax over the non-target classes, (B, C - 1)."""
    rows = scaled_logits.shape[0]
    others = scaled_logits.masked_select(~gt).view(rows, -1)
    log_norm = torch.logsumexp(scaled_logits, dim=1)
    log_target = scaled_logits.masked_select(gt) - log_norm
    log_non_target = torch.logsumexp(others, dim=1) - log_norm
    return torch.stack([log_target, log_non_target], dim=1), torch.log_softmax(others, dim=1)


def _kl_from_logs(log_p: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
    """KL(p || q) per row from log-probabilities; a bin p underflows to 0 contributes 0, never NaN."""
    return (log_p.exp() * (log_p - log_q)).sum(1)


def equal_weights(teacher_logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Default teacher weighting: the plain average."""
    n_teachers, batch = teacher_logits.shape[:2]
    return torch.full((batch, n_teachers), 1.0 / n_teachers, device=teacher_logits.device)


class MultiTeacherKD(nn.Module):
    """alpha * CE + (1 - alpha) * T^2 * sum_t w_bt KL(p_t || p_s), per-sample weights over teachers.

    Weights come from `Targets.teacher_weights` (e.g. a curriculum action) or
    else from `weight_fn` (equal weights by default; the hook for learned ones).
    """

    label_weighted = True  # whether an epoch's alpha (Targets.alpha) sets its label weight
    needs = ("teacher_logits", "teacher_probs")

    def __init__(self, cfg: DistillConfig,
                 weight_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = equal_weights):
        super().__init__()
        self.alpha, self.weight_fn = cfg.alpha, weight_fn

    def forward(self, student_logits: torch.Tensor, t: Targets) -> torch.Tensor:
        weights = t.teacher_weights if t.teacher_weights is not None else self.weight_fn(t.teacher_logits, t.labels)
        mixed = torch.einsum("bt,tbc->bc", weights, t.teacher_probs)  # CE is linear in the target
        kd = soft_cross_entropy(student_logits, mixed, t.temperature, t.lanes)
        alpha = t.label_weight(self.alpha)
        return alpha * lane_cross_entropy(student_logits, t.labels, t.lanes) + (1 - alpha) * kd


LOSSES: dict[str, type[nn.Module]] = {  # each class says whether an epoch may set its label weight: label_weighted
    "labels": LabelLoss,
    "kd": HintonKD,
    "dkd": DecoupledKD,
    "multi_teacher": MultiTeacherKD,
}


def label_weighted() -> list[str]:
    """The losses whose label weight alpha an epoch may set (Targets.alpha); the others have no such weight."""
    return [name for name, loss in LOSSES.items() if loss.label_weighted]


def build_loss(cfg: DistillConfig) -> nn.Module:
    return LOSSES[cfg.mode](cfg)
