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

With `env.task_features` (for policies trained across tasks, `env.tasks`), five more, each meaning the same
on every task:
    11 val_acc_vs_teacher   val accuracy / the teacher's val accuracy, capped at 1 (0 before the first epoch)
    12 train_loss_vs_log_c  the mean training loss / log C (the loss of a uniform guess), capped at 1
    13 teacher_val_acc      the teacher's val accuracy / 100 (fixed for a task)
    14 doubtful_labels      share of train samples whose label the teacher doubts: D_label > 0.5 (fixed)
    15 log_train_size       log10(N train) / 6, capped at 1 (fixed)
A policy reads the keys it was trained with (its config's), whatever the run it acts in sets.
"""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np

from rlkd.config import Config, EnvConfig
from rlkd.curriculum.actions import action_dims

OBS_KEYS = ("val_acc", "train_loss", "difficulty_q10", "difficulty_q50", "difficulty_q90", "agreement", "progress",
            "last_fraction", "budget_used", "d_label_q50", "d_label_q90")
TASK_KEYS = ("val_acc_vs_teacher", "train_loss_vs_log_c", "teacher_val_acc", "doubtful_labels", "log_train_size")


def observation_keys(env: EnvConfig) -> tuple[str, ...]:
    """The observation's keys, in order, under this env section."""
    return OBS_KEYS + TASK_KEYS if env.task_features else OBS_KEYS


def encode_observation(obs: dict[str, float], keys: tuple[str, ...] = OBS_KEYS) -> np.ndarray:
    loss = obs["train_loss"]
    values = dict(obs, train_loss=0.0 if not math.isfinite(loss) else loss / (1.0 + loss))
    return np.clip(np.array([values[k] for k in keys], dtype=np.float32), 0.0, 1.0)


def env_spaces(cfg: Config, num_teachers: int) -> tuple[gym.Space, gym.spaces.Box]:
    """(action space, observation space) of one curriculum env."""
    env = cfg.env
    if env.action == "discrete":
        action_space = gym.spaces.Discrete(env.difficulty_bins)
    else:
        action_space = gym.spaces.Box(0.0, 1.0, shape=(len(action_dims(env, num_teachers)),), dtype=np.float32)
    return action_space, gym.spaces.Box(0.0, 1.0, shape=(len(observation_keys(env)),), dtype=np.float32)
