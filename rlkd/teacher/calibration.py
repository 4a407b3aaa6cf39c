"""Temperature calibration: one scalar T* fitted on val by NLL (Guo et al. 2017).

Soft labels divided by T* carry the teacher's real uncertainty. On a
near-perfect val set the fit can go below 1 and sharpen targets (CALIBRATION.md
saw T* = 0.05), so the search starts at a configured minimum.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from scipy.optimize import minimize_scalar


def nll(logits: torch.Tensor, labels: torch.Tensor, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of `labels` under softmax(logits / temperature)."""
    return F.cross_entropy(logits.double() / temperature, labels).item()


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor, min_temperature: float = 1.0,
                    max_temperature: float = 20.0) -> float:
    """argmin over T in [min_temperature, max_temperature] of NLL(logits / T).

    NLL(logits / T) is unimodal in log T, so a bounded scalar search on log T is
    exact and deterministic (no optimiser state, no seed).
    """
    lo, hi = math.log(min_temperature), math.log(max_temperature)
    res = minimize_scalar(lambda log_t: nll(logits, labels, math.exp(log_t)), bounds=(lo, hi),
                          method="bounded", options={"xatol": 1e-5})
    candidates = [(nll(logits, labels, min_temperature), min_temperature), (res.fun, math.exp(res.x))]
    return min(candidates)[1]  # the bound itself when the optimum lies below it
