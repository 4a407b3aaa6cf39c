"""Feature-level KD losses, one small module each, picked by name from `FEATURE_LOSSES`.

The teacher side is a stored table: precompute ran the teacher once and kept its embeddings in the
shards, so these losses compare the student's features with constants and a step never runs the
teacher. Each loss is a pure function plus an `nn.Module` built as `cls(student_dim, teacher_dim, **kwargs)`:
- FitNet hint (Romero et al. 2015, "FitNets"): a learned linear regressor maps the student's features to the
  teacher's width; mean squared error.
- PKT (Passalis & Tefas 2018, "Probabilistic Knowledge Transfer"): cosine similarities within the batch as
  conditional probabilities; KL divergence of the student's from the teacher's.
- RKD (Park et al. 2019, "Relational Knowledge Distillation"): pairwise distances (normalised by their mean)
  and triplet angles, smooth-L1, weighted 25 and 50 inside the loss as in RepDistiller's RKDLoss.
Formulas follow RepDistiller's reference implementations, and so do the scales: a weight in
`distill.feature.weights` is RepDistiller's `-b` for the same loss (its scripts use fitnet 100, pkt 30000,
rkd 1), because each term here equals its reference's value. The terms' raw sizes differ by orders of magnitude
(PKT is ~1e-4 to 1e-3 at batch 64), so a weight searched over one shared range is zero in effect for some.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from rlkd.errors import ConfigError


def fitnet_hint(projected_student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Mean over all elements, as RepDistiller's HintLoss (nn.MSELoss): the hint's scale does not grow with width."""
    return F.mse_loss(projected_student, teacher)


def pkt_loss(student: torch.Tensor, teacher: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Compares similarities within the batch, never a student row with a teacher row: any two widths work.

    The mean runs over all B x B entries (RepDistiller), not a per-row KL sum.
    """

    def probabilities(x: torch.Tensor) -> torch.Tensor:
        x = x / (x.norm(dim=1, keepdim=True) + eps)
        x = torch.nan_to_num(x, nan=0.0)
        sim = (x @ x.T + 1.0) / 2.0
        return sim / sim.sum(dim=1, keepdim=True)

    s, t = probabilities(student), probabilities(teacher)
    return torch.mean(t * torch.log((t + eps) / (s + eps)))


def _pdist(x: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Euclidean distances from one matrix product; the clamp keeps sqrt's gradient finite for equal rows."""
    sq = x.pow(2).sum(dim=1)
    prod = x @ x.T
    dist = (sq.unsqueeze(1) + sq.unsqueeze(0) - 2 * prod).clamp(min=eps).sqrt().clone()
    dist[range(len(x)), range(len(x))] = 0
    return dist


def rkd_distance_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Distances divided by their mean, so only the shape of the batch counts, not the width or scale of a space.

    A batch of one sample has no pair: the loss is zero there (the reference's empty mean would give NaN and
    poison the student).
    """
    if len(student) < 2:
        return student.sum() * 0.0
    t_d = _pdist(teacher)
    t_d = t_d / t_d[t_d > 0].mean()
    s_d = _pdist(student)
    s_d = s_d / s_d[s_d > 0].mean()
    return F.smooth_l1_loss(s_d, t_d)


def rkd_angle_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Cosines of every angle (j, i, k) at vertex i: B x B x D differences and B^3 cosines, so keep B modest."""

    def angles(x: torch.Tensor) -> torch.Tensor:
        v = F.normalize(x.unsqueeze(0) - x.unsqueeze(1), p=2, dim=2)
        return torch.bmm(v, v.transpose(1, 2)).view(-1)

    return F.smooth_l1_loss(angles(student), angles(teacher))


class FitNetHint(nn.Module):
    def __init__(self, student_dim: int, teacher_dim: int):
        super().__init__()
        self.proj = nn.Linear(student_dim, teacher_dim)  # the regressor: trained with the student

    def forward(self, student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
        return fitnet_hint(self.proj(student), teacher)


class PKT(nn.Module):
    def __init__(self, student_dim: int = 0, teacher_dim: int = 0, eps: float = 1e-7):
        super().__init__()
        self.eps = eps

    def forward(self, student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
        return pkt_loss(student, teacher, self.eps)


class RKD(nn.Module):
    def __init__(self, student_dim: int = 0, teacher_dim: int = 0, distance_weight: float = 25.0,
                 angle_weight: float = 50.0):
        super().__init__()
        self.distance_weight, self.angle_weight = distance_weight, angle_weight

    def forward(self, student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
        return (self.distance_weight * rkd_distance_loss(student, teacher)
                + self.angle_weight * rkd_angle_loss(student, teacher))


FEATURE_LOSSES: dict[str, type[nn.Module]] = {"fitnet": FitNetHint, "pkt": PKT, "rkd": RKD}


def build_feature_losses(weights: dict[str, float], student_dim: int, teacher_dim: int,
                         kwargs: Optional[dict[str, dict]] = None) -> nn.ModuleDict:
    """One module per named loss; an unknown name or a negative weight is a ConfigError naming the key."""
    kwargs = kwargs or {}
    losses = nn.ModuleDict()
    for name, weight in weights.items():
        if name not in FEATURE_LOSSES:
            raise ConfigError(f"distill.feature.weights: unknown feature loss {name!r}; expected one of "
                              f"{', '.join(FEATURE_LOSSES)}")
        if weight < 0:
            raise ConfigError(f"distill.feature.weights.{name}: value {weight!r} is not allowed; expected >= 0")
        try:
            losses[name] = FEATURE_LOSSES[name](student_dim, teacher_dim, **kwargs.get(name, {}))
        except TypeError as exc:
            raise ConfigError(f"distill.feature.kwargs.{name}: {kwargs.get(name)} do not fit {name} ({exc})") from exc
    unknown = set(kwargs) - set(weights)
    if unknown:
        raise ConfigError(f"distill.feature.kwargs: {sorted(unknown)} name no loss in distill.feature.weights")
    return losses


def feature_loss(losses: nn.ModuleDict, weights: dict[str, float], student: torch.Tensor,
                 teacher: torch.Tensor) -> torch.Tensor:
    """The sum of weight x loss: the one term the training loop adds."""
    return sum(weights[name] * loss(student, teacher) for name, loss in losses.items())
