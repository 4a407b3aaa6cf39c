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
