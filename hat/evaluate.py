"""``hat eval``: run a model over the counterfactual sets, save predictions with ids, score them.

Each video's stored parts are loaded once and every set built from it is composed in turn; clips
go to the model in batches. The predictions file holds labels and ids, so ``hat metrics`` can
recompute everything later without the model (CLIP_benchmark's one-JSON-per-run layout).
"""

from __future__ import annotations

import datetime as _dt
import json
import platform
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from . import __version__
from .bench import Benchmark, Item
from .compose import align_time
from .errors import HatError
from .metrics import compute_metrics, per_class
from .models import VideoClassifier
from .store import atomic_path, sha256_file, write_csv, write_json

TOPK = 5


def predict_items(
    model: VideoClassifier,
    bench: Benchmark,
    items: list[Item],
    *,
    batch_size: int = 32,
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    if batch_size < 1:
        raise HatError(f"batch size must be at least 1 (got {batch_size})")
    rows: list[dict[str, Any]] = []
    batch: list[tuple[Item, np.ndarray]] = []
    k = min(TOPK, len(bench.classes))

    def flush() -> None:
        clips = np.stack([c for _, c in batch])
        scores = np.asarray(model.predict(clips), dtype=np.float64)
        if scores.shape != (len(batch), len(bench.classes)):
            raise HatError(f"model returned scores {scores.shape}; expected ({len(batch)}, {len(bench.classes)}) for this benchmark")
        if not np.isfinite(scores).all():
            raise HatError(f"model returned NaN or infinite scores (first clip: {batch[0][0].set} {batch[0][0].video_id})")
        top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        for (it, _), idx, sc in zip(batch, top, scores):
            row = asdict(it)
            for j in range(k):
                row[f"pred_{j + 1}"] = int(idx[j])
                row[f"score_{j + 1}"] = float(sc[idx[j]])
            rows.append(row)
        batch.clear()
        if progress:
            progress(len(rows), len(items))

    for it in items:
        clip = bench.compose(it)
        if model.num_frames and model.num_frames != len(clip):
            clip = clip[align_time(model.num_frames, len(clip))]
        batch.append((it, clip))
        if len(batch) == batch_size:
            flush()
    if batch:
        flush()
    return pd.DataFrame(rows)


def write_predictions(path: Path, pred: pd.DataFrame, meta: dict[str, Any]) -> None:
    """Parquet with the run's description in the file's metadata: the file stands on its own."""
    table = pa.Table.from_pandas(pred, preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), b"hat": json.dumps(meta).encode()})
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def read_predictions(path: str | Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    path = Path(path)
    if not path.is_file():
        raise HatError(f"predictions file not found: {path}")
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as e:
        raise HatError(f"{path}: not a predictions parquet file ({e})") from None
    raw = (table.schema.metadata or {}).get(b"hat")
    if raw is None:
        raise HatError(f"{path}: parquet file without hat metadata (not written by 'hat eval')")
    return table.to_pandas(), json.loads(raw)


def results_from_predictions(pred: pd.DataFrame, meta: dict[str, Any], pred_path: Path) -> dict[str, Any]:
    return {
        "format": 1,
        "model": meta["model"],
        "benchmark": meta["benchmark"],
        "eval": meta["eval"],
        "metrics": compute_metrics(pred),
        "predictions": pred_path.name,
        "predictions_sha256": sha256_file(pred_path),
        "hat_version": meta.get("hat_version", __version__),
        "created": meta.get("created", ""),
    }


def run_name(model: VideoClassifier, bench: Benchmark) -> str:
    return f"{model.describe().get('name', 'model')}__{bench.name}"


def evaluate(
    model: VideoClassifier,
    bench: Benchmark,
    out_dir: str | Path,
    *,
    sets: list[str] | None = None,
    batch_size: int = 32,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Predict every clip, then write predictions.parquet, results.json and per_class.csv."""
    sets = bench.check_sets(sets)
    items = list(bench.items(sets))
    if not items:
        raise HatError(f"benchmark {bench.name} has no clips in sets {', '.join(sets)}")
    pred = predict_items(model, bench, items, batch_size=batch_size, progress=progress)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    meta = {
        "model": model.describe(),
        "benchmark": {"name": bench.name, "path": str(bench.root), "hash": bench.hash, "classes": bench.classes},
        "eval": {"sets": sets, "batch_size": batch_size, "num_frames": model.num_frames,
                 "bench_num_frames": bench.config["num_frames"]},
        "hat_version": __version__,
        "python": platform.python_version(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    pred_path = out / "predictions.parquet"
    write_predictions(pred_path, pred, meta)
    return write_results(pred_path)


def write_results(pred_path: str | Path) -> dict[str, Any]:
    """(Re)compute results.json and per_class.csv next to a predictions file, from it alone."""
    pred_path = Path(pred_path)
    pred, meta = read_predictions(pred_path)
    results = results_from_predictions(pred, meta, pred_path)
    write_json(pred_path.with_name("results.json"), results)
    write_csv(pred_path.with_name("per_class.csv"), per_class(pred, meta["benchmark"]["classes"]))
    return results
