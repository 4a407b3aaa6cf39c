"""`CurriculumVectorEnv`: K curriculum envs whose students train together as one `StudentPopulation`.

What RLlib's env runners step when `resources.num_envs_per_env_runner` is K: sub-env k is exactly the
`CurriculumEnv` a `gymnasium.vector.SyncVectorEnv` would hold in place k (the same run seeds, actions,
rewards and observations, to the population's float tolerance), but the K students' epochs are one
batched model's, which on small students costs a fraction of K lone epochs (docs/benchmarks.md).

Autoreset is gymnasium's NEXT_STEP, what RLlib expects: the step after a sub-env's episode ended
starts its next run (its action is ignored, its reward is 0) while the other lanes train.

With env.tasks each lane draws its task per episode, as its lone env does; lanes share one data set per
population, so there is one population per task, each holding all K lanes, of which those on its task train
(the others idle there, untouched).
"""

from __future__ import annotations

from typing import Any, Optional, Sequence, Union

import numpy as np
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from rlkd.curriculum.actions import CONFIGURED, EpochAction, decode_action
from rlkd.curriculum.observation import encode_observation, env_spaces, observation_keys
from rlkd.distill.population import StudentPopulation
from rlkd.env.curriculum_env import EpochStepper, draw_run_seed, draw_task, env_setup, episode_tasks


class CurriculumVectorEnv(VectorEnv):
    metadata = {"render_modes": [], "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(self, env_config: Optional[dict] = None, num_envs: Optional[int] = None):
        """`num_envs` K, or env_config's "num_envs" (how RLlib's vector entry point passes it), or 1."""
        self.cfg = env_setup(env_config)
        self.tasks = episode_tasks(env_config, self.cfg)
        self.num_envs = int(num_envs or dict(env_config or {}).get("num_envs") or 1)
        self.num_teachers = self.tasks[0].shards.num_teachers
        self.single_action_space, self.single_observation_space = env_spaces(self.cfg, self.num_teachers)
        self.obs_keys = observation_keys(self.cfg.env)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.populations: dict[int, StudentPopulation] = {}  # task index -> its K lanes (those on it train)
        self.lane_task = [0] * self.num_envs  # the task each lane's run is on
        self.steppers: list[EpochStepper] = []
        self._rngs: list[Optional[np.random.Generator]] = [None] * self.num_envs  # one per sub-env, as its own env's
        self._ended = np.zeros(self.num_envs, dtype=bool)  # sub-envs whose next step starts a new episode

    @property
    def population(self) -> Optional[StudentPopulation]:
        """The population lane 0's run is in (with one task: the one population)."""
        return self.populations.get(self.lane_task[0])

    def reset(self, *, seed: Union[int, Sequence[Optional[int]], None] = None,
              options: Optional[dict] = None) -> tuple[np.ndarray, dict]:
        """Every sub-env starts a new run; `seed` as gymnasium's vector envs take it (int s: sub-env k gets s + k)."""
        seeds = [seed + k for k in range(self.num_envs)] if isinstance(seed, int) else seed or [None] * self.num_envs
        for k, s in enumerate(seeds):
            if s is not None or self._rngs[k] is None:
                self._rngs[k] = seeding.np_random(s)[0]
        self.steppers = [None] * self.num_envs
        infos: dict = {}
        for k, start in enumerate(self._start_runs(list(range(self.num_envs)))):
            infos = self._add_info(infos, start, k)
        self._ended[:] = False
        return self._observations(), infos

    def _start_runs(self, lanes: list[int]) -> list[dict]:
        """A new run in each of `lanes`: its task, then its seed, drawn from the lane's generator as its lone env
        draws them. A task's population is built the first time a lane draws it, its other lanes idle there."""
        drawn = []
        for k in lanes:
            t = draw_task(self._rngs[k], [task.weight for task in self.tasks])
            drawn.append((k, t, draw_run_seed(self._rngs[k], self.tasks[t].cfg)))
        for t in sorted({t for _, t, _ in drawn} - set(self.populations)):
            task, first = self.tasks[t], {k: seed for k, tk, seed in drawn if tk == t}
            seeds = [first.get(k, next(iter(first.values()))) for k in range(self.num_envs)]
            self.populations[t] = StudentPopulation(task.cfg, task.shards, seeds, task.data)
            drawn = [(k, tk, None if tk == t else seed) for k, tk, seed in drawn]  # built on its seed already
        infos = []
        for k, t, seed in drawn:
            if seed is not None:
                self.populations[t].reset(k, seed)
            self.lane_task[k] = t
            run = self.populations[t].runs[k]
            self.steppers[k] = EpochStepper(self.tasks[t].cfg, run)
            infos.append({"run_seed": run.seed, **({"task": self.tasks[t].name} if self.tasks[t].name else {})})
        return infos

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
        if not self.populations:
            raise RuntimeError("call reset() before step()")
        rewards = np.zeros(self.num_envs, dtype=np.float64)
        terminated = np.zeros(self.num_envs, dtype=bool)
        infos: dict = {}
        ended = [int(k) for k in np.flatnonzero(self._ended)]
        for k, start in zip(ended, self._start_runs(ended)):
            infos = self._add_info(infos, start, k)
        lanes = [k for k in range(self.num_envs) if not self._ended[k]]
        epoch_actions: list[EpochAction] = [CONFIGURED] * self.num_envs
        for k in lanes:
            epoch_actions[k] = decode_action(actions[k], self.tasks[self.lane_task[k]].cfg, self.num_teachers)
        results: dict[int, object] = {}
        for t, population in self.populations.items():
            on_task = [k for k in lanes if self.lane_task[k] == t]
            if on_task:
                out = population.epoch(epoch_actions, lanes=on_task)
                results.update({k: out[k] for k in on_task})
        for k in lanes:
            rewards[k], diverged, info = self.steppers[k].score(results[k])
            terminated[k] = diverged or self._run(k).finished
            infos = self._add_info(infos, info, k)
        self._ended = terminated.copy()
        return self._observations(), rewards, terminated, np.zeros(self.num_envs, dtype=bool), infos

    def _run(self, k: int):
        return self.populations[self.lane_task[k]].runs[k]

    def _observations(self) -> np.ndarray:
        return np.stack([encode_observation(self._run(k).observe(), self.obs_keys) for k in range(self.num_envs)])
