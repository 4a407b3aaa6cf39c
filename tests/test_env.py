"""The gymnasium environment and the seed reward, without RLlib."""

import subprocess
import sys

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from rlkd.config import RewardConfig, load_config
from rlkd.env import CurriculumEnv, curriculum_reward, env_config_for
from tests.conftest import run_overrides


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
    assert curriculum_reward(80.0, 78.0, 1.0, 1.0, 9, 10, RewardConfig(acc_weight=1.0, abs_weight=0.0)) == pytest.approx(2.0)


@pytest.fixture(scope="module")
def env_cfg(teacher_dir, shards_dir):
    return load_config(None, run_overrides(teacher_dir, shards_dir) + ["distill.epochs=3"])


def test_check_env_passes(env_cfg, teacher_dir, shards_dir):
    check_env(CurriculumEnv(env_config_for(env_cfg)), skip_render_check=True)
    discrete = load_config(None, run_overrides(teacher_dir, shards_dir) +
                           ["distill.epochs=3", "env.action=discrete", "env.control_fraction=false"])
    check_env(CurriculumEnv(env_config_for(discrete)), skip_render_check=True)
    extras = load_config(None, run_overrides(teacher_dir, shards_dir) +
                         ["distill.epochs=3", "env.control_temperature=true", "env.control_teacher_weights=true"])
    env = CurriculumEnv(env_config_for(extras))
    assert env.action_space.shape == (4,)  # difficulty, fraction, temperature, one teacher weight
    check_env(env, skip_render_check=True)


def test_episode_runs_to_termination(env_cfg):
    env = CurriculumEnv(env_config_for(env_cfg))
    obs, _ = env.reset(seed=1)
    steps, done = 0, False
    while not done:
        obs, reward, done, truncated, info = env.step(env.action_space.sample())
        assert env.observation_space.contains(obs) and np.isfinite(reward) and not truncated
        steps += 1
    assert steps == 3 and info["epoch"] == 3


def test_extreme_action_changes_this_steps_subset(env_cfg):
    env = CurriculumEnv(env_config_for(env_cfg))
    n = len(env.data.train)
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


def test_env_module_imports_no_ray():
    code = "import sys, rlkd.env, rlkd.distill; assert 'ray' not in sys.modules, 'ray imported'; print('ok')"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and "ok" in res.stdout, res.stderr
