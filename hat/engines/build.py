"""Scheduling ``hat build``'s per-video stages: in this process or a process pool (``local``), or on Ray.

An engine only decides where :func:`hat.pipeline.process_video` and its stages run; each stage writes
its artifact atomically into the benchmark's store, so every engine gives the same bytes and any of them
resumes what another left. The aggregates are made once, by the caller, on the driver.
"""

from __future__ import annotations

import copy
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from typing import TYPE_CHECKING, Any, Callable

from ..errors import HatError, unknown

if TYPE_CHECKING:
    from pathlib import Path

    from ..config import BuildConfig
    from ..pipeline import BuildContext, VideoResult
    from ..sources import VideoRecord

#: the engines ``hat build --engine`` takes; ``local`` is the default
ENGINES = ("local", "ray")
#: backend option groups of a BuildConfig that may carry a ``device``
DEVICE_OPTIONS = ("segmenter_options", "inpainter_options", "scene_options")


@dataclass
class EngineOptions:
    engine: str = "local"
    workers: int = 1
    ray_address: str | None = None  # None: start a local Ray; "auto": join the running cluster
    gpus_per_worker: float = 0.0  # Ray: GPUs each segment/inpaint actor reserves (fractions share a GPU)
    ray_init: dict[str, Any] = field(default_factory=dict)  # num_cpus/num_gpus of a local Ray (tests, benches)


def check(opts: EngineOptions) -> None:
    """Refuse a bad engine setting before any work: unknown engine, Ray missing or unreachable, too many GPUs."""
    if opts.engine not in ENGINES:
        raise unknown("engine", opts.engine, ENGINES)
    if opts.workers < 1:
        raise HatError(f"workers must be 1 or more (got {opts.workers})")
    if opts.engine != "ray":
        if opts.ray_address or opts.gpus_per_worker:
            flag = "--ray-address" if opts.ray_address else "--gpus-per-worker"
            raise HatError(f"{flag} is an option of --engine ray, not of --engine {opts.engine}")
        return
    from .. import ray_cluster

    if opts.gpus_per_worker < 0 or (opts.gpus_per_worker > 1 and opts.gpus_per_worker != int(opts.gpus_per_worker)):
        ray_cluster.check_gpus_per_worker(opts.gpus_per_worker)  # its one-line message, before starting Ray
    ray_cluster.connect(opts.ray_address, **opts.ray_init)
    ray_cluster.check_gpus_per_worker(opts.gpus_per_worker)


def run(
    ctx: BuildContext, recs: list[VideoRecord], opts: EngineOptions,
    on_result: Callable[[VideoResult], None], progress: Callable[[int, int], None] | None = None,
) -> dict[str, str]:
    """Process ``recs`` (every per-video stage still missing); returns where each worker ran (may be empty)."""
    if opts.engine == "ray":
        from .build_ray import run_ray

        return run_ray(ctx, recs, opts, on_result, progress)
    run_local(ctx, recs, opts.workers, on_result, progress)
    return {}


def cpu_context(cfg: BuildConfig, out: str | Path) -> BuildContext:
    """A build context whose backends run on the CPU, with the devices asked for still in its config.

    Ray's driver and decode tasks may run on nodes without a GPU: they describe the build (its identity,
    recorded in build.yaml as the local engine records it) and plan frames, but run no model.
    """
    from ..config import BuildConfig
    from ..pipeline import make_context

    d = cfg.to_dict()
    forced = {k: {**d[k], "device": "cpu"} for k in DEVICE_OPTIONS if "device" in (d.get(k) or {})}
    ctx = make_context(BuildConfig.from_dict({**d, **forced}), out)
    for k in forced:
        setattr(ctx.cfg, k, dict(d[k]))
    return ctx


# ----------------------------------------------------------------------------- local


def worker_device(device: str, worker: int, gpus: int) -> str:
    """The device worker ``worker`` uses when the build asks for ``device`` and ``gpus`` GPUs are visible.

    A bare ``cuda`` spreads the workers over the GPUs (worker i on ``cuda:i mod G``) so that an N-GPU
    machine is used whole; a named device (``cuda:1``, ``cpu``) is taken as given.
    """
    if device == "cuda" and gpus > 1:
        return f"cuda:{worker % gpus}"
    return device


def worker_config(cfg: dict[str, Any], worker: int, gpus: int) -> dict[str, Any]:
    """A build config (as a dict) with every backend's device set for worker ``worker``."""
    cfg = copy.deepcopy(cfg)
    for key in DEVICE_OPTIONS:
        opts = cfg.get(key) or {}
        if "device" in opts:
            opts["device"] = worker_device(str(opts["device"]), worker, gpus)
    return cfg


def visible_gpus(cfg: dict[str, Any]) -> int:
    """How many CUDA devices the workers can share (0 unless a backend asks for a bare ``cuda``)."""
    if not any((cfg.get(k) or {}).get("device") == "cuda" for k in DEVICE_OPTIONS):
        return 0
    import torch

    return torch.cuda.device_count()


_WORKER_CTX: BuildContext | None = None


def _worker_init(cfg_dict: dict[str, Any], out: str, slots: Any = None, gpus: int = 0) -> None:
    """A pool worker: takes the next worker number and builds its context on that worker's device."""
    global _WORKER_CTX
    from ..config import BuildConfig
    from ..pipeline import make_context

    worker = slots.get() if slots is not None else 0
    _WORKER_CTX = make_context(BuildConfig.from_dict(worker_config(cfg_dict, worker, gpus)), out)


def _worker_run(rec: VideoRecord) -> VideoResult:
    from ..pipeline import process_video

    assert _WORKER_CTX is not None
    return process_video(_WORKER_CTX, rec)


def run_local(
    ctx: BuildContext, recs: list[VideoRecord], workers: int,
    on_result: Callable[[VideoResult], None], progress: Callable[[int, int], None] | None = None,
) -> None:
    """In this process, or in ``workers`` spawned processes each holding its own models."""
    from ..pipeline import process_video

    if workers > 1 and len(recs) > 1:
        mp = get_context("spawn")
        slots = mp.Queue()
        for i in range(workers):
            slots.put(i)
        cfg = ctx.cfg.to_dict()
        with ProcessPoolExecutor(
            max_workers=workers, mp_context=mp, initializer=_worker_init,
            initargs=(cfg, str(ctx.out), slots, visible_gpus(cfg)),
        ) as pool:
            for k, res in enumerate(pool.map(_worker_run, recs, chunksize=4)):
                on_result(res)
                if progress:
                    progress(k + 1, len(recs))
    else:
        for k, rec in enumerate(recs):
            on_result(process_video(ctx, rec))
            if progress:
                progress(k + 1, len(recs))


__all__ = ["ENGINES", "EngineOptions", "check", "cpu_context", "run", "worker_device", "worker_config"]
