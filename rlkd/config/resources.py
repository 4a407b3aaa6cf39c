"""The `resources:` section: devices, Ray workers and their shares, and the precompute actors."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Optional

from rlkd.config.checks import check, check_at_least


@dataclass
class PrecomputeResources:
    """The Ray Data actors that score the data with the teacher (`rlkd precompute`)."""

    actors: int = 1
    batch_size: int = 256
    gpus_per_actor: float = 0.0
    cpus_per_actor: float = 0.5  # < 1 on small machines leaves a CPU for Ray Data's own tasks
    rows_per_shard: int = 50_000

    def validate(self, path: str) -> None:
        check_at_least(self, path, 1, "actors", "batch_size", "rows_per_shard")
        check_at_least(self, path, 0, "gpus_per_actor", "cpus_per_actor")


@dataclass
class ResourcesConfig:
    device: Literal["auto", "cpu", "cuda"] = "auto"
    num_env_runners: int = 0
    num_envs_per_env_runner: int = 1
    num_cpus_per_env_runner: float = 1.0
    num_gpus_per_env_runner: float = 0.0
    num_learners: int = 0
    num_gpus_per_learner: float = 0.0
    precompute: PrecomputeResources = field(default_factory=PrecomputeResources)
    ray_address: Optional[str] = None  # null: an embedded local Ray on 127.0.0.1; else ray.init(address=...)
    torch_threads: int = 0  # 0: leave torch's default
    sample_timeout_s: float = 60.0  # RLlib's wait for env runners' episodes per iteration; raise it for slow epochs
    env_runner_restarts: int = 3  # PPO stops after this many iterations in a row whose env runners all failed
    # most runs one StudentPopulation trains at once (evaluate's method x seed grid); on a cluster each
    # population is one Ray task with num_cpus/gpus_per_env_runner
    population_size: int = 32

    def validate(self, path: str) -> None:
        check_at_least(self, path, 1, "num_envs_per_env_runner", "env_runner_restarts", "population_size")
        check(self.sample_timeout_s > 0, f"{path}.sample_timeout_s", self.sample_timeout_s, "a number of seconds > 0")
        check_at_least(self, path, 0, "num_env_runners", "num_cpus_per_env_runner", "num_gpus_per_env_runner",
                       "num_learners", "num_gpus_per_learner", "torch_threads")
