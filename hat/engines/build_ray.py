"""``hat build --engine ray``: the per-video stages as a streaming Ray Data pipeline.

One row per video. Decoding (the frames stage) and CPU scene descriptors run as Ray tasks; the
segment and inpaint stages (and the residual check, which needs the segmenter) run in a pool of
actors that load their models once each (``--gpus-per-worker`` GPUs apiece). Rows stream through with
backpressure, so only a few videos' frames are in flight whatever the dataset's size.

Every artifact is still written by :func:`hat.pipeline.process_video`'s stage code, in stage order,
atomically, into the one artifact store (on a cluster: a filesystem every node mounts at the same
path). Ray retries a task or restarts an actor whose process died; a video whose stage raises
something other than a :class:`~hat.errors.VideoError` is tried :data:`ATTEMPTS` times, then recorded
failed in ``errors/<video>.json`` as a VideoError is.
"""

from __future__ import annotations

import io
import json
import logging
import os
import socket
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from ..errors import HatError, VideoError

if TYPE_CHECKING:
    import pandas as pd

    from ..pipeline import BuildContext, VideoResult
    from ..sources import VideoRecord
    from .build import EngineOptions

#: tries of a video whose stage raises an unexpected exception (a died process is Ray's to retry)
ATTEMPTS = 3
#: Ray CPUs reserved by a decode task and by a stage actor. --workers sets how many of each run at once;
#: the reservations are small so that both kinds fit together on a 2-CPU node, and unequal so that Ray
#: Data does not fuse the decode tasks into the actors (decoding then runs ahead of the models).
TASK_CPUS = 0.5
ACTOR_CPUS = 0.25

_CONTEXTS: dict[tuple[str, str, bool], tuple[BuildContext, list[VideoRecord]]] = {}


def _context(cfg: dict[str, Any], out: str, *, cpu: bool) -> tuple[BuildContext, list[VideoRecord]]:
    """This worker process's build context and the split's records (rows hold indices into them), made once.

    ``cpu``: every backend on the CPU, for decode tasks (they only need the source and the inpainter's frame plan).
    """
    from ..config import BuildConfig
    from ..pipeline import make_context, split_records
    from .build import cpu_context

    key = (json.dumps(cfg, sort_keys=True, default=str), out, cpu)
    if key not in _CONTEXTS:
        ctx = (cpu_context if cpu else make_context)(BuildConfig.from_dict(cfg), out)
        _CONTEXTS[key] = (ctx, split_records(ctx))
    return _CONTEXTS[key]


def _scene_on_cpu(cfg: dict[str, Any]) -> bool:
    return str((cfg.get("scene_options") or {}).get("device", "cpu")).startswith("cpu")


def _pack(arrays: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _unpack(data: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def _result_json(res: VideoResult) -> str:
    return json.dumps(asdict(res))


def _first_missing(ctx: BuildContext, video_id: str) -> str:
    """The stage a video stopped at: stages write in order, so the first one without its artifact."""
    from ..pipeline import stage_paths

    return next((s for s, p in stage_paths(ctx, video_id).items() if not p.is_file()), "frames")


def _tried(ctx: BuildContext, res: VideoResult, step: Callable[[], Any]) -> Any:
    """``step()``, retried on unexpected errors; after the last try the video is recorded failed."""
    from ..pipeline import record_failure

    for attempt in range(ATTEMPTS):
        try:
            return step()
        except (VideoError, HatError):
            raise
        except Exception as e:  # noqa: BLE001  (a flaky backend: its artifacts so far are complete files)
            if attempt == ATTEMPTS - 1:
                record_failure(ctx, res, _first_missing(ctx, res.video_id), VideoError(f"{type(e).__name__}: {e}"))
                return None
    return None


def _decode(batch: pd.DataFrame, cfg: dict[str, Any], out: str) -> pd.DataFrame:
    """CPU task: the frames stage (and a CPU scene descriptor, written later in stage order by the actor)."""
    import pandas as pd

    from ..pipeline import PER_VIDEO_STAGES, VideoResult, frames_step, record_failure, stage_paths, stage_scene

    ctx, recs = _context(cfg, out, cpu=True)
    rows = []
    for i in batch["i"]:
        rec = recs[int(i)]
        res = VideoResult(rec.video_id)
        row = {"i": int(i), "todo": True, "result": "", "frames": b"", "scene": b"", "scene_error": ""}
        paths = stage_paths(ctx, rec.video_id)
        if all(p.is_file() for p in paths.values()):
            res.skipped = list(paths)
            row["todo"] = False
        elif not all(paths[k].is_file() for k in PER_VIDEO_STAGES[:-1]):  # else only the residual is missing
            try:
                fr = _tried(ctx, res, lambda: frames_step(ctx, rec, paths, res))
            except VideoError as e:
                record_failure(ctx, res, "frames", e)
                fr = None
            if fr is None:
                row["todo"] = False
            else:
                row["frames"] = _pack(fr)
                if not paths["scene"].is_file() and _scene_on_cpu(cfg):
                    try:
                        row["scene"] = _pack(stage_scene(ctx, rec, fr))
                    except VideoError as e:
                        row["scene_error"] = str(e) or " "
        row["result"] = _result_json(res)
        rows.append(row)
    return pd.DataFrame(rows)


class _Stages:
    """Actor: the segment, inpaint, scene and residual stages, with this actor's models loaded once."""

    def __init__(self, cfg: dict[str, Any], out: str) -> None:
        import ray

        self.ctx, self.recs = _context(cfg, out, cpu=False)
        gpus = ",".join(str(g) for g in ray.get_gpu_ids())
        self.worker = f"{socket.gethostname()} pid {os.getpid()}"
        self.device = f"GPU {gpus}" if gpus else "CPU"

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        import pandas as pd

        from ..pipeline import VideoResult, process_video

        rows = []
        for row in batch.to_dict("records"):
            res = VideoResult(**json.loads(row["result"]))
            if row["todo"]:
                rec = self.recs[int(row["i"])]
                fr = _unpack(row["frames"]) if row["frames"] else None
                scene = self._scene(row)
                start = (list(res.done), list(res.skipped))

                def step() -> VideoResult:
                    res.done, res.skipped = list(start[0]), list(start[1])
                    return process_video(self.ctx, rec, frames=fr, scene=scene, res=res)

                _tried(self.ctx, res, step)
            rows.append({"i": int(row["i"]), "result": _result_json(res), "worker": self.worker, "device": self.device})
        return pd.DataFrame(rows)

    @staticmethod
    def _scene(row: dict[str, Any]) -> Callable[[], dict[str, np.ndarray]] | None:
        if row["scene_error"]:
            def fail() -> dict[str, np.ndarray]:
                raise VideoError(row["scene_error"].strip())
            return fail
        if row["scene"]:
            data = row["scene"]
            return lambda: _unpack(data)
        return None


def actor_count(workers: int, gpus_per_worker: float, cluster_gpus: float) -> int:
    """Stage actors to start: ``workers``, but no more than the cluster's GPUs can hold (a pool of a fixed
    size waits for every actor, and one that can never be placed would stall the build)."""
    if gpus_per_worker <= 0:
        return workers
    return max(1, min(workers, int(cluster_gpus // gpus_per_worker + 1e-9)))


def check_shared_out(out: Path) -> None:
    """On a cluster of several nodes every node must see ``out`` (one artifact store): refuse otherwise."""
    import ray

    nodes = [n for n in ray.nodes() if n.get("Alive")]
    if len(nodes) < 2:
        return
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    probe = out / f".hat-probe-{uuid.uuid4().hex}"
    probe.write_text("")
    try:
        seen = ray.remote(num_cpus=0)(lambda p: Path(p).is_file())
        refs = {n["NodeManagerAddress"]: seen.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)).remote(str(probe))
                for n in nodes}
        blind = [addr for addr, ref in refs.items() if not ray.get(ref, timeout=60)]
    finally:
        probe.unlink(missing_ok=True)
    if blind:
        raise HatError(f"--out {out} is not visible from Ray nodes {', '.join(sorted(blind))}: on a cluster --out must be "
                       "a filesystem every node mounts at the same path (NFS, Lustre, ...)")


def run_ray(
    ctx: BuildContext, recs: list[VideoRecord], opts: EngineOptions,
    on_result: Callable[[VideoResult], None], progress: Callable[[int, int], None] | None = None,
) -> dict[str, str]:
    """Stream ``recs`` through decode tasks and stage actors; returns each actor's node, pid and GPUs."""
    import ray.data

    from ..pipeline import VideoResult, split_records
    from ..ray_cluster import cluster_gpus

    if not recs:
        return {}
    check_shared_out(ctx.out)
    logging.getLogger("ray.data").setLevel(logging.ERROR)  # hat prints its own progress and summary
    ray.data.DataContext.get_current().enable_progress_bars = False
    cfg, out, n = ctx.cfg.to_dict(), str(ctx.out), opts.workers
    index = {r.video_id: k for k, r in enumerate(split_records(ctx))}
    ds = ray.data.from_items([{"i": index[r.video_id]} for r in recs], override_num_blocks=len(recs))
    ds = ds.map_batches(
        _decode, batch_size=1, batch_format="pandas", fn_kwargs={"cfg": cfg, "out": out},
        num_cpus=TASK_CPUS, compute=ray.data.TaskPoolStrategy(size=n),
    )
    ds = ds.map_batches(
        _Stages, batch_size=1, batch_format="pandas", fn_constructor_kwargs={"cfg": cfg, "out": out},
        num_cpus=ACTOR_CPUS, num_gpus=opts.gpus_per_worker or None,
        compute=ray.data.ActorPoolStrategy(size=actor_count(n, opts.gpus_per_worker, cluster_gpus()[0])),
    )
    where: dict[str, str] = {}
    try:
        for k, row in enumerate(ds.iter_rows()):
            on_result(VideoResult(**json.loads(row["result"])))
            where[row["worker"]] = row["device"]
            if progress:
                progress(k + 1, len(recs))
    except Exception as e:  # a HatError raised in a worker (bad input found late) stays one line
        cause = _hat_error(e)
        if cause is None:
            raise
        raise HatError(str(cause).strip().splitlines()[-1]) from None
    return where


def _hat_error(e: BaseException | None) -> BaseException | None:
    seen = 0
    while e is not None and seen < 20:
        if isinstance(e, HatError):
            return e
        e, seen = e.__cause__ or e.__context__, seen + 1
    return None
