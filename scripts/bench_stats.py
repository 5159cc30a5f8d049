"""Seconds and peak memory of the bootstrap intervals and of a paired comparison, at Kinetics size.

Synthetic predictions: every video is a foreground with its five base sets and three repeats of the
four swap types (17 clips; 20,000 videos -> 340,000 clips), each clip right with a per-set chance.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchutil import peak_mib
from hat.bench import BASE_SETS
from hat.evaluate import write_predictions, write_results
from hat.pairs import SWAP_TYPES
from hat.stats import bootstrap, compare

#: each clip's chance of a right top-1 per set (roughly a scene-biased model)
P_RIGHT = {"original": 0.7, "background_only": 0.5, "human_only": 0.3, "masked_background": 0.3, "masked_person": 0.5}


def predictions(videos: int, classes: int, repeats: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    label = np.arange(videos) % classes
    ids = np.array([f"v{i:06d}" for i in range(videos)])
    parts = []
    for s in BASE_SETS:
        parts.append(pd.DataFrame({"set": s, "repeat": 0, "video_id": ids, "label": label, "bg_video": "", "bg_label": -1,
                                   "p": P_RIGHT[s]}))
    for t in SWAP_TYPES:
        for r in range(repeats):
            bg = rng.integers(0, videos, videos)
            parts.append(pd.DataFrame({"set": f"swap_{t}", "repeat": r, "video_id": ids, "label": label,
                                       "bg_video": ids[bg], "bg_label": label[bg], "p": 0.2}))
    df = pd.concat(parts, ignore_index=True)
    right = rng.random(len(df)) < df.pop("p").to_numpy()
    wrong = (df["label"].to_numpy() + rng.integers(1, classes, len(df))) % classes
    bg_hit = (df["bg_label"].to_numpy() >= 0) & (rng.random(len(df)) < 0.5)
    wrong = np.where(bg_hit & (df["bg_label"].to_numpy() != df["label"].to_numpy()), df["bg_label"].to_numpy(), wrong)
    df["pred_1"] = np.where(right, df["label"].to_numpy(), wrong)
    for k in range(2, 6):
        df[f"pred_{k}"] = (df["pred_1"].to_numpy() + k - 1) % classes
    return df


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--videos", type=int, default=20000)
    ap.add_argument("--classes", type=int, default=400)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--resamples", type=int, default=1000)
    args = ap.parse_args()
    a = predictions(args.videos, args.classes, args.repeats, 0)
    b = predictions(args.videos, args.classes, args.repeats, 1)
    print(f"{args.videos} videos, {len(a)} clips, {args.classes} classes, {args.resamples} resamples; "
          f"peak RSS with both predictions tables {peak_mib():.0f} MiB", flush=True)
    t0 = time.perf_counter()
    iv = bootstrap(a, args.resamples, 0)
    secs = time.perf_counter() - t0
    print(f"intervals  {secs:8.2f} s  {len(iv.bounds)} declared metrics + {len(iv.per_class.columns) // 3} per class"
          f"  stratified={iv.info['stratified']}  peak RSS {peak_mib():.0f} MiB", flush=True)
    with tempfile.TemporaryDirectory() as tmp:  # what 'hat metrics' does: read, every metric, intervals, write
        path = Path(tmp) / "predictions.parquet"
        classes = [f"class {i}" for i in range(args.classes)]
        write_predictions(path, a, {"model": {"name": "bench"}, "eval": {},
                                    "benchmark": {"name": "bench", "hash": "0", "classes": classes}})
        t0 = time.perf_counter()
        write_results(path, bootstrap=args.resamples)
        secs = time.perf_counter() - t0
    print(f"hat metrics {secs:7.2f} s  (read, metrics, intervals, per_class.csv, results.json)  peak RSS {peak_mib():.0f} MiB",
          flush=True)
    t0 = time.perf_counter()
    table, per_class, _ = compare(a, b, args.resamples, 0)
    secs = time.perf_counter() - t0
    print(f"compare    {secs:8.2f} s  {len(table)} metrics, {len(per_class)} per-class differences significant"
          f"  peak RSS {peak_mib():.0f} MiB", flush=True)


if __name__ == "__main__":
    main()
