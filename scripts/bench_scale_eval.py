"""Eval throughput at Kinetics size (figures, not tests): clips/s against --loader-workers, local vs Ray, and
where Ray places model actors when GPUs are declared.

The benchmark is the synthetic one, built small and its stored frames, masks and backgrounds scaled to
the Kinetics size (256x340 by default), so composing costs what it costs on Kinetics. The model is a
stand-in for a GPU model: it looks at every 8th pixel, so what is timed is composing and feeding.
``scripts/bench_scale.py`` calls :func:`add_arguments` and :func:`run`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as a file: the repository's hat, and benchutil beside this file
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hat.models.base import VideoClassifier  # noqa: E402


class StandIn(VideoClassifier):
    """Scores from a coarse pixel grid: next to nothing to compute, as a model on a GPU is next to nothing."""

    name = "stand-in"

    def __init__(self, classes: list[str]):
        self.n = len(classes)

    def prepare(self, clips: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(clips[:, :, ::8, ::8], dtype=np.float32)

    def forward(self, inputs: np.ndarray) -> np.ndarray:
        x = inputs.reshape(len(inputs), -1)
        return np.stack([x[:, j :: self.n + 1].mean(1) for j in range(self.n)], 1)

    def predict(self, clips: np.ndarray) -> np.ndarray:
        return self.forward(self.prepare(clips))

    def describe(self) -> dict:
        return {"name": self.name, "arch": "stand-in"}


def standin(classes: list[str]) -> StandIn:
    return StandIn(classes)


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--eval-size", default="256x340", help="stored frame size HxW the clips are composed at")
    ap.add_argument("--eval-frames", type=int, default=16, help="stored frames per video (T)")
    ap.add_argument("--eval-classes", type=int, default=6)
    ap.add_argument("--eval-videos-per-class", type=int, default=6)
    ap.add_argument("--loader-workers", default="0,1,2", help="comma-separated --loader-workers to time")
    ap.add_argument("--eval-batch-size", type=int, default=16)
    ap.add_argument("--eval-ray-cpus", default="2,3", help="comma-separated CPU counts of the local Ray to time (0: none)")
    ap.add_argument("--logical-gpus", type=int, default=4, help="GPUs declared to Ray for the placement check (0: skip)")


def run(args: argparse.Namespace) -> None:
    from hat.bench import Benchmark

    h, w = (int(v) for v in args.eval_size.lower().split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "bench"
        t0 = time.perf_counter()
        build_scaled(root, h, w, args.eval_frames, args.eval_classes, args.eval_videos_per_class)
        bench = Benchmark(root)
        n = len(list(bench.items(bench.available_sets())))
        print(f"eval benchmark: {len(bench.videos)} videos, {n} clips of {args.eval_frames}x{h}x{w} "
              f"(built and scaled in {time.perf_counter() - t0:.1f} s); stand-in model, batch {args.eval_batch_size}")
        serial, local = None, {}
        for workers in _ints(args.loader_workers):
            rate, peak = _time_local(root, Path(tmp) / f"local{workers}", workers, args.eval_batch_size)
            serial, local[workers] = serial or rate, rate
            print(f"eval local loader-workers={workers}: {rate:.1f} clips/s ({rate / serial:.2f}x serial), "
                  f"peak RSS {peak:.0f} MiB (main + loader processes)")
        for cpus in _ints(args.eval_ray_cpus):
            if cpus < 2:
                continue
            workers = cpus - 1  # the model actor takes a CPU, compose tasks the others
            if workers not in local:
                local[workers], _ = _time_local(root, Path(tmp) / f"again{workers}", workers, args.eval_batch_size)
            rate = _time_ray(root, Path(tmp) / f"ray{cpus}", cpus, args.eval_batch_size)
            print(f"eval ray cpus={cpus} (1 model actor, {workers} compose slots): {rate:.1f} clips/s; local "
                  f"loader-workers={workers}: {local[workers]:.1f} clips/s; ray overhead "
                  f"{100 * (1 - rate / local[workers]):.0f} %")
        if args.logical_gpus > 0:
            _placement(root, Path(tmp) / "gpus", args.logical_gpus, args.eval_batch_size)


def _ints(text: str) -> list[int]:
    return [int(v) for v in str(text).split(",") if v.strip()]


def _spec() -> str:
    return f"python:{Path(__file__).resolve()}:standin"


def _time_local(root: Path, out: Path, workers: int, batch: int) -> tuple[float, float]:
    from hat.bench import Benchmark
    from hat.engines.eval import LocalEngine
    from hat.evaluate import evaluate
    from hat.models import load_model

    bench = Benchmark(root)  # fresh: nothing cached from another run
    model = load_model(_spec(), classes=bench.classes)
    with TreeRss() as mem:
        t0 = time.perf_counter()
        evaluate(model, bench, out, batch_size=batch, engine=LocalEngine(workers))
        dt = time.perf_counter() - t0
    return _clips(out) / dt, mem.peak_mib


def _clips(out: Path) -> int:
    import pyarrow.parquet as pq

    return pq.read_metadata(out / "predictions.parquet").num_rows


def _time_ray(root: Path, out: Path, cpus: int, batch: int) -> float:
    from hat import ray_cluster
    from hat.bench import Benchmark
    from hat.engines.eval import ModelLoad, RayEngine
    from hat.evaluate import evaluate
    from hat.models import load_model

    ray_cluster.shutdown()
    ray_cluster.connect(num_cpus=cpus)
    try:
        bench = Benchmark(root)
        model = load_model(_spec(), classes=bench.classes)
        eng = RayEngine([ModelLoad(_spec())])
        t0 = time.perf_counter()
        evaluate(model, bench, out, batch_size=batch, engine=eng)
        return _clips(out) / (time.perf_counter() - t0)
    finally:
        ray_cluster.shutdown()


def _placement(root: Path, out: Path, gpus: int, batch: int) -> None:
    from hat import ray_cluster
    from hat.bench import Benchmark
    from hat.engines.eval import ModelLoad, RayEngine
    from hat.evaluate import evaluate
    from hat.models import load_model

    ray_cluster.shutdown()
    ray_cluster.connect(num_cpus=gpus + 2, num_gpus=gpus)  # logical GPUs: none needs to exist
    try:
        bench = Benchmark(root)
        eng = RayEngine([ModelLoad(_spec())])
        evaluate(load_model(_spec(), classes=bench.classes), bench, out, batch_size=batch, part_size=batch, engine=eng)
    finally:
        ray_cluster.shutdown()
    print(f"ray with {gpus} logical GPUs: {len(eng.actors)} model actors")
    for a in sorted(eng.actors, key=lambda a: a["gpu_ids"]):
        print(f"  actor pid {a['pid']}: GPU ids {','.join(a['gpu_ids']) or '-'}, CUDA_VISIBLE_DEVICES="
              f"{a['cuda_visible_devices'] or '-'}, {a['parts']} parts")


class TreeRss:
    """Peak resident memory of this process and its children together, sampled every 50 ms from /proc."""

    def __init__(self, every: float = 0.05):
        self.every, self.peak = every, 0
        self._stop = threading.Event()

    def __enter__(self) -> "TreeRss":
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def peak_mib(self) -> float:
        return self.peak / 2**20

    def _watch(self) -> None:
        page = os.sysconf("SC_PAGE_SIZE")
        while True:
            self.peak = max(self.peak, sum(_rss_pages(p) for p in _tree(os.getpid())) * page)
            if self._stop.wait(self.every):
                return


def _tree(pid: int) -> list[int]:
    parent: dict[int, int] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    parent[int(d)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += [c for c, pp in parent.items() if pp == p]
    return out


def _rss_pages(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def build_scaled(root: Path, h: int, w: int, frames: int, classes: int, per_class: int) -> None:
    """The synthetic benchmark built at 64x64, then its stored pixels, masks and boxes scaled to h x w."""
    import cv2

    from hat.config import BuildConfig
    from hat.masks import decode_rle, encode_rle
    from hat.pipeline import build
    from hat.store import ArtifactStore, read_npz, write_json, write_npz

    opts = {"num_classes": classes, "val_per_class": per_class, "train_per_class": 1, "size": 64, "num_frames": frames}
    s = build(BuildConfig(source="synthetic", source_options=opts, num_frames=frames), root)
    assert s.complete, "the synthetic benchmark did not build"
    store = ArtifactStore(root)

    def scale(a: np.ndarray, nearest: bool = False) -> np.ndarray:
        interp = cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR
        return np.stack([cv2.resize(f, (w, h), interpolation=interp) for f in a])

    import pandas as pd

    for vid in pd.read_csv(root / "manifest.csv", dtype={"video_id": str})["video_id"]:
        if not store.exists("frames", vid, "npz") or not store.exists("inpaint", vid, "npz"):
            continue
        fr = read_npz(store.path("frames", vid, "npz"))
        sh, sw = fr["frames"].shape[1:3]
        fr["frames"] = scale(fr["frames"])
        write_npz(store.path("frames", vid, "npz"), **fr)
        write_npz(store.path("inpaint", vid, "npz"), bg=scale(read_npz(store.path("inpaint", vid, "npz"))["bg"]))
        seg = json.loads(store.path("segment", vid, "json").read_text())
        seg["rle"] = encode_rle(scale(decode_rle(seg["rle"]).astype(np.uint8), nearest=True).astype(bool))
        sx, sy = w / sw, h / sh
        seg["boxes"] = [[[b[0] * sx, b[1] * sy, b[2] * sx, b[3] * sy, *b[4:]] for b in fb] for fb in seg["boxes"]]
        write_json(store.path("segment", vid, "json"), seg)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    add_arguments(parser)
    run(parser.parse_args())
