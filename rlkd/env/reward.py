"""The seed project's reward, exactly (DESIGN.md), as a pure function.

After epoch e (0-based) of E, with a_t the val accuracy in % and l_t the train loss:
    R_acc   = 2.0 * (a_t - a_{t-1})                  if a_{t-1} > 0 else 0
    R_loss  = -min(5.0 * max(l_t - l_{t-1}, 0), 5.0)  if l_{t-1} is finite else 0
    R_early = 2.0                                     if a_t > 60 and e < 0.3 * E else 0
    R_abs   = 0.1 * max(a_t - 70, 0)
The constants are the `reward` config section's defaults. With `reward.thresholds: teacher` the 60 and 70
are shares of the teacher's val accuracy (`task_relative`): on a task whose teacher reaches 50 %, the seed's
absolute thresholds would never pay, and on one at 99 % they pay from the first epoch.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Optional

import torch

from rlkd.config import RewardConfig
from rlkd.distill.losses import Targets


def curriculum_reward(acc: float, prev_acc: float, loss: float, prev_loss: float, epoch: int, epochs: int,
                      cfg: Optional[RewardConfig] = None) -> float:
    """Reward for the epoch just trained; `epoch` is its 0-based index; accuracies in percent."""
    cfg = cfg or RewardConfig()
    r_acc = cfg.acc_weight * (acc - prev_acc) if prev_acc > 0 else 0.0
    r_loss = -min(cfg.loss_weight * max(loss - prev_loss, 0.0), cfg.loss_cap) if math.isfinite(prev_loss) else 0.0
    r_early = cfg.early_bonus if acc > cfg.early_acc and epoch < cfg.early_fraction * epochs else 0.0
    r_abs = cfg.abs_weight * max(acc - cfg.abs_threshold, 0.0)
    return r_acc + r_loss + r_early + r_abs


def task_relative(cfg: RewardConfig, teacher_val_acc: float) -> RewardConfig:
    """The reward section with its accuracy thresholds read as shares (%) of the teacher's val accuracy (in %)."""
    scale = teacher_val_acc / 100.0
    return dataclasses.replace(cfg, early_acc=cfg.early_acc * scale, abs_threshold=cfg.abs_threshold * scale)


@torch.no_grad()
def reference_train_loss(loss_fn: torch.nn.Module, student_logits: torch.Tensor, labels: torch.Tensor,
                         teacher_logits: torch.Tensor, temperature: float, epoch: int) -> float:
    """l_t that no action can re-define: the run's configured loss (`loss_fn` with its own alpha, `temperature`,
    equal teacher weights) over every training sample, from the student's logits after the epoch.

    The seed's l_t, the epoch's mean training loss, moves when an action changes the loss itself: a policy that
    sets alpha or T, or picks a harder subset, changes R_loss without changing how well the student learned.
    Measured: under 20% label noise, PPO with the alpha action raised alpha to 1 (labels only, on noisy
    labels) after epoch 8, where lower alpha had raised the loss and drawn R_loss penalties.
    teacher_logits: (T, N, C), the identity view of every stored teacher.
    """
    probs = torch.softmax(teacher_logits / temperature, dim=-1)
    return float(loss_fn(student_logits, Targets(labels, teacher_logits, probs, temperature, epoch)))
