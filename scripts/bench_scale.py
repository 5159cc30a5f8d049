"""Build throughput of the ``local`` and ``ray`` engines at 1 and 2 workers on the synthetic source.

Each (engine, workers) build runs in its own process, so its peak memory is its own: the resident
memory of the whole process tree (pool workers; Ray's raylet, GCS and workers), sampled while it
builds. Ray's start is timed apart; its overhead is the build time against ``local`` at the same
worker count. The eval half (``scripts/bench_scale_eval.py``: ``add_arguments``, ``run``) runs too
when that file is there (``--part eval|all``).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent
EVAL_FILE = SCRIPTS / "bench_scale_eval.py"


def _eval_part():
    """scripts/bench_scale_eval.py as a module, or None when it is not there."""
    if not EVAL_FILE.is_file():
        return None
    spec = importlib.util.spec_from_file_location("bench_scale_eval", EVAL_FILE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def tree_rss_mib(root: int) -> float:
    """Resident memory of ``root`` and every descendant process, in MiB (Linux /proc)."""
    parent: dict[int, int] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                parent[int(d.name)] = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    tree, grew = {root}, True
    while grew:
        more = {p for p, pp in parent.items() if pp in tree} - tree
        tree |= more
        grew = bool(more)
    page = os.sysconf("SC_PAGE_SIZE")
    total = 0
    for pid in tree:
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * page
        except (OSError, IndexError, ValueError):
            continue
    return total / 2**20


class PeakSampler:
    """Peak of :func:`tree_rss_mib` for this process, sampled every ``every`` seconds in a thread."""

    def __init__(self, every: float = 0.2):
        self.every, self.peak, self._stop = every, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_rss_mib(os.getpid()))
            self._stop.wait(self.every)

    def __enter__(self) -> "PeakSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, tree_rss_mib(os.getpid()))


def run_one(engine: str, workers: int, args) -> dict:
    """One build in this process: seconds to connect Ray, seconds to build, videos/s, peak tree memory."""
    from hat.config import BuildConfig
    from hat.engines.build import EngineOptions
    from hat.pipeline import build

    cfg = BuildConfig(source_options={"size": args.size, "num_frames": args.frames}, num_frames=args.frames,
                      limit=args.videos)
    with tempfile.TemporaryDirectory() as tmp, PeakSampler() as mem:
        start_s = 0.0
        if engine == "ray":
            from hat import ray_cluster

            t = time.perf_counter()
            ray_cluster.connect(num_cpus=args.ray_cpus)
            start_s = time.perf_counter() - t
        first: list[float] = []
        last: list[float] = []

        def progress(done: int, total: int) -> None:
            (first if not first else last)[:] = [time.perf_counter()]

        t = time.perf_counter()
        s = build(cfg, Path(tmp) / "bench", engine=EngineOptions(engine, workers=workers), progress=progress)
        build_s = time.perf_counter() - t
    assert s.complete and s.counts["ok"] == args.videos, s.counts
    # warm: after the first video is out (workers started, models loaded), until the last one
    warm = (args.videos - 1) / (last[0] - first[0]) if last and last[0] > first[0] else float("nan")
    return {"engine": engine, "workers": workers, "videos": args.videos, "start_s": round(start_s, 2),
            "build_s": round(build_s, 2), "videos_per_s": round(args.videos / build_s, 2), "warm_per_s": round(warm, 2),
            "first_s": round(first[0] - t, 2), "peak_mib": round(mem.peak)}


def bench_build(args) -> None:
    workers = [int(w) for w in args.workers.split(",")]
    print(f"build: synthetic, {args.videos} videos {args.size}x{args.size}, {args.frames} frames, "
          f"{os.cpu_count()} CPUs (Ray: {args.ray_cpus} declared)")
    print(f"{'':6}{'engine':<8}{'workers':>8}{'start s':>9}{'build s':>9}{'videos/s':>10}{'1st video s':>12}"
          f"{'warm videos/s':>14}{'peak MiB':>10}")
    rows: dict[tuple[str, int], dict] = {}
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for engine in ("local", "ray"):
        for w in workers:
            cmd = [sys.executable, __file__, "--one", f"{engine}:{w}", "--videos", str(args.videos), "--size", str(args.size),
                   "--frames", str(args.frames), "--ray-cpus", str(args.ray_cpus)]
            res = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if res.returncode != 0:
                why = res.stderr.strip().splitlines()[-1] if res.stderr.strip() else res.returncode
                print(f"build {engine:<8}{w:>8} failed: {why}", flush=True)
                continue
            r = json.loads(res.stdout.strip().splitlines()[-1])
            rows[(engine, w)] = r
            print(f"build {engine:<8}{w:>8}{r['start_s']:>9}{r['build_s']:>9}{r['videos_per_s']:>10}{r['first_s']:>12}"
                  f"{r['warm_per_s']:>14}{r['peak_mib']:>10}", flush=True)
    for w in workers:
        if ("local", w) in rows and ("ray", w) in rows:
            lo, ra = rows[("local", w)], rows[("ray", w)]
            total = 100 * (ra["build_s"] - lo["build_s"]) / lo["build_s"]
            warm = 100 * (lo["warm_per_s"] / ra["warm_per_s"] - 1)
            print(f"ray overhead at {w} workers: {total:+.0f} % build time, {warm:+.0f} % warm time per video, "
                  f"against local (Ray start {ra['start_s']} s not included)")


def main() -> None:
    # "resolve": an option both halves define (e.g. --frames) is declared once, by the eval half
    ap = argparse.ArgumentParser(description=__doc__, conflict_handler="resolve")
    ap.add_argument("--part", choices=["build", "eval", "all"], default="all")
    ap.add_argument("--videos", type=int, default=48, help="videos built per run")
    ap.add_argument("--size", type=int, default=64, help="synthetic frame size (pixels)")
    ap.add_argument("--frames", type=int, default=16, help="frames per clip")
    ap.add_argument("--workers", default="1,2", help="worker counts to compare")
    ap.add_argument("--ray-cpus", type=int, default=2, help="CPUs the local Ray declares")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ev = _eval_part()
    if ev is not None:
        ev.add_arguments(ap)
    args = ap.parse_args()
    if args.one:
        engine, w = args.one.split(":")
        print(json.dumps(run_one(engine, int(w), args)))
        return
    if args.part in ("build", "all"):
        bench_build(args)
    if args.part in ("eval", "all"):
        if ev is None:
            print("eval: skipped (scripts/bench_scale_eval.py is not there)")
        else:
            ev.run(args)


if __name__ == "__main__":
    main()
