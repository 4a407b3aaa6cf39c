"""Seed difficulty and KD losses against hand-computed values."""

import math

import pytest
import torch
import torch.nn.functional as F

from rlkd import sample_difficulty
from rlkd.config import DistillConfig, DKDConfig
from rlkd.distill.losses import LOSSES, Targets


def test_difficulty_hand_values():
    # teacher p_t = [0.25, 0.75]; student p_s = [0.5, 0.5]
    t = torch.tensor([[0.0, math.log(3.0)]])
    s = torch.tensor([[0.0, 0.0]])
    d = sample_difficulty(t, s)
    kl = 0.25 * math.log(0.25 / 0.5) + 0.75 * math.log(0.75 / 0.5)
    h = -(0.25 * math.log(0.25) + 0.75 * math.log(0.75)) / math.log(2)
    assert math.isclose(d.d_conf.item(), 0.25, abs_tol=1e-6)
    assert math.isclose(d.d_entropy.item(), h, abs_tol=1e-6)
    assert math.isclose(d.d_kl.item(), kl / 5, abs_tol=1e-6)
    assert math.isclose(d.d_sample.item(), 0.3 * 0.25 + 0.3 * h + 0.4 * kl / 5, abs_tol=1e-6)


def test_uniform_teacher_entropy_one_and_one_hot_conf_zero():
    c = 7
    uniform = sample_difficulty(torch.zeros(1, c), torch.zeros(1, c))
    assert math.isclose(uniform.d_entropy.item(), 1.0, abs_tol=1e-6)
    assert math.isclose(uniform.d_conf.item(), 1 - 1 / c, abs_tol=1e-6)
    assert uniform.d_kl.item() == 0.0
    one_hot = sample_difficulty(torch.tensor([[100.0] + [0.0] * (c - 1)]), torch.zeros(1, c))
    assert one_hot.d_conf.item() < 1e-6 and one_hot.d_entropy.item() < 1e-6


def test_kl_is_clipped_at_five():
    t = torch.tensor([[30.0, 0.0, 0.0]])  # teacher sure of class 0
    s = torch.tensor([[0.0, 30.0, 0.0]])  # student sure of class 1: KL ~ 30 > 5
    d = sample_difficulty(t, s)
    assert d.d_kl.item() == 1.0
    assert 0.0 <= d.d_sample.item() <= 1.0


def test_reduction_mean():
    t, s = torch.randn(8, 5), torch.randn(8, 5)
    per = sample_difficulty(t, s)
    mean = sample_difficulty(t, s, reduction="mean")
    assert torch.allclose(mean.d_sample, per.d_sample.mean())


def targets(t_logits, labels, temp, epoch=0, weights=None):
    probs = torch.softmax(t_logits / temp, dim=-1)
    return Targets(labels, t_logits, probs, temp, epoch, weights)


def test_kd_loss_matches_manual():
    torch.manual_seed(0)
    s, t, y = torch.randn(4, 5), torch.randn(1, 4, 5), torch.tensor([0, 1, 2, 3])
    temp, alpha = 3.0, 0.2
    loss = LOSSES["kd"](DistillConfig(temperature=temp, alpha=alpha))(s, targets(t, y, temp))
    kl = F.kl_div(F.log_softmax(s / temp, 1), F.softmax(t[0] / temp, 1), reduction="batchmean")
    # our loss is CE(p_t, p_s): KL plus the teacher entropy, which carries no gradient
    ent = -(F.softmax(t[0] / temp, 1) * F.log_softmax(t[0] / temp, 1)).sum(1).mean()
    manual = alpha * F.cross_entropy(s, y) + (1 - alpha) * temp ** 2 * (kl + ent)
    assert torch.allclose(loss, manual, atol=1e-6)
    # gradients equal those of the textbook KL form
    s1, s2 = s.clone().requires_grad_(), s.clone().requires_grad_()
    LOSSES["kd"](DistillConfig(temperature=temp, alpha=alpha))(s1, targets(t, y, temp)).backward()
    (alpha * F.cross_entropy(s2, y) + (1 - alpha) * temp ** 2 *
     F.kl_div(F.log_softmax(s2 / temp, 1), F.softmax(t[0] / temp, 1), reduction="batchmean")).backward()
    assert torch.allclose(s1.grad, s2.grad, atol=1e-6)


def test_dkd_loss_matches_manual():
    torch.manual_seed(1)
    s, t, y = torch.randn(3, 4), torch.randn(1, 3, 4), torch.tensor([2, 0, 1])
    cfg = DistillConfig(temperature=2.0, dkd=DKDConfig(alpha=1.0, beta=8.0, warmup=4, ce_weight=1.0))
    loss = LOSSES["dkd"](cfg)(s, targets(t, y, 2.0, epoch=1))
    temp = 2.0
    total_tckd, total_nckd = 0.0, 0.0
    for i in range(3):
        ps, pt = torch.softmax(s[i] / temp, 0), torch.softmax(t[0, i] / temp, 0)
        g = y[i]
        bs, bt = torch.stack([ps[g], 1 - ps[g]]), torch.stack([pt[g], 1 - pt[g]])
        total_tckd += (bt * (bt / bs).log()).sum()
        mask = torch.arange(4) != g
        qs, qt = torch.softmax(s[i][mask] / temp, 0), torch.softmax(t[0, i][mask] / temp, 0)
        total_nckd += (qt * (qt / qs).log()).sum()
    manual = F.cross_entropy(s, y) + (2 / 4) * temp ** 2 * (1.0 * total_tckd / 3 + 8.0 * total_nckd / 3)
    assert torch.allclose(loss, manual, atol=1e-5)


def test_labels_and_multi_teacher():
    torch.manual_seed(2)
    s, t, y = torch.randn(4, 5), torch.randn(2, 4, 5), torch.tensor([0, 1, 2, 3])
    assert torch.allclose(LOSSES["labels"](DistillConfig())(s, targets(t, y, 4.0)), F.cross_entropy(s, y))
    cfg = DistillConfig(temperature=4.0, alpha=0.0)
    equal = LOSSES["multi_teacher"](cfg)(s, targets(t, y, 4.0))
    p = torch.softmax(t / 4.0, -1)
    manual = 16.0 * 0.5 * (F.cross_entropy(s / 4.0, p[0]) + F.cross_entropy(s / 4.0, p[1]))
    assert torch.allclose(equal, manual, atol=1e-6)
    only_second = LOSSES["multi_teacher"](cfg)(s, targets(t, y, 4.0, weights=torch.tensor([[0.0, 1.0]] * 4)))
    assert torch.allclose(only_second, 16.0 * F.cross_entropy(s / 4.0, p[1]), atol=1e-6)


def mdistiller_dkd_float64(s, t, y, temp, alpha, beta):
    """mdistiller's dkd_loss (mdistiller/distillers/DKD.py) in float64, CE and warm-up left out."""
    s, t = s.double(), t.double()
    gt = F.one_hot(y, s.shape[1]).bool()
    p_s, p_t = F.softmax(s / temp, 1), F.softmax(t / temp, 1)
    b_s = torch.stack([(p_s * gt).sum(1), (p_s * ~gt).sum(1)], 1)
    b_t = torch.stack([(p_t * gt).sum(1), (p_t * ~gt).sum(1)], 1)
    tckd = F.kl_div(torch.log(b_s), b_t, reduction="sum") * temp ** 2 / s.shape[0]
    q_t = F.softmax(t / temp - 1000.0 * gt, 1)
    log_q_s = F.log_softmax(s / temp - 1000.0 * gt, 1)
    nckd = F.kl_div(log_q_s, q_t, reduction="sum") * temp ** 2 / s.shape[0]
    return alpha * tckd + beta * nckd


@pytest.mark.parametrize("margin", [10.0, 40.0, 80.0, 200.0])
def test_dkd_at_large_margins_matches_float64_reference(margin):
    # a student sure of its answer (the target logit `margin` above the rest) against a less sure teacher,
    # at T = 1, where clamped float32 probabilities used to leave the reference
    torch.manual_seed(3)
    y = torch.tensor([0, 1, 2, 3])
    s = torch.randn(4, 5) + margin * F.one_hot(y, 5)
    t = torch.randn(1, 4, 5) * 2 + 5.0 * F.one_hot(y, 5)
    cfg = DistillConfig(temperature=1.0, dkd=DKDConfig(alpha=1.0, beta=8.0, warmup=0, ce_weight=0.0))
    ours_in = s.clone().requires_grad_()
    ours = LOSSES["dkd"](cfg)(ours_in, targets(t, y, 1.0))
    ours.backward()
    ref_in = s.double().requires_grad_()
    ref = mdistiller_dkd_float64(ref_in, t[0], y, 1.0, 1.0, 8.0)
    ref.backward()
    assert torch.isfinite(ours) and ref.item() > 1.0
    assert math.isclose(ours.item(), ref.item(), rel_tol=1e-5)
    assert torch.allclose(ours_in.grad.double(), ref_in.grad, rtol=1e-4, atol=1e-7)
