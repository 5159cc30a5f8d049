"""Engines for ``hat eval``: who composes the clips and where the models run.

``LocalEngine`` composes in this process (``loader_workers=0``) or in worker processes that work a
few videos ahead while the models run here; ``RayEngine`` composes in Ray tasks and runs the models
in Ray actors, one per GPU of the cluster (one CPU actor when it has none). Both hand each model's
parts to :class:`hat.evaluate.ModelRun`, which batches a part the same way wherever it runs: the
predictions do not depend on the engine.
"""

from __future__ import annotations

import os
import shutil
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ..bench import Benchmark, Item
from ..errors import HatError
from .build import ENGINES
from ..evaluate import Composed, ModelRun, Predictor, compose_item
from ..models.base import Sampling, VideoClassifier

#: blocks (a video's clips) each loader worker may have composed ahead of the models
PREFETCH = 2
#: most clips of one video composed in one block (a video with many swaps is split)
BLOCK_CLIPS = 32


def default_loader_workers() -> int:
    """min(4, CPUs - 1): the model keeps a core, composing takes the rest (0, serial, on one CPU)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(0, min(4, cpus - 1))


def video_blocks(items: list[Item], needed: list[int], max_clips: int = BLOCK_CLIPS) -> list[list[int]]:
    """``needed`` (sorted item indices) cut into runs of one video's items: each video's parts load once."""
    blocks: list[list[int]] = []
    for i in needed:
        b = blocks[-1] if blocks else None
        if b and items[b[-1]].video_id == items[i].video_id and b[-1] == i - 1 and len(b) < max_clips:
            b.append(i)
        else:
            blocks.append([i])
    return blocks


# -- composing away from the models (a loader worker process, or a Ray task)
_BENCHES: dict[str, Benchmark] = {}


def _bench(root: str) -> Benchmark:
    """One Benchmark per process and benchmark: its parts cache serves the blocks that follow."""
    if root not in _BENCHES:
        _BENCHES[root] = Benchmark(root)
    return _BENCHES[root]


def _init_loader(parent: int) -> None:
    import threading

    import cv2

    cv2.setNumThreads(1)  # one process per core already
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()


def _exit_with_parent(parent: int, every: float = 0.5) -> None:
    """A killed eval must not leave its loaders behind (they would wait on their queue for ever)."""
    import time

    while os.getppid() == parent:
        time.sleep(every)
    os._exit(1)


def compose_block(root: str, items: list[Item]) -> list[Composed]:
    bench = _bench(root)
    return [compose_item(bench, it) for it in items]


def compose_block_to(root: str, items: list[Item], path: str) -> list[tuple[tuple, str, Any, int, float]]:
    """A loader worker's block: the pixels into one file in shared memory (the main process maps it, no
    pickling of megabytes through a pipe), the rest returned: shape, dtype and sampling facts per clip."""
    out = compose_block(root, items)
    with open(path + ".tmp", "wb") as f:
        for clip, *_ in out:
            f.write(memoryview(np.ascontiguousarray(clip)).cast("B"))
    os.replace(path + ".tmp", path)
    return [(clip.shape, clip.dtype.str, src, n, fps) for clip, src, n, fps in out]


def _map_block(path: str, meta: list[tuple[tuple, str, Any, int, float]]) -> list[Composed]:
    """The clips of a block file as read-only views of its mapping (the file itself is removed at once)."""
    size = os.path.getsize(path)
    buf = np.memmap(path, dtype=np.uint8, mode="r", shape=(size,)) if size else np.zeros(0, np.uint8)
    os.unlink(path)  # the mapping keeps the pages until the views are gone
    out, at = [], 0
    for shape, dtype, src, n, fps in meta:
        dt = np.dtype(dtype)
        count = int(np.prod(shape))
        out.append((np.frombuffer(buf, dtype=dt, count=count, offset=at).reshape(shape), src, n, fps))
        at += count * dt.itemsize
    return out


def _shm_dir() -> str:
    """A folder in RAM for the loaders' block files (/dev/shm on Linux), else the temporary folder."""
    import tempfile

    base = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    for old in Path(base or tempfile.gettempdir()).glob("hat-eval-*"):  # left by a killed eval
        m = old.name.rsplit("-", 2)
        if len(m) == 3 and m[1].isdigit() and not _alive(int(m[1])):
            shutil.rmtree(old, ignore_errors=True)
    return tempfile.mkdtemp(prefix=f"hat-eval-{os.getpid()}-", dir=base)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class LocalEngine:
    """Compose in ``loader_workers`` processes (0: in this one), models in this process, in item order."""

    loader_workers: int = 0
    prefetch: int = PREFETCH

    def __post_init__(self) -> None:
        if self.loader_workers < 0:
            raise HatError(f"--loader-workers must be 0 (compose in the main process) or more (got {self.loader_workers})")

    def run(self, runs: list[ModelRun], bench: Benchmark) -> None:
        items = runs[0].items
        needed = sorted(set().union(*(r.pending_items() for r in runs)))
        for i, composed in self.stream(bench, items, needed):
            for r in runs:
                r.feed(i, composed)

    def stream(self, bench: Benchmark, items: list[Item], needed: list[int]) -> Iterator[tuple[int, Composed]]:
        """Composed clips of ``needed``, in order; worker processes stay ``prefetch`` blocks ahead each."""
        blocks = video_blocks(items, needed)
        if not self.loader_workers or not blocks:
            for block in blocks:
                for i in block:
                    yield i, compose_item(bench, items[i])
            return
        import multiprocessing as mp

        root = str(bench.root.resolve())
        workers = min(self.loader_workers, len(blocks))
        folder = _shm_dir()
        pool = ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=_init_loader,
                                   initargs=(os.getpid(),))
        try:
            todo = enumerate(blocks)
            window: deque = deque()

            def submit() -> None:
                n, block = next(todo, (0, None))
                if block is not None:
                    path = os.path.join(folder, f"{n}.bin")
                    window.append((block, path, pool.submit(compose_block_to, root, [items[i] for i in block], path)))

            for _ in range(workers * max(1, self.prefetch)):
                submit()
            while window:
                block, path, fut = window.popleft()
                try:
                    clips = _map_block(path, fut.result())
                except BrokenProcessPool:
                    raise HatError("a compose worker process died (killed, or out of memory); the parts done so far "
                                   "are kept: rerun the same command to resume (--loader-workers 0 composes in one "
                                   "process)") from None
                submit()
                yield from zip(block, clips)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            shutil.rmtree(folder, ignore_errors=True)


# -- Ray
@dataclass(frozen=True)
class ModelLoad:
    """How a model actor loads one model: ``hat.models.load_model(spec, arch=, classes=, **options)``."""

    spec: str
    arch: str | None = None
    options: dict[str, Any] = field(default_factory=dict)


class _ModelActor:
    """Every model of the command, loaded once; scores whole parts (a GPU each, or CPUs)."""

    def __init__(self, bench_name: str, classes: list[str], loads: list[ModelLoad], cwd: str):
        if os.path.isdir(cwd):  # relative checkpoint and plugin paths as the driver gave them
            os.chdir(cwd)
        from ..models import load_model

        self.bench_name, self.classes, self.loads = bench_name, classes, loads
        self.models = [load_model(ld.spec, arch=ld.arch, classes=classes, **dict(ld.options)) for ld in loads]

    def info(self) -> dict[str, Any]:
        import types

        import ray

        from ..evaluate import protocol_tag, run_name

        bench = types.SimpleNamespace(name=self.bench_name)
        return {"pid": os.getpid(), "node": ray.get_runtime_context().get_node_id(),
                "gpu_ids": [str(g) for g in ray.get_gpu_ids()], "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES", ""),
                "models": [(m.describe(), m.sampling, run_name(m, bench, protocol_tag(m, ld.options)))
                           for m, ld in zip(self.models, self.loads)]}

    def run_part(self, m: int, items: list[Item], batch_size: int, where: list[tuple[int, int]],
                 *blocks: list[Composed]) -> tuple[list[dict[str, Any]], float, int, int]:
        pred = Predictor(self.models[m], self.classes, items, batch_size=batch_size)
        for j, (b, off) in enumerate(where):
            pred.add(j, blocks[b][off])
        pred.finish()
        return [pred.rows[j] for j in range(len(items))], pred.sampler.moved, pred.sampler.count, os.getpid()


class RemoteModel(VideoClassifier):
    """A model loaded in the Ray actors: what this process needs of it to name, check and describe its run."""

    def __init__(self, described: dict[str, Any], sampling: Sampling, run_name: str):
        self._described, self._sampling, self.run_name = described, sampling, run_name
        self.name = str(described.get("name", "model"))

    @property
    def sampling(self) -> Sampling:
        return self._sampling

    def describe(self) -> dict[str, Any]:
        return dict(self._described)

    def predict(self, clips: np.ndarray) -> np.ndarray:
        raise HatError(f"model {self.name} runs in Ray actors, not in this process")


@dataclass
class RayEngine:
    """Compose tasks (a CPU each) feed model actors; the driver writes each part as it completes.

    One actor per GPU of the cluster (``num_gpus=1``; one CPU actor when the cluster has no GPU), each
    holding every model of the command. Parts go to the least busy actor, ``parts_in_flight`` at most
    per actor, in item order across the models, and each block of clips is composed once for every
    model that needs it. A killed actor is restarted and its parts retried
    (``max_restarts``/``max_task_retries``), a killed compose task rerun: a part is written once,
    whole, by the driver, so nothing is lost or counted twice.
    """

    loads: list[ModelLoad]
    address: str | None = None
    num_cpus: int | None = None
    num_gpus: float | None = None
    parts_in_flight: int = 2
    max_restarts: int = 3
    #: filled by :meth:`run`: each actor's placement (pid, node, GPU ids) and how many parts it scored
    actors: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._handles: list[Any] = []
        self._infos: list[dict[str, Any]] = []

    def connect(self) -> Any:
        from .. import ray_cluster

        return ray_cluster.connect(self.address, num_cpus=self.num_cpus, num_gpus=self.num_gpus)

    def start(self, bench: Benchmark) -> list[RemoteModel]:
        """Start the model actors (each loads every model where it runs); the models as this process sees them."""
        ray = self.connect()
        from .. import ray_cluster

        gpus, _ = ray_cluster.cluster_gpus()
        cuda = [ld.options["device"] for ld in self.loads if str(ld.options.get("device", "")).startswith("cuda")]
        if cuda and gpus < 1:
            raise HatError(f"--device {cuda[0]}: the Ray cluster has no GPU (valid there: --device cpu; or join a "
                           "cluster with GPUs: --ray-address)")
        res = {"num_gpus": 1, "num_cpus": 1} if gpus >= 1 else {"num_cpus": 1}
        actor_cls = ray.remote(max_restarts=self.max_restarts, max_task_retries=self.max_restarts, **res)(_ModelActor)
        self._handles = [actor_cls.remote(bench.name, bench.classes, self.loads, os.getcwd())
                         for _ in range(max(1, int(gpus)))]
        try:
            self._infos = _ray_get(ray, [a.info.remote() for a in self._handles])
        except BaseException:
            self.stop()
            raise
        return [RemoteModel(*m) for m in self._infos[0]["models"]]

    def stop(self) -> None:
        if self._handles:
            import ray

            for a in self._handles:
                ray.kill(a)
            self._handles = []

    def run(self, runs: list[ModelRun], bench: Benchmark) -> None:
        if len(self.loads) != len(runs):
            raise HatError(f"ray engine: {len(self.loads)} model loads for {len(runs)} models")
        ray = self.connect()
        if not self._handles:
            self.start(bench)
        compose = ray.remote(num_cpus=1, max_retries=self.max_restarts)(compose_block)
        try:
            for r, (described, _, _) in zip(runs, self._infos[0]["models"]):
                if _settings(described) != _settings(r.meta["model"]):
                    raise HatError(f"a Ray model actor loaded another model than this process ({described.get('name')}: "
                                   f"{described} vs {r.meta['model']}); give paths every node reads the same")
                r.meta["model"] = described  # as loaded where it runs (its device)
            counts = self._run(ray, runs, bench, self._handles, compose, str(bench.root.resolve()))
            self.actors = [{**{k: v for k, v in info.items() if k != "models"}, "parts": n}
                           for info, n in zip(self._infos, counts)]
        finally:
            self.stop()

    def _run(self, ray: Any, runs: list[ModelRun], bench: Benchmark, actors: list, compose: Any, root: str) -> list[int]:
        """Send every pending part; returns how many parts each actor scored."""
        items = runs[0].items
        todo = deque(sorted((r.part_range(k)[0], m, k) for m, r in enumerate(runs) for k in r.pending_parts()))
        needed = sorted({i for _, m, k in todo for i in range(*runs[m].part_range(k))})
        blocks = video_blocks(items, needed)
        block_of = {i: (b, off) for b, block in enumerate(blocks) for off, i in enumerate(block)}
        cache: dict[int, Any] = {}  # block -> ObjectRef, while a part not yet sent needs it
        busy = [0] * len(actors)
        scored = [0] * len(actors)
        flight: dict[Any, tuple[int, int, int]] = {}
        while todo or flight:
            while todo and min(busy) < self.parts_in_flight:
                _, m, k = todo.popleft()
                a, b = runs[m].part_range(k)
                used = sorted({block_of[i][0] for i in range(a, b)})
                for blk in used:
                    if blk not in cache:
                        cache[blk] = compose.remote(root, [items[i] for i in blocks[blk]])
                slot = {blk: j for j, blk in enumerate(used)}
                where = [(slot[block_of[i][0]], block_of[i][1]) for i in range(a, b)]
                w = busy.index(min(busy))
                ref = actors[w].run_part.remote(m, items[a:b], runs[m].batch_size, where, *[cache[blk] for blk in used])
                flight[ref] = (m, k, w)
                busy[w] += 1
                first = todo[0][0] if todo else len(items)
                for blk in [blk for blk in cache if blocks[blk][-1] < first]:
                    del cache[blk]  # no part still to send reads it
            ready, _ = ray.wait(list(flight), num_returns=1)
            m, k, w = flight.pop(ready[0])
            busy[w] -= 1
            scored[w] += 1
            rows, moved, count, _pid = _ray_get(ray, ready[0])
            runs[m].write_part(k, rows, moved, count)
            if runs[m].progress:
                runs[m].progress(len(rows))
        return scored


def _settings(described: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in described.items() if k not in ("device", "checkpoint")}


def _ray_get(ray: Any, refs: Any) -> Any:
    """``ray.get``, with a task's own HatError passed on as it is, and Ray's failures as one line."""
    try:
        return ray.get(refs)
    except ray.exceptions.RayTaskError as e:
        cause = getattr(e, "cause", None)
        if isinstance(cause, HatError):
            raise HatError(str(cause)) from None
        raise HatError(f"a Ray task failed: {_first_line(cause or e)}; the parts done so far are kept: rerun the same "
                       "command to resume") from None
    except ray.exceptions.RayError as e:
        raise HatError(f"Ray failed: {_first_line(e)}; the parts done so far are kept: rerun the same command to "
                       "resume") from None


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def make_engine(engine: str, *, loader_workers: int | None = None, ray_address: str | None = None,
                loads: list[ModelLoad] | None = None) -> LocalEngine | RayEngine:
    """The engine named on the command line, checked before any work (Ray reached, or one line why not)."""
    if engine not in ENGINES:
        raise HatError(f"unknown engine '{engine}' (valid: {', '.join(ENGINES)})")
    if engine == "local":
        if ray_address:
            raise HatError("--ray-address applies to --engine ray (add --engine ray, or leave out --ray-address)")
        return LocalEngine(default_loader_workers() if loader_workers is None else loader_workers)
    if loader_workers is not None:
        raise HatError("--loader-workers applies to --engine local (on Ray, compose tasks use the cluster's CPUs)")
    eng = RayEngine(loads or [], address=ray_address)
    eng.connect()
    return eng
