"""Starting or joining Ray: the one place that calls `ray.init`.

A local run keeps every Ray process on 127.0.0.1 (RAY_NOTES.md: Ray binds to the
machine's network address unless RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0) with no
dashboard; token authentication stays on. Only a given address talks to other hosts.
"""

from __future__ import annotations

import os
from typing import Optional

from rlkd.errors import RlkdError


def ensure_ray(address: Optional[str] = None, num_cpus: Optional[int] = None) -> None:
    import ray

    if ray.is_initialized():
        return
    if address:
        try:
            ray.init(address=address, log_to_driver=True)
        except Exception as exc:  # ConnectionError, TimeoutError, auth failures
            raise RlkdError(f"could not connect to a Ray cluster at {address!r} ({type(exc).__name__}: {exc}); "
                            f"start one with `ray start --head` or fix --address / RAY_ADDRESS") from exc
        return
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    ray.init(num_cpus=num_cpus, include_dashboard=False, configure_logging=True, logging_level="WARNING")


def check_cpus(needed: float, what: str) -> None:
    """Say so before Ray waits forever for CPUs the cluster does not have."""
    import ray

    total = ray.cluster_resources().get("CPU", 0.0)
    if needed > total + 1e-9:
        raise RlkdError(f"{what} needs {needed:g} CPUs but the Ray cluster has {total:g}; lower "
                        f"resources.num_env_runners or resources.num_cpus_per_env_runner (e.g. 0.5), or add nodes")
