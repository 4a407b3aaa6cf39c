"""The seed project's difficulty score, exactly (DESIGN.md), as pure tensor functions.

With p_t, p_s the teacher's and student's softmax over C classes:
    D_conf    = 1 - max_i p_t(i)
    D_entropy = -sum_i p_t(i) log p_t(i) / log C
    D_kl      = min(KL(p_t || p_s) / 5, 1)
    D_sample  = 0.3 D_conf + 0.3 D_entropy + 0.4 D_kl        (all in [0, 1])
Teacher terms are fixed once the teacher is (precomputed into the shards);
D_kl follows the student and is refreshed during the run.
"""

from __future__ import annotations

import math
from typing import NamedTuple, Optional

import torch
import torch.nn.functional as F

KL_SCALE = 5.0
WEIGHTS = (0.3, 0.3, 0.4)


class Difficulty(NamedTuple):
    d_conf: torch.Tensor
    d_entropy: torch.Tensor
    d_kl: torch.Tensor
    d_sample: torch.Tensor


def teacher_difficulty(teacher_logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(D_conf, D_entropy) per sample from (N, C) teacher logits, natural log, C = logits.shape[1]."""
    log_p = F.log_softmax(teacher_logits.double(), dim=1)
    p = log_p.exp()
    d_conf = 1.0 - p.max(dim=1).values
    d_entropy = -(p * log_p).sum(dim=1) / math.log(teacher_logits.shape[1])
    return d_conf.float().clamp(0, 1), d_entropy.float().clamp(0, 1)


def kl_difficulty(teacher_logits: torch.Tensor, student_logits: torch.Tensor) -> torch.Tensor:
    """D_kl = min(KL(p_t || p_s) / 5, 1) per sample."""
    log_t = F.log_softmax(teacher_logits.double(), dim=1)
    log_s = F.log_softmax(student_logits.double(), dim=1)
    kl = (log_t.exp() * (log_t - log_s)).sum(dim=1)
    return (kl / KL_SCALE).clamp(0.0, 1.0).float()


def combine(d_conf: torch.Tensor, d_entropy: torch.Tensor, d_kl: torch.Tensor) -> torch.Tensor:
    return WEIGHTS[0] * d_conf + WEIGHTS[1] * d_entropy + WEIGHTS[2] * d_kl


def sample_difficulty(teacher_logits: torch.Tensor, student_logits: torch.Tensor,
                      reduction: Optional[str] = None) -> Difficulty:
    """All four difficulty terms per sample; `reduction='mean'` averages each over the batch."""
    d_conf, d_entropy = teacher_difficulty(teacher_logits)
    d_kl = kl_difficulty(teacher_logits, student_logits)
    out = Difficulty(d_conf, d_entropy, d_kl, combine(d_conf, d_entropy, d_kl))
    if reduction == "mean":
        return Difficulty(*(t.mean() for t in out))
    if reduction is not None:
        raise ValueError(f"reduction must be None or 'mean', got {reduction!r}")
    return out


def label_difficulty(teacher_logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """rlkd's addition, not a seed formula: D_label = 1 - p_t(label) per sample, from (N, C) stored (calibrated)
    teacher logits, in [0, 1].

    The seed's difficulty never looks at the label, so it cannot see a wrong one. A cross-fitted teacher scores
    each sample with a fold that never trained on it, so a flipped label gets a low p_t(label): D_label near 1.
    """
    p_label = torch.softmax(teacher_logits.double(), dim=1).gather(1, labels[:, None]).squeeze(1)
    return (1.0 - p_label).float().clamp(0.0, 1.0)
