"""The seed project's reward, exactly (DESIGN.md), as a pure function.

After epoch e (0-based) of E, with a_t the val accuracy in % and l_t the train loss:
    R_acc   = 2.0 * (a_t - a_{t-1})                  if a_{t-1} > 0 else 0
    R_loss  = -min(5.0 * max(l_t - l_{t-1}, 0), 5.0)  if l_{t-1} is finite else 0
    R_early = 2.0                                     if a_t > 60 and e < 0.3 * E else 0
    R_abs   = 0.1 * max(a_t - 70, 0)
The constants are the `reward` config section's defaults.
"""

from __future__ import annotations

import math
from typing import Optional

from rlkd.config import RewardConfig


def curriculum_reward(acc: float, prev_acc: float, loss: float, prev_loss: float, epoch: int, epochs: int,
                      cfg: Optional[RewardConfig] = None) -> float:
    """Reward for the epoch just trained; `epoch` is its 0-based index; accuracies in percent."""
    cfg = cfg or RewardConfig()
    r_acc = cfg.acc_weight * (acc - prev_acc) if prev_acc > 0 else 0.0
    r_loss = -min(cfg.loss_weight * max(loss - prev_loss, 0.0), cfg.loss_cap) if math.isfinite(prev_loss) else 0.0
    r_early = cfg.early_bonus if acc > cfg.early_acc and epoch < cfg.early_fraction * epochs else 0.0
    r_abs = cfg.abs_weight * max(acc - cfg.abs_threshold, 0.0)
    return r_acc + r_loss + r_early + r_abs
