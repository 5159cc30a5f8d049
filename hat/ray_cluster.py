"""Connecting to Ray, shared by the build and eval engines (``--engine ray``).

Ray is an optional extra (``pip install 'hat-bias[ray]'``); every problem reaching it becomes one
:class:`HatError` line naming the fix, raised before any work or file is written.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from .errors import HatError

INSTALL_HINT = "pip install 'hat-bias[ray]'"


def require_ray() -> Any:
    """The ``ray`` module, or a one-line error saying how to install it."""
    try:
        import ray  # noqa: PLC0415  (optional extra)
    except ImportError:
        raise HatError(f"--engine ray needs Ray, which is not installed ({INSTALL_HINT})") from None
    return ray


def connect(address: str | None = None, *, num_cpus: int | None = None, num_gpus: float | None = None) -> Any:
    """Start a local Ray (``address`` None) or join a running cluster (``auto`` or ``host:port``).

    Reuses a Ray already initialised in this process. ``num_cpus``/``num_gpus`` only apply to a local start
    (they declare logical resources, which is how GPU placement is tested on a CPU machine).
    """
    ray = require_ray()
    if ray.is_initialized():
        return ray
    kwargs: dict[str, Any] = dict(include_dashboard=False, log_to_driver=False, configure_logging=False)
    if address:
        kwargs["address"] = address
    else:
        if num_cpus is not None:
            kwargs["num_cpus"] = num_cpus
        if num_gpus is not None:
            kwargs["num_gpus"] = num_gpus
    if address and address != "auto" and not address.startswith("ray://"):
        _probe(address)
    os.environ.setdefault("RAY_ACCEPT_USAGE_STATS_PROMPT", "0")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        ray.init(**kwargs)
    except (ConnectionError, RuntimeError, ValueError, TimeoutError) as e:
        where = f"at '{address}'" if address else "locally"
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        hint = ("start one with `ray start --head` or leave out --ray-address to run a local Ray"
                if address else "check /dev/shm space and that no stale Ray session holds its ports")
        raise HatError(f"cannot reach a Ray cluster {where}: {first} ({hint})") from None
    return ray


def _probe(address: str, timeout: float = 5.0) -> None:
    """Fail in seconds, not minutes: Ray retries an unreachable GCS address for a long time."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise HatError(f"--ray-address '{address}' is not host:port (valid: auto, host:port, or leave it out "
                       "to start a local Ray)")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as e:
        raise HatError(f"cannot reach a Ray cluster at '{address}': {e.strerror or e} (start one with "
                       "`ray start --head`, or leave out --ray-address to run a local Ray)") from None


def cluster_gpus() -> tuple[float, float]:
    """(total GPUs in the cluster, most GPUs on any one alive node)."""
    ray = require_ray()
    per_node = [float(n.get("Resources", {}).get("GPU", 0.0)) for n in ray.nodes() if n.get("Alive")]
    return sum(per_node), max(per_node, default=0.0)


def check_gpus_per_worker(gpus_per_worker: float) -> None:
    """Refuse a per-worker GPU request no node can satisfy (Ray would otherwise wait forever)."""
    if gpus_per_worker < 0:
        raise HatError(f"--gpus-per-worker must be 0 or more (got {gpus_per_worker})")
    if gpus_per_worker > 1 and gpus_per_worker != int(gpus_per_worker):
        raise HatError(f"--gpus-per-worker above 1 must be a whole number (got {gpus_per_worker}); "
                       "use a fraction below 1 to share a GPU")
    if gpus_per_worker == 0:
        return
    total, most = cluster_gpus()
    if gpus_per_worker > most:
        raise HatError(f"--gpus-per-worker {gpus_per_worker:g} is more than any Ray node has (largest node: "
                       f"{most:g} GPUs, cluster: {total:g}); use at most {most:g}, or 0 to run on CPUs")


def shutdown() -> None:
    try:
        import ray  # noqa: PLC0415
    except ImportError:
        return
    if ray.is_initialized():
        ray.shutdown()
