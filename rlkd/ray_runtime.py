"""Starting or joining Ray: the one place that calls `ray.init`.

A local run keeps every Ray process on 127.0.0.1 with no dashboard, whatever was
imported first: Ray reads RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER once, when `ray` is
imported, and otherwise binds to every interface (RAY_NOTES.md), so both the
variable (for the processes Ray starts) and Ray's already-read constant (for this
one) are set here. A local run never joins a cluster by accident: it starts its
own Ray (`address="local"`) and sets an inherited RAY_ADDRESS aside, saying so.
Token authentication stays as Ray sets it (docs/cluster.md). Only an address the
user gives (`--cluster`, `resources.ray_address`) talks to other hosts.
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path
from typing import Optional, Sequence

from rlkd.config import task_config
from rlkd.console import filter_harmless_lines
from rlkd.errors import RlkdError
from rlkd.models.imported import config_modules

LOOPBACK_VAR = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


def start_ray(cfg, address: Optional[str] = None) -> None:
    """`ensure_ray` for a stage: the config's cluster (resources.ray_address, or `address`), and the user's modules
    the config and each of its env.tasks name (models, data loaders) shipped to every worker."""
    if ray_is_up():  # the modules were shipped when it started: no need to build every task's config again
        return
    modules = {m.__name__: m for c in [cfg, *(task_config(cfg, t) for t in cfg.env.tasks)] for m in config_modules(c)}
    ensure_ray(address or cfg.resources.ray_address, py_modules=list(modules.values()))


def ray_is_up() -> bool:
    return "ray" in sys.modules and sys.modules["ray"].is_initialized()


def ensure_ray(address: Optional[str] = None, num_cpus: Optional[int] = None, py_modules: Sequence = ()) -> None:
    """Join the cluster at `address`, or start a local Ray on 127.0.0.1; no-op when Ray is up.

    `py_modules`: the user's modules every Ray worker must import (models by import path,
    `rlkd.models.imported.runtime_modules`), shipped with the job's runtime environment.
    """
    if ray_is_up():
        return
    filter_harmless_lines()  # the driver's; env runners drop theirs when they build rlkd's env (env_setup)
    runtime_env = {"py_modules": list(py_modules)} if py_modules else None
    if not address:
        keep_on_loopback()
        inherited = os.environ.pop("RAY_ADDRESS", None)
        if inherited:
            print(f"rlkd: ignoring RAY_ADDRESS={inherited} for this local run (Ray starts on 127.0.0.1); "
                  f"use --cluster or resources.ray_address to run on that cluster", file=sys.stderr)
        import ray

        ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, configure_logging=True,
                 logging_level="WARNING", _node_ip_address="127.0.0.1", runtime_env=runtime_env)
        return
    host, port = _host_port(address)
    if host is not None:
        if _is_loopback(host):  # a cluster on this machine: keep Ray from swapping in the network address
            keep_on_loopback()
        _check_listening(host, port, address)
    _send_token_if_available()
    import ray

    try:
        ray.init(address=address, log_to_driver=True, runtime_env=runtime_env)
    except Exception as exc:  # ConnectionError, TimeoutError, auth failures
        raise RlkdError(f"could not connect to a Ray cluster at {address!r} ({type(exc).__name__}: {exc}); "
                        f"start one with `ray start --head` or fix --address / RAY_ADDRESS") from exc


def keep_on_loopback() -> None:
    """Every Ray process of this run binds to 127.0.0.1, whether or not `ray` was imported already."""
    os.environ[LOOPBACK_VAR] = "0"  # read by the processes Ray starts
    if "ray" in sys.modules:  # this process read the variable at import: set what it read
        from ray._private import ray_constants

        ray_constants.ENABLE_RAY_CLUSTER = False


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
    if address == "auto" or "://" in address:
        return None, 0
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise RlkdError(f"Ray address {address!r} is not HOST:PORT with a port in 1..65535 (e.g. 10.0.0.5:6379), "
                        f"'auto' or ray://HOST:PORT; fix --address / RAY_ADDRESS / resources.ray_address")
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


def root_cause(exc: BaseException) -> str:
    """The innermost error's type and last line: Ray wraps a worker's error several layers deep."""
    seen = {id(exc)}
    while True:
        inner = getattr(exc, "cause", None) or exc.__cause__
        if not isinstance(inner, BaseException) or id(inner) in seen:
            break
        seen.add(id(inner))
        exc = inner
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[-1] if lines else ''}"
