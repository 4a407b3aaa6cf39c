"""Starting or joining Ray: the one place that calls `ray.init`.

A local run keeps every Ray process on 127.0.0.1 (RAY_NOTES.md: Ray binds to the
machine's network address unless RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0) with no
dashboard; token authentication stays on. Only a given address talks to other hosts.
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path
from typing import Optional

from rlkd.errors import RlkdError


def ensure_ray(address: Optional[str] = None, num_cpus: Optional[int] = None) -> None:
    """Join the cluster at `address`, or start a local Ray on 127.0.0.1; no-op when Ray is up."""
    if "ray" in sys.modules and sys.modules["ray"].is_initialized():
        return
    if not address:
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        import ray

        ray.init(num_cpus=num_cpus, include_dashboard=False, configure_logging=True, logging_level="WARNING")
        return
    host, port = _host_port(address)
    if host is not None:
        if _is_loopback(host):  # a cluster on this machine: keep Ray from swapping in the network address
            os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
        _check_listening(host, port, address)
    _send_token_if_available()
    import ray

    try:
        ray.init(address=address, log_to_driver=True)
    except Exception as exc:  # ConnectionError, TimeoutError, auth failures
        raise RlkdError(f"could not connect to a Ray cluster at {address!r} ({type(exc).__name__}: {exc}); "
                        f"start one with `ray start --head` or fix --address / RAY_ADDRESS") from exc


def _send_token_if_available() -> None:
    """A cluster started with `ray start` requires the token; Ray's client must be told to send it.

    Set before Ray reads its config (at import), or refreshed through Ray's own setup when it was imported.
    """
    if "RAY_AUTH_MODE" in os.environ:
        return
    if os.environ.get("RAY_AUTH_TOKEN") or os.environ.get("RAY_AUTH_TOKEN_PATH") or \
            (Path.home() / ".ray" / "auth_token").is_file():
        os.environ["RAY_AUTH_MODE"] = "token"
        if "ray" in sys.modules:
            from ray._private.authentication.authentication_token_setup import _enable_token_auth

            _enable_token_auth()


def _host_port(address: str) -> tuple[Optional[str], int]:
    """(host, port) of a host:port address; (None, 0) for 'auto' or a ray:// URL that Ray resolves itself."""
    if address == "auto" or "://" in address or ":" not in address:
        return None, 0
    host, _, port = address.rpartition(":")
    return host, int(port)


def _is_loopback(host: str) -> bool:
    return host == "localhost" or host.startswith("127.") or host == "::1"


def _check_listening(host: str, port: int, address: str, timeout: float = 5.0) -> None:
    """Fail in seconds, not minutes, when nothing answers at the address (ray.init retries for ~2 minutes)."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return
    except OSError as exc:
        raise RlkdError(f"nothing answers at {address!r} ({exc}); start the cluster with `ray start --head "
                        f"--port={port}` or fix --address / RAY_ADDRESS") from exc


def check_cpus(needed: float, what: str) -> None:
    """Say so before Ray waits forever for CPUs the cluster does not have."""
    import ray

    total = ray.cluster_resources().get("CPU", 0.0)
    if needed > total + 1e-9:
        raise RlkdError(f"{what} needs {needed:g} CPUs but the Ray cluster has {total:g}; lower "
                        f"resources.num_env_runners or resources.num_cpus_per_env_runner (e.g. 0.5), or add nodes")
