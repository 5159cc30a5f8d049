"""Print build and eval throughput and peak memory for the synthetic benchmark (figures, not tests)."""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from hat.bench import Benchmark
from hat.config import BuildConfig
from hat.evaluate import evaluate
from hat.models.demo import DemoClassifier, train_demo
from hat.pipeline import build
from hat.sources import create_source

from benchutil import peak_mib


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--videos-per-class", type=int, default=20)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=32)
    args = ap.parse_args()
    opts = {"val_per_class": args.videos_per_class, "train_per_class": 6, "size": args.size, "num_frames": args.frames}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bench"
        cfg = BuildConfig(source="synthetic", source_options=opts, num_frames=args.frames)
        t0 = time.perf_counter()
        s = build(cfg, out, workers=args.workers)
        dt = time.perf_counter() - t0
        n = s.counts["ok"]
        print(f"build  {args.size}x{args.size}, T={args.frames}, workers={args.workers}: {n} videos in {dt:.2f} s"
              f" = {n / dt:.1f} videos/s, {n * args.frames / dt:.0f} frames/s; peak RSS {peak_mib():.0f} MiB")
        for stage, tot in sorted(_stage_times(cfg, out).items()):
            print(f"  stage {stage:<8} {1000 * tot / n:.1f} ms/video")
        src = create_source("synthetic", **opts)
        for arch in ("demo-frame", "demo-motion"):
            model = DemoClassifier(train_demo(arch, src, num_frames=args.frames, epochs=1))
            bench = Benchmark(out)  # fresh: no parts cached from the previous model
            t0 = time.perf_counter()
            res = evaluate(model, bench, Path(tmp) / arch, batch_size=args.batch_size)
            dt = time.perf_counter() - t0
            clips = len(bench.pairs) + 5 * n
            print(f"eval   {arch:<12} {clips} clips in {dt:.2f} s = {clips / dt:.0f} clips/s, "
                  f"{clips * args.frames / dt:.0f} frames/s; peak RSS {peak_mib():.0f} MiB (torch threads {torch.get_num_threads()})")
            assert res["metrics"]["n_videos"] == n


def _stage_times(cfg: BuildConfig, out: Path) -> dict[str, float]:
    """Re-run each per-video stage on the finished benchmark to time it alone."""
    from hat import pipeline as P
    from hat.masks import decode_rle

    ctx = P.make_context(cfg, out)
    times = {"frames": 0.0, "segment": 0.0, "inpaint": 0.0, "scene": 0.0}
    for rec in P.split_records(ctx):
        t = time.perf_counter()
        fr = P.stage_frames(ctx, rec)
        times["frames"] += time.perf_counter() - t
        t = time.perf_counter()
        seg = P.stage_segment(ctx, rec, fr)
        times["segment"] += time.perf_counter() - t
        masks = decode_rle(seg["rle"])
        extra = decode_rle(seg["context"]["rle"]) if "context" in seg else None
        t = time.perf_counter()
        bg = P.stage_inpaint(ctx, rec, fr, masks, extra)["bg"]
        times["inpaint"] += time.perf_counter() - t
        t = time.perf_counter()
        P.stage_scene(ctx, rec, fr)
        times["scene"] += time.perf_counter() - t
        if ctx.segmenter.reads_pixels:
            t = time.perf_counter()
            P.stage_residual(ctx, rec, fr, bg)
            times["residual"] = times.get("residual", 0.0) + time.perf_counter() - t
    return times


if __name__ == "__main__":
    main()
