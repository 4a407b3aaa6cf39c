"""Feature losses against computations written out independently: loops over samples, pairs and triplets."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from rlkd.distill.feature_losses import (
    FitNetHint,
    build_feature_losses,
    feature_loss,
    pkt_loss,
    rkd_angle_loss,
    rkd_distance_loss,
)
from rlkd.errors import ConfigError

S = torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
T = torch.tensor([[2.0, 1.0, 0.0], [0.0, 1.0, 1.0], [1.0, 0.0, 3.0]])


def test_fitnet_is_the_mse_of_the_learned_projection():
    hint = FitNetHint(2, 3)
    with torch.no_grad():
        hint.proj.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
        hint.proj.bias.zero_()
    # projected rows: (1,0,1), (0,2,2), (1,1,2); squared errors vs T: 1+1+1, 0+1+1, 0+1+1 -> 7 / 9
    assert hint(S, T).item() == pytest.approx(7 / 9)
    s = S.clone().requires_grad_()
    hint(s, T).backward()
    assert hint.proj.weight.grad.abs().sum() > 0
    assert s.grad.abs().sum() > 0


def pkt_by_hand(s, t, eps=1e-7):
    def probs(x):
        rows = [[v / (math.sqrt(sum(a * a for a in r)) + eps) for v in r] for r in x.tolist()]
        sim = [[(sum(a * b for a, b in zip(ri, rj)) + 1) / 2 for rj in rows] for ri in rows]
        return [[v / sum(r) for v in r] for r in sim]

    ps, pt = probs(s), probs(t)
    n = len(ps)
    return sum(pt[i][j] * math.log((pt[i][j] + eps) / (ps[i][j] + eps)) for i in range(n) for j in range(n)) / (n * n)


def test_pkt_matches_the_loop():
    assert pkt_loss(S, T).item() == pytest.approx(pkt_by_hand(S, T), rel=1e-5)
    assert pkt_loss(T, T).item() == pytest.approx(0.0, abs=1e-7)
    assert pkt_loss(T + torch.tensor([0.0, 0.0, 1.0]), T).item() > 1e-4


def smooth_l1(a, b):
    d = abs(a - b)
    return 0.5 * d * d if d < 1 else d - 0.5


def rkd_distance_by_hand(s, t):
    def dists(x):
        rows = x.tolist()
        d = [[math.dist(a, b) for b in rows] for a in rows]
        positive = [v for r in d for v in r if v > 0]
        mean = sum(positive) / len(positive)
        return [[v / mean for v in r] for r in d]

    ds, dt = dists(s), dists(t)
    n = len(ds)
    return sum(smooth_l1(ds[i][j], dt[i][j]) for i in range(n) for j in range(n)) / (n * n)


def rkd_angle_by_hand(s, t):
    def cosines(x):
        rows = x.tolist()
        n, out = len(rows), []
        for i in range(n):  # angle at vertex i between (j - i) and (k - i), unit vectors (zero when j == i)
            for j in range(n):
                for k in range(n):
                    u = [a - b for a, b in zip(rows[j], rows[i])]
                    v = [a - b for a, b in zip(rows[k], rows[i])]
                    nu = max(math.sqrt(sum(a * a for a in u)), 1e-12)
                    nv = max(math.sqrt(sum(a * a for a in v)), 1e-12)
                    out.append(sum(a * b for a, b in zip(u, v)) / (nu * nv))
        return out

    cs, ct = cosines(s), cosines(t)
    return sum(smooth_l1(a, b) for a, b in zip(cs, ct)) / len(cs)


def test_rkd_distance_and_angle_match_the_loops():
    assert rkd_distance_loss(S, T).item() == pytest.approx(rkd_distance_by_hand(S, T), rel=1e-5)
    assert rkd_angle_loss(S, T).item() == pytest.approx(rkd_angle_by_hand(S, T), rel=1e-5)
    assert rkd_distance_loss(T, T).item() == pytest.approx(0.0, abs=1e-7)
    assert rkd_angle_loss(2 * T, T).item() == pytest.approx(0.0, abs=1e-6)  # angles and scaled distances: invariant
    assert rkd_distance_loss(2 * T, T).item() == pytest.approx(0.0, abs=1e-6)
    bent = T + torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [3.0, 0.0, 0.0]])
    assert rkd_distance_loss(bent, T).item() > 1e-4
    assert rkd_angle_loss(bent, T).item() > 1e-4


def test_rkd_on_a_batch_of_one_is_zero_not_nan():
    s = S[:1].clone().requires_grad_()
    losses = (rkd_distance_loss(s, T[:1]), rkd_angle_loss(s, T[:1]))
    assert [v.item() for v in losses] == [0.0, 0.0]
    sum(losses).backward()
    assert torch.isfinite(s.grad).all()


def test_gradients_reach_the_student_features():
    for loss in (pkt_loss, rkd_distance_loss, rkd_angle_loss):
        s = S.clone().requires_grad_()
        loss(s, T[:, :2]).backward()
        assert s.grad.abs().sum() > 0, loss.__name__


def test_registry_weights_sum_and_errors():
    losses = build_feature_losses({"pkt": 2.0, "rkd": 0.5}, 2, 3, {"rkd": {"angle_weight": 0.0}})
    total = feature_loss(losses, {"pkt": 2.0, "rkd": 0.5}, S, T)
    # RKD's distance term carries RepDistiller's w_d = 25 inside the loss: a weight is RepDistiller's -b
    assert total.item() == pytest.approx(2.0 * pkt_by_hand(S, T) + 0.5 * 25 * rkd_distance_by_hand(S, T), rel=1e-5)
    assert isinstance(losses, nn.ModuleDict)
    with pytest.raises(ConfigError, match=r"distill.feature.weights: unknown feature loss 'crd'.*fitnet, pkt, rkd"):
        build_feature_losses({"crd": 1.0}, 2, 3)
    with pytest.raises(ConfigError, match=r"distill.feature.weights.pkt"):
        build_feature_losses({"pkt": -1.0}, 2, 3)
    with pytest.raises(ConfigError, match=r"distill.feature.kwargs.rkd"):
        build_feature_losses({"rkd": 1.0}, 2, 3, {"rkd": {"gamma": 1}})


def test_all_three_losses_sum_with_their_weights_and_repdistillers_rkd_weights():
    weights = {"fitnet": 0.5, "pkt": 3.0, "rkd": 2.0}
    losses = build_feature_losses(weights, 2, 3)
    with torch.no_grad():
        losses["fitnet"].proj.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
        losses["fitnet"].proj.bias.zero_()
    rkd = 25 * rkd_distance_by_hand(S, T) + 50 * rkd_angle_by_hand(S, T)  # RepDistiller's RKDLoss(25, 50)
    want = 0.5 * 7 / 9 + 3.0 * pkt_by_hand(S, T) + 2.0 * rkd
    assert feature_loss(losses, weights, S, T).item() == pytest.approx(want, rel=1e-5)
    assert [n for n, _ in losses.named_parameters()] == ["fitnet.proj.weight", "fitnet.proj.bias"]
