"""`CurriculumVectorEnv`: K curriculum envs whose students train together as one `StudentPopulation`.

What RLlib's env runners step when `resources.num_envs_per_env_runner` is K: sub-env k is exactly the
`CurriculumEnv` a `gymnasium.vector.SyncVectorEnv` would hold in place k (the same run seeds, actions,
rewards and observations, to the population's float tolerance), but the K students' epochs are one
batched model's, which on small students costs a fraction of K lone epochs (docs/benchmarks.md).

Autoreset is gymnasium's NEXT_STEP, what RLlib expects: the step after a sub-env's episode ended
starts its next run (its action is ignored, its reward is 0) while the other lanes train.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence, Union

import numpy as np
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from rlkd.curriculum.actions import CONFIGURED, EpochAction, decode_action
from rlkd.curriculum.observation import encode_observation, env_spaces
from rlkd.distill.population import StudentPopulation
from rlkd.env.curriculum_env import EpochStepper, draw_run_seed, env_setup, shared_inputs


class CurriculumVectorEnv(VectorEnv):
    metadata = {"render_modes": [], "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(self, env_config: Optional[dict] = None, num_envs: Optional[int] = None):
        """`num_envs` K, or env_config's "num_envs" (how RLlib's vector entry point passes it), or 1."""
        self.cfg = env_setup(env_config)
        self.data, self.shards = shared_inputs(self.cfg)
        self.num_envs = int(num_envs or dict(env_config or {}).get("num_envs") or 1)
        self.num_teachers = self.shards.num_teachers
        self.single_action_space, self.single_observation_space = env_spaces(self.cfg, self.num_teachers)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.population: Optional[StudentPopulation] = None
        self.steppers: list[EpochStepper] = []
        self._rngs: list[Optional[np.random.Generator]] = [None] * self.num_envs  # one per sub-env, as its own env's
        self._ended = np.zeros(self.num_envs, dtype=bool)  # sub-envs whose next step starts a new episode

    def reset(self, *, seed: Union[int, Sequence[Optional[int]], None] = None,
              options: Optional[dict] = None) -> tuple[np.ndarray, dict]:
        """Every sub-env starts a new run; `seed` as gymnasium's vector envs take it (int s: sub-env k gets s + k)."""
        seeds = [seed + k for k in range(self.num_envs)] if isinstance(seed, int) else seed or [None] * self.num_envs
        for k, s in enumerate(seeds):
            if s is not None or self._rngs[k] is None:
                self._rngs[k] = seeding.np_random(s)[0]
        run_seeds = [draw_run_seed(rng, self.cfg) for rng in self._rngs]
        if self.population is None:
            self.population = StudentPopulation(self.cfg, self.shards, run_seeds, self.data)
        else:
            for k, run_seed in enumerate(run_seeds):
                self.population.reset(k, run_seed)
        self.steppers = [EpochStepper(self.cfg, run) for run in self.population.runs]
        self._ended[:] = False
        infos: dict = {}
        for k, run_seed in enumerate(run_seeds):
            infos = self._add_info(infos, {"run_seed": run_seed}, k)
        return self._observations(), infos

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
        if self.population is None:
            raise RuntimeError("call reset() before step()")
        rewards = np.zeros(self.num_envs, dtype=np.float64)
        terminated = np.zeros(self.num_envs, dtype=bool)
        infos: dict = {}
        for k in np.flatnonzero(self._ended):
            run_seed = draw_run_seed(self._rngs[k], self.cfg)
            self.population.reset(int(k), run_seed)
            self.steppers[k] = EpochStepper(self.cfg, self.population.runs[k])
            infos = self._add_info(infos, {"run_seed": run_seed}, int(k))
        lanes = [k for k in range(self.num_envs) if not self._ended[k]]
        epoch_actions: list[EpochAction] = [CONFIGURED] * self.num_envs
        for k in lanes:
            epoch_actions[k] = decode_action(actions[k], self.cfg, self.num_teachers)
        results = self.population.epoch(epoch_actions, lanes=lanes)
        for k in lanes:
            rewards[k], diverged, info = self.steppers[k].score(results[k])
            terminated[k] = diverged or self.population.runs[k].finished
            infos = self._add_info(infos, info, k)
        self._ended = terminated.copy()
        return self._observations(), rewards, terminated, np.zeros(self.num_envs, dtype=bool), infos

    def _observations(self) -> np.ndarray:
        return np.stack([encode_observation(obs) for obs in self.population.observe()])
