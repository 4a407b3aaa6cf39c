"""The gymnasium environment and the seed reward, without RLlib."""

import subprocess
import sys

import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

from rlkd.config import RewardConfig, load_config, with_overrides
from rlkd.env import CurriculumEnv, curriculum_reward, env_config_for
from tests.conftest import FRACTION_ONLY, run_overrides


def test_reward_first_step_only_bonuses():
    # a_{t-1} = 0 -> no R_acc; l_{t-1} = nan -> no R_loss; a_t = 65 > 60 at epoch 0 of 10 -> R_early = 2
    assert curriculum_reward(65.0, 0.0, 2.0, float("nan"), 0, 10) == pytest.approx(2.0)
    assert curriculum_reward(50.0, 0.0, 2.0, float("nan"), 0, 10) == pytest.approx(0.0)


def test_reward_accuracy_gain_and_loss_rise():
    # R_acc = 2 * (55 - 50) = 10; loss 1.0 -> 1.5: R_loss = -min(5 * 0.5, 5) = -2.5
    assert curriculum_reward(55.0, 50.0, 1.5, 1.0, 5, 10) == pytest.approx(10.0 - 2.5)
    # a big rise is capped at -5; a fall costs nothing
    assert curriculum_reward(50.0, 50.0, 9.0, 1.0, 5, 10) == pytest.approx(-5.0)
    assert curriculum_reward(50.0, 50.0, 0.5, 1.0, 5, 10) == pytest.approx(0.0)


def test_reward_early_and_absolute_bonus():
    # e < 0.3 * E: epochs 0, 1, 2 of 10 qualify, epoch 3 does not (e is 0-based)
    assert curriculum_reward(61.0, 61.0, 1.0, 1.0, 2, 10) == pytest.approx(2.0)
    assert curriculum_reward(61.0, 61.0, 1.0, 1.0, 3, 10) == pytest.approx(0.0)
    # R_abs = 0.1 * (80 - 70) = 1.0, plus R_acc = 2 * (80 - 78) = 4
    assert curriculum_reward(80.0, 78.0, 1.0, 1.0, 9, 10) == pytest.approx(5.0)
    # weights come from the reward section
    assert curriculum_reward(80.0, 78.0, 1.0, 1.0, 9, 10,
                             RewardConfig(acc_weight=1.0, abs_weight=0.0)) == pytest.approx(2.0)


@pytest.fixture(scope="module")
def env_cfg(teacher_dir, shards_dir):
    return load_config(None, run_overrides(teacher_dir, shards_dir) + FRACTION_ONLY + ["distill.epochs=3"])


def test_check_env_passes(env_cfg, teacher_dir, shards_dir):
    check_env(CurriculumEnv(env_config_for(env_cfg)), skip_render_check=True)
    discrete = load_config(None, run_overrides(teacher_dir, shards_dir) + FRACTION_ONLY +
                           ["distill.epochs=3", "env.action=discrete", "env.control_fraction=false"])
    check_env(CurriculumEnv(env_config_for(discrete)), skip_render_check=True)
    extras = load_config(None, run_overrides(teacher_dir, shards_dir) + FRACTION_ONLY +
                         ["distill.epochs=3", "env.control_temperature=true", "env.control_teacher_weights=true"])
    env = CurriculumEnv(env_config_for(extras))
    assert env.action_space.shape == (4,)  # difficulty, fraction, temperature, one teacher weight
    check_env(env, skip_render_check=True)
    shipped = CurriculumEnv(env_config_for(load_config(None, run_overrides(teacher_dir, shards_dir) +
                                                       ["distill.epochs=3"])))
    assert shipped.action_space.shape == (5,)  # the default: difficulty, fraction, alpha, mix, sampler
    check_env(shipped, skip_render_check=True)


def test_episode_runs_to_termination(env_cfg):
    env = CurriculumEnv(env_config_for(env_cfg))
    obs, _ = env.reset(seed=1)
    steps, done = 0, False
    while not done:
        obs, reward, done, truncated, info = env.step(env.action_space.sample())
        assert env.observation_space.contains(obs) and np.isfinite(reward) and not truncated
        steps += 1
    assert steps == 3 and info["epoch"] == 3


def test_reference_train_loss_is_the_configured_kd_loss_over_all_of_train(env_cfg):
    """reward.train_loss=reference: l_t is alpha CE(s, y) + (1 - alpha) T^2 CE(p_t^T, s / T) over every train sample
    with the config's alpha and T, whatever alpha the action set, and it is the loss the reward used."""
    cfg = with_overrides(env_cfg, ["reward.train_loss=reference", "env.control_alpha=true", "distill.alpha=0.3",
                                   "distill.temperature=2.0"])
    env = CurriculumEnv(env_config_for(cfg))
    env.reset(seed=3)
    rewards = []
    for action in ([0.5, 1.0, 0.0], [0.5, 1.0, 1.0]):  # alpha 0, then alpha 1: the reference ignores both
        _, reward, _, _, info = env.step(np.array(action, dtype=np.float32))
        s, y, t = env.run.student_logits.double(), env.run.labels, env.run.teacher_logits[0, :, 0].double()
        soft = -(torch.softmax(t / 2.0, 1) * torch.log_softmax(s / 2.0, 1)).sum(1).mean()
        by_hand = 0.3 * torch.nn.functional.cross_entropy(s, y) + 0.7 * 4.0 * soft
        assert info["reward_train_loss"] == pytest.approx(by_hand.item(), rel=1e-4)
        assert info["reward_train_loss"] != pytest.approx(info["train_loss"], rel=1e-3)  # not the epoch's loss
        rewards.append((reward, info))
    (_, first), (second_reward, second) = rewards
    assert second_reward == pytest.approx(curriculum_reward(second["val_acc"], first["val_acc"],
                                                            second["reward_train_loss"], first["reward_train_loss"],
                                                            1, cfg.distill.epochs, cfg.reward))


def test_extreme_action_changes_this_steps_subset(env_cfg):
    env = CurriculumEnv(env_config_for(env_cfg))
    n = len(env.task.data.train)
    env.reset(seed=0)
    _, _, _, _, small = env.step(np.array([0.0, 0.0], dtype=np.float32))  # easiest window, min fraction 0.3
    _, _, _, _, full = env.step(np.array([1.0, 1.0], dtype=np.float32))  # hardest, all data
    assert small["fraction"] == pytest.approx(0.3) and small["difficulty"] == 0.0
    assert abs(small["subset_size"] - 0.3 * n) < 10  # this step's subset, not the next one's
    assert full["subset_size"] == n and full["fraction"] == pytest.approx(1.0)
    env.reset(seed=0)
    _, _, _, _, hard = env.step(np.array([1.0, 0.0], dtype=np.float32))
    assert hard["subset_difficulty_mean"] > small["subset_difficulty_mean"]


def test_diverged_run_ends_with_penalty(env_cfg):
    import torch

    env = CurriculumEnv(env_config_for(env_cfg))
    env.reset(seed=0)
    with torch.no_grad():
        next(env.run.student.parameters())[0, 0] = float("nan")
    _, reward, done, _, info = env.step(env.action_space.sample())
    assert done and info["diverged"] and reward == env_cfg.env.divergence_penalty


@pytest.mark.slow
def test_env_module_imports_no_ray():
    code = "import sys, rlkd.env, rlkd.distill; assert 'ray' not in sys.modules, 'ray imported'; print('ok')"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and "ok" in res.stdout, res.stderr
