"""CurriculumVectorEnv: K sub-envs trained as one StudentPopulation step exactly as K lone CurriculumEnvs do."""

import numpy as np
import pytest
from gymnasium.vector import SyncVectorEnv

from rlkd.config import load_config
from rlkd.env import CurriculumEnv, env_config_for
from rlkd.env.vector_env import CurriculumVectorEnv
from tests.conftest import run_overrides

K = 3


@pytest.fixture(scope="module")
def vec_cfg(teacher_dir, shards_dir):
    # a budget makes episodes end at different epochs (fraction actions differ), so lanes fall out of step
    return load_config(None, run_overrides(teacher_dir, shards_dir) + ["distill.epochs=3", "env.budget=0.6",
                                                                       "student.model_kwargs={hidden: [64]}"])


def step_both(cfg, steps: int):
    """The same seeded random actions through the population vector env and gymnasium's SyncVectorEnv of lone envs."""
    vec = CurriculumVectorEnv(env_config_for(cfg), K)
    lone = SyncVectorEnv([lambda: CurriculumEnv(env_config_for(cfg)) for _ in range(K)])
    rng = np.random.default_rng(0)
    out = [(vec.reset(seed=5), lone.reset(seed=5))]
    for _ in range(steps):
        actions = rng.random((K, vec.single_action_space.shape[0]), dtype=np.float32)
        out.append((vec.step(actions), lone.step(actions)))
    return vec, out


def test_vector_env_steps_as_lone_envs(vec_cfg):
    vec, out = step_both(vec_cfg, steps=9)
    assert vec.population.batched, vec.population.reason
    (obs, infos), (lone_obs, lone_infos) = out[0]
    np.testing.assert_allclose(obs, lone_obs, atol=1e-5)
    assert list(infos["run_seed"]) == list(lone_infos["run_seed"])
    ends, out_of_step = 0, False
    for (obs, reward, term, trunc, info), (l_obs, l_reward, l_term, l_trunc, l_info) in out[1:]:
        np.testing.assert_allclose(obs, l_obs, atol=1e-5)  # val acc, loss, difficulty quantiles, progress, ...
        np.testing.assert_allclose(reward, l_reward, atol=1e-4)
        assert list(term) == list(l_term) and not trunc.any() and not l_trunc.any()
        for key in ("samples_seen", "subset_size", "run_seed"):
            assert list(info.get(key, [])) == list(l_info.get(key, [])), key
        ends += int(term.sum())
        out_of_step |= 0 < term.sum() < K
    assert ends >= K and out_of_step  # lanes ended at different steps; each autoreset started the next episode


@pytest.mark.slow
def test_finished_lane_waits_for_its_reset_step(vec_cfg):
    vec = CurriculumVectorEnv(env_config_for(vec_cfg), 2)
    vec.reset(seed=1)
    actions = np.full((2, vec.single_action_space.shape[0]), 0.5, dtype=np.float32)
    while True:
        _, _, term, _, _ = vec.step(actions)
        if term.any():
            break
    done = int(np.flatnonzero(term)[0])
    weights = {n: t.clone() for n, t in vec.population.runs[done].student.state_dict().items()}
    _, reward, term2, _, info = vec.step(actions)  # the reset step of lane `done`: no training, reward 0
    assert reward[done] == 0.0 and not term2[done] and info["_run_seed"][done]
    fresh = vec.population.runs[done]
    assert fresh.epoch_index == 0 and fresh.samples_seen == 0
    assert any(not (t == weights[n]).all() for n, t in fresh.student.state_dict().items())  # a new student
