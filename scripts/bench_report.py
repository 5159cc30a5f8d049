"""``hat report`` at scale: time, peak memory and size of the site for a manifest-sized benchmark.

A tiny synthetic benchmark is built once; a large one is then made from it by reference: N videos over C
classes whose artifacts are links to the tiny one's files, with pairs, mask quality, scene tables and
one run's predictions (random, seeded) at full size. Every table the report reads is as large as a
real N-video benchmark's; only the clips repeat. Each size runs in its own process, so peak memory
is that size's alone.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchutil import peak_mib  # noqa: E402

from hat.pairs import SWAP_TYPES  # noqa: E402
from hat.store import ArtifactStore, write_bytes, write_csv, write_text  # noqa: E402

STAGES = (("frames", "npz"), ("segment", "json"), ("inpaint", "npz"), ("scene", "npz"), ("residual", "json"))
BASE_SETS = ("original", "human_only", "background_only", "masked_background", "masked_person")


def make_large(base: Path, out: Path, videos: int, classes: int, repeats: int = 3, seed: int = 0) -> None:
    """A benchmark folder of ``videos`` videos whose clips are the base benchmark's, by symlink."""
    from hat.scene.ranking import extremes_table, heatmap_png, l1_distances, ranking_table

    rng = np.random.default_rng(seed)
    bm = pd.read_csv(base / "manifest.csv", keep_default_na=False, dtype={"video_id": str})
    names = [f"class_{c:03d}" for c in range(classes)]
    src = np.arange(videos) % len(bm)
    m = bm.iloc[src].reset_index(drop=True)
    ids = [f"v{i:06d}" for i in range(videos)]
    m["video_id"], m["label"] = ids, np.arange(videos) % classes
    m["class"] = [names[k] for k in m["label"]]
    m["flags"] = np.where(rng.random(videos) < 0.02, "flicker", "")  # a few percent flagged, as in Kinetics
    write_csv(out / "manifest.csv", m)
    bst, st = ArtifactStore(base), ArtifactStore(out)
    for stage, ext in STAGES:
        (st.root / stage).mkdir(parents=True, exist_ok=True)
        for vid, s in zip(ids, src):
            target = bst.path(stage, bm["video_id"].iloc[s], ext)
            if target.is_file():
                os.symlink(target, st.path(stage, vid, ext))
    q = pd.read_csv(base / "mask_quality.csv", dtype={"video_id": str})
    per = {v: g for v, g in q.groupby("video_id")}
    parts = [per[bm["video_id"].iloc[s]].assign(video_id=vid) for vid, s in zip(ids, src)]
    write_csv(out / "mask_quality.csv", pd.concat(parts, ignore_index=True))
    write_text(out / "classes.txt", "".join(f"{c}\n" for c in names))
    dist = l1_distances(rng.random((classes, 8)))
    write_bytes(out / "scene_heatmap.png", heatmap_png(dist, names))
    write_csv(out / "scene_extremes.csv", extremes_table(dist, names, 5))
    write_csv(out / "scene_ranking.csv", ranking_table(dist, names))
    labels = m["label"].to_numpy()
    rows = []
    for t in SWAP_TYPES:
        for r in range(repeats):
            bg = rng.integers(0, videos, videos)
            rows.append(pd.DataFrame({"set": f"swap_{t}", "repeat": r, "fg_video": ids, "fg_label": labels,
                                      "fg_class": m["class"], "bg_video": [ids[b] for b in bg], "bg_label": labels[bg],
                                      "bg_class": [names[k] for k in labels[bg]], "scene_distance": 1.0, "rank": 1,
                                      "seed": 0}))
    pairs = pd.concat(rows, ignore_index=True)
    write_csv(out / "pairs.csv", pairs)
    meta = yaml.safe_load((base / "benchmark.yaml").read_text())
    meta.update(name=out.name, classes=classes)
    meta["counts"] = {"videos": videos, "ok": videos, "failed": 0, "foregrounds": videos, "backgrounds": videos}
    write_text(out / "benchmark.yaml", yaml.safe_dump(meta, sort_keys=False))


def make_run(bench_dir: Path, out: Path, seed: int = 0) -> None:
    """A run of random predictions over every clip (the predictions table at full size)."""
    from hat.bench import Benchmark
    from hat.evaluate import write_predictions, write_results

    b = Benchmark(bench_dir)
    rng = np.random.default_rng(seed)
    v = b.videos
    base = pd.concat([pd.DataFrame({"set": s, "repeat": 0, "video_id": v["video_id"], "label": v["label"].astype(int),
                                    "bg_video": "", "bg_label": -1}) for s in BASE_SETS], ignore_index=True)
    sw = b.pairs.rename(columns={"fg_video": "video_id", "fg_label": "label"})[["set", "repeat", "video_id", "label",
                                                                                "bg_video", "bg_label"]]
    pred = pd.concat([base, sw], ignore_index=True)
    n = len(b.classes)
    for j in range(1, 6):  # right half the time, else a random class
        pick = np.where(rng.random(len(pred)) < 0.5, pred["label"], rng.integers(0, n, len(pred)))
        pred[f"pred_{j}"] = pick if j == 1 else rng.integers(0, n, len(pred))
        pred[f"score_{j}"] = 1.0 / j
    meta = {"model": {"name": "random", "arch": "callable", "hash": ""},
            "benchmark": {"name": b.name, "path": str(b.root), "hash": b.hash, "classes": b.classes},
            "eval": {"sets": list(BASE_SETS) + [f"swap_{t}" for t in SWAP_TYPES]}}
    out.mkdir(parents=True, exist_ok=True)
    write_predictions(out / "predictions.parquet", pred, meta)
    write_results(out / "predictions.parquet")


def one(bench_dir: str, run_dir: str, out: str) -> None:
    """Child process: the report alone, then its figures as JSON on stdout."""
    from hat.report import write_report

    t0 = time.perf_counter()
    write_report(bench_dir, [run_dir], out)
    secs = time.perf_counter() - t0
    size = sum(p.stat().st_size for p in Path(out).rglob("*") if p.is_file())
    files = sum(1 for p in Path(out).rglob("*") if p.is_file())
    ru = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"seconds": secs, "cpu": ru.ru_utime + ru.ru_stime, "peak_mib": peak_mib(), "site_mib": size / 2**20, "files": files}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--videos", default="2000,20000", help="benchmark sizes, comma-separated")
    ap.add_argument("--classes", type=int, default=400)
    ap.add_argument("--keep", help="keep the benchmarks and reports under this folder")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        return one(*a.child)
    from hat.config import BuildConfig
    from hat.pipeline import build

    root = Path(a.keep or tempfile.mkdtemp(prefix="hat-bench-report-"))
    base = root / "base"
    if not (base / "benchmark.yaml").is_file():
        opts = {"num_classes": 4, "train_per_class": 1, "val_per_class": 4, "size": 64, "num_frames": 8}
        build(BuildConfig(source="synthetic", source_options=opts, num_frames=8), base)
    print(f"{'videos':>7} {'classes':>7} {'clips':>8} {'seconds':>8} {'cpu s':>7} {'peak MiB':>9} {'site MiB':>9} {'files':>6}")
    for n in (int(x) for x in a.videos.split(",")):
        big, run, rep = root / f"bench{n}", root / f"run{n}", root / f"report{n}"
        if not (big / "benchmark.yaml").is_file():
            make_large(base, big, n, min(a.classes, n))
            make_run(big, run)
        r = subprocess.run([sys.executable, __file__, "--child", str(big), str(run), str(rep)], capture_output=True,
                           text=True, check=True)
        f = json.loads(r.stdout.strip().splitlines()[-1])
        clips = len(pd.read_parquet(run / "predictions.parquet", columns=["set"]))
        print(f"{n:>7} {min(a.classes, n):>7} {clips:>8} {f['seconds']:>8.1f} {f['cpu']:>7.1f} {f['peak_mib']:>9.0f} "
              f"{f['site_mib']:>9.1f} {f['files']:>6}")
    if not a.keep:
        import shutil

        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
