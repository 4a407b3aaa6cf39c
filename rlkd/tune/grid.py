"""Many policy runs as populations: in this process, or spread over a Ray cluster, one population per task.

On a cluster (`--cluster` / `resources.ray_address`) an evaluation grid takes the time of its slowest
population, not the sum; locally it stays in-process, where a Ray task would only add its start-up.
"""

from __future__ import annotations

from typing import Sequence

from rlkd.config import Config
from rlkd.console import progress
from rlkd.env.curriculum_env import shared_inputs
from rlkd.env.episode import PolicyRun, run_policies


def population_task(runs: Sequence[PolicyRun]) -> tuple[str, list[dict]]:
    """(the node it ran on, its results): one population in a Ray worker, which loads data and shards itself."""
    import ray

    data, shards = shared_inputs(runs[0].cfg)
    return ray.get_runtime_context().get_node_id(), run_policies(runs, data, shards)


def run_grid(cfg: Config, runs: Sequence[PolicyRun], what: str) -> tuple[list[dict], list[dict]]:
    """(every run's result, in order; one row per population: its lanes and where it ran)."""
    size, r = cfg.resources.population_size, cfg.resources
    chunks = [list(runs[i:i + size]) for i in range(0, len(runs), size)]
    if not r.ray_address:
        data, shards = shared_inputs(cfg)
        results = [run_policies(chunk, data, shards) for chunk in progress(chunks, desc=what, unit="population")]
        return [x for chunk in results for x in chunk], [{"lanes": len(c), "node": "local"} for c in chunks]
    import ray

    from rlkd.ray_runtime import start_ray

    start_ray(cfg)
    task = ray.remote(population_task).options(num_cpus=r.num_cpus_per_env_runner, num_gpus=r.num_gpus_per_env_runner)
    refs = [task.remote(chunk) for chunk in chunks]
    done = [ray.get(ref) for ref in progress(refs, desc=f"{what} on the cluster", unit="population")]
    return [x for _, chunk in done for x in chunk], [{"lanes": len(c), "node": node}
                                                     for c, (node, _) in zip(chunks, done)]
