"""What a curriculum policy sees and does: the observation's keys and encoding, and both spaces.

The env (rlkd.env) produces observations and takes actions in these spaces; the policies (fixed, learned,
exported) read them. Both import this module, so neither imports the other.

Observation (Box of 11 floats in [0, 1]), after the last epoch trained:
    0 val_acc           val accuracy / 100 (0 before the first epoch)
    1 train_loss        l / (1 + l) of the mean training loss (0 before the first epoch)
    2-4 difficulty_q10/q50/q90   quantiles of D_sample under the current student
    5 agreement         share of train samples where student and teacher argmax agree
    6 progress          share of the run done: max(epochs done / epochs, budget_used), 1 at the end
    7 last_fraction     share of the training set the last epoch used
    8 budget_used       samples seen / the run's budget of samples (1 when the budget is spent)
    9-10 d_label_q50/q90  quantiles of D_label = 1 - p_t(label) over train: how much label noise the
                        teacher sees (fixed for a run; docs/distill.md)
"""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np

from rlkd.config import Config
from rlkd.curriculum.actions import action_dims

OBS_KEYS = ("val_acc", "train_loss", "difficulty_q10", "difficulty_q50", "difficulty_q90", "agreement", "progress",
            "last_fraction", "budget_used", "d_label_q50", "d_label_q90")


def encode_observation(obs: dict[str, float]) -> np.ndarray:
    loss = obs["train_loss"]
    values = dict(obs, train_loss=0.0 if not math.isfinite(loss) else loss / (1.0 + loss))
    return np.clip(np.array([values[k] for k in OBS_KEYS], dtype=np.float32), 0.0, 1.0)


def env_spaces(cfg: Config, num_teachers: int) -> tuple[gym.Space, gym.spaces.Box]:
    """(action space, observation space) of one curriculum env."""
    env = cfg.env
    if env.action == "discrete":
        action_space = gym.spaces.Discrete(env.difficulty_bins)
    else:
        action_space = gym.spaces.Box(0.0, 1.0, shape=(len(action_dims(env, num_teachers)),), dtype=np.float32)
    return action_space, gym.spaces.Box(0.0, 1.0, shape=(len(OBS_KEYS),), dtype=np.float32)
