"""``hat eval``: run a model over the counterfactual sets, save predictions with ids, score them.

Each video's stored parts are loaded once and every set built from it is composed in turn; clips
go to the model in batches. The predictions file holds labels and ids, so ``hat metrics`` can
recompute everything later without the model (CLIP_benchmark's one-JSON-per-run layout).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
import shutil
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from . import __version__
from .bench import Benchmark, Item
from .errors import HatError
from .metrics import base_novel_metrics, compute_metrics, per_class
from .models import VideoClassifier
from .models.base import Sampling
from .stats import DEFAULT_RESAMPLES, DEFAULT_SEED, results_intervals
from .store import (atomic_path, check_out_dir, first_difference, remove_stale_tmp, safe_name, sha256_file, write_csv,
                    write_json)

TOPK = 5


class FrameSampler:
    """Maps a model's wanted source frames onto the frames a benchmark stored, and keeps score.

    A benchmark stores T frames per video; a model may want other frames (dense sampling at a rate,
    several temporal views). Each wanted frame becomes the stored frame nearest in source time, and
    the mean distance (in source frames) is reported with the results, so a mismatch between the
    model's protocol and the benchmark's is visible rather than silent.
    """

    def __init__(self, sampling: Sampling):
        self.sampling = sampling
        self.moved = 0.0
        self.count = 0

    def positions(self, src_index: np.ndarray, n_frames: int, fps: float | None = None) -> np.ndarray:
        """int [views, T] positions into the stored frames."""
        s = self.sampling
        if s.num_frames is None:
            return np.arange(len(src_index))[None, :]
        want = s.source_indices(n_frames, fps)
        pos = np.abs(want[..., None] - src_index[None, None, :]).argmin(-1)
        self.moved += float(np.abs(src_index[pos] - want).sum())
        self.count += want.size
        return pos

    def report(self) -> dict[str, Any]:
        out = self.sampling.to_dict()
        out["mean_frame_shift"] = round(self.moved / self.count, 3) if self.count else 0.0
        return out


def combine_views(scores: np.ndarray, views: int, kind: str = "logits", reduce: str = "probs") -> np.ndarray:
    """Views of one clip combined as the model's reference code does: mean softmax, mean logits, or summed logits."""
    s = scores.reshape(-1, views, scores.shape[-1])
    if reduce == "sum_logits" and kind == "logits":
        return s.sum(1)
    if kind == "probs" or reduce == "logits":
        return s.mean(1)
    e = np.exp(s - s.max(-1, keepdims=True))
    return (e / e.sum(-1, keepdims=True)).mean(1)


def _concat(parts: list[Any]) -> Any:
    if isinstance(parts[0], np.ndarray):
        return np.concatenate(parts)
    import torch

    return torch.cat(parts)


def _batch_key(x: Any) -> tuple:
    """Prepared inputs that can share a forward pass: same type, same shape past the first axis."""
    return (type(x).__name__, tuple(x.shape[1:]), str(x.dtype))


# ----------------------------------------------------------------------------- restricted label spaces


def read_class_list(path: str | Path, classes: list[str], what: str = "candidates") -> list[int]:
    """A file of class names or indices (one per line; blank lines and ``#`` comments skipped) -> sorted indices."""
    p = Path(path)
    if not p.is_file():
        raise HatError(f"{what} file not found: {p}")
    index = {c: i for i, c in enumerate(classes)}
    out: list[int] = []
    for n, line in enumerate(p.read_text().splitlines(), start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        if text in index:
            out.append(index[text])
        elif text.lstrip("-").isdigit():
            if not 0 <= int(text) < len(classes):
                raise HatError(f"{p}:{n}: class index {text} out of range (the benchmark has {len(classes)} classes: 0-{len(classes) - 1})")
            out.append(int(text))
        else:
            close = [c for c in classes if c.lower() == text.lower() or c.replace("_", " ") == text.replace("_", " ")]
            hint = f" (did you mean '{close[0]}'?)" if close else f" (valid: names in the benchmark's classes.txt, e.g. {', '.join(classes[:3])}, or indices)"
            raise HatError(f"{p}:{n}: '{text}' is not a class of the benchmark{hint}")
    if not out:
        raise HatError(f"{p}: no classes listed (one class name or index per line)")
    return sorted(set(out))


def candidates_tag(candidates: list[int] | None) -> str:
    """``cand<N>-<hash>``: runs over different label spaces never share a directory or a leaderboard row."""
    if candidates is None:
        return ""
    return f"cand{len(candidates)}-{hashlib.sha256(','.join(map(str, candidates)).encode()).hexdigest()[:6]}"


def restrict_scores(scores: np.ndarray, candidates: list[int] | None, n_classes: int) -> np.ndarray:
    """Full-width scores [N, n_classes] with every class outside ``candidates`` at -inf (never ranked above one).

    Takes the model's scores over all classes (masked) or over the candidates only (their columns, in order).
    """
    if candidates is None:
        return scores
    out = np.full((len(scores), n_classes), -np.inf)
    cand = np.asarray(candidates, dtype=np.int64)
    out[:, cand] = scores[:, cand] if scores.shape[1] == n_classes else scores
    return out


def filter_items(items: list[Item], candidates: list[int] | None, drop_outside: bool = False) -> tuple[list[Item], int]:
    """Clips whose label is among the candidates; one outside is an error unless ``drop_outside`` (then counted)."""
    if candidates is None:
        return items, 0
    keep = set(candidates)
    inside = [it for it in items if it.label in keep]
    outside = len(items) - len(inside)
    if outside and not drop_outside:
        first = next(it for it in items if it.label not in keep)
        videos = len({it.video_id for it in items if it.label not in keep})
        raise HatError(f"{outside} clips ({videos} videos, e.g. {first.video_id}) have a label outside the {len(keep)} "
                       "candidate classes; add --drop-outside to skip them")
    return inside, outside


def _concat(parts: list[Any]) -> Any:
    if isinstance(parts[0], np.ndarray):
        return np.concatenate(parts)
    import torch

    return torch.cat(parts)


#: what a compose step hands the model side: the clip, and the stored frames' source indices, count and rate
Composed = tuple[np.ndarray, np.ndarray, int, float]


def compose_item(bench: Benchmark, item: Item) -> Composed:
    """One clip as eval feeds it to a model, with what frame sampling needs of its video."""
    clip = bench.compose(item)
    parts = bench.parts(item.video_id)
    return clip, parts.src_index, parts.n_frames, parts.fps


class Predictor:
    """Clips in, prediction rows out, batched as :func:`predict_items` describes.

    Fed one composed clip at a time (``add``), so clips can be composed anywhere (worker processes,
    Ray tasks) while the batching, and so every score, stays what one serial loop gives.
    """

    def __init__(self, model: VideoClassifier, classes: list[str], items: list[Item], *, batch_size: int = 32,
                 sampler: FrameSampler | None = None, progress: Callable[[int], None] | None = None,
                 candidates: list[int] | None = None):
        if batch_size < 1:
            raise HatError(f"batch size must be at least 1 (got {batch_size})")
        self.model, self.classes, self.items, self.progress = model, classes, items, progress
        self.sampler = sampler or FrameSampler(model.sampling)
        self.views = self.sampler.sampling.views if self.sampler.sampling.num_frames is not None else 1
        self.per_batch = max(1, batch_size // self.views)
        self.candidates = candidates
        self.k = min(TOPK, len(classes) if candidates is None else len(candidates))
        #: score widths accepted: all classes, or the candidates only (a classifier built over them)
        self.widths = {len(classes)} if candidates is None else {len(classes), len(candidates)}
        self.rows: dict[int, dict[str, Any]] = {}
        self.groups: dict[tuple, list[tuple[int, Any]]] = {}

    def add(self, i: int, composed: Composed) -> None:
        """Item ``i`` (an index into ``items``), composed."""
        clip, src_index, n_frames, fps = composed
        model, groups = self.model, self.groups
        pos = self.sampler.positions(src_index, n_frames, fps)
        x = model.prepare(clip[pos])
        if len(x) % self.views:
            raise HatError(f"model {model.name}: prepare() returned {len(x)} rows for {self.views} views of one clip")
        key = _batch_key(x)
        groups.setdefault(key, []).append((i, x))
        if len(groups[key]) == self.per_batch:
            self._flush(key)
        elif sum(map(len, groups.values())) > 2 * self.per_batch:  # many sizes pending: free the fullest
            self._flush(max(groups, key=lambda g: len(groups[g])))

    def finish(self) -> None:
        for key in list(self.groups):
            self._flush(key)

    def _flush(self, key: tuple) -> None:
        model, items, names, k, views = self.model, self.items, self.classes, self.k, self.views
        batch = self.groups.pop(key)
        n_clips = len(batch) * views
        scores = np.asarray(model.forward(_concat([x for _, x in batch])), dtype=np.float64)
        if scores.ndim != 2 or len(scores) != n_clips or scores.shape[1] not in self.widths:
            raise HatError(f"model returned scores {scores.shape}; expected ({n_clips}, {len(names)}) for this benchmark")
        if not np.isfinite(scores).all():
            first = items[batch[0][0]]
            raise HatError(f"model returned NaN or infinite scores (first clip: {first.set} {first.video_id})")
        if views > 1:
            scores = combine_views(scores, views, model.score_kind, model.view_reduce)
        scores = restrict_scores(scores, self.candidates, len(names))
        top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        for (i, _), idx, sc in zip(batch, top, scores):
            row = asdict(items[i])
            row["class"] = names[row["label"]]
            row["bg_class"] = names[row["bg_label"]] if row["bg_label"] >= 0 else ""
            for j in range(k):
                row[f"pred_{j + 1}"] = int(idx[j])
                row[f"score_{j + 1}"] = float(sc[idx[j]])
            for j in range(k):
                row[f"pred_{j + 1}_class"] = names[int(idx[j])]
            self.rows[i] = row
        if self.progress:
            self.progress(len(batch))


def predict_items(
    model: VideoClassifier,
    bench: Benchmark,
    items: list[Item],
    *,
    batch_size: int = 32,
    progress: Callable[[int, int], None] | None = None,
    sampler: FrameSampler | None = None,
    candidates: list[int] | None = None,
) -> pd.DataFrame:
    """Scores of every item. ``batch_size`` counts clips; a model with V views sees V clips per item.

    Each clip goes through the model's own :meth:`~hat.models.base.VideoClassifier.prepare` as soon as
    it is composed, so videos of different sizes batch together when the model brings them to one
    input size (every built-in adapter does). Inputs that still differ in shape (a model that takes the
    pixels as they are) are batched by shape; a few partial batches at most are held at once.
    """
    done = 0

    def step(n: int) -> None:
        nonlocal done
        done += n
        if progress:
            progress(done, len(items))

    pred = Predictor(model, bench.classes, items, batch_size=batch_size, sampler=sampler, progress=step,
                     candidates=candidates)
    for i, it in enumerate(items):
        pred.add(i, compose_item(bench, it))
    pred.finish()
    return pd.DataFrame([pred.rows[i] for i in range(len(items))])


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


def check_bootstrap(bootstrap: int, seed: int) -> None:
    """Before any work: resamples 0 (off) or more, a seed a numpy Generator takes."""
    if bootstrap < 0:
        raise HatError(f"--bootstrap must be 0 (no intervals) or a number of resamples such as 1000 (got {bootstrap})")
    if seed < 0:
        raise HatError(f"--bootstrap-seed must be 0 or more (got {seed})")


#: model options that say where or how fast a run goes, not what it computes: no tag, no refusal
NOT_PROTOCOL = ("device", "cache_dir", "clip_weights", "trust_checkpoint")


def protocol_tag(model: VideoClassifier, given: dict[str, Any], candidates: list[int] | None = None) -> str:
    """A short tag for the options given that move a run off the model's own protocol.

    Two runs of one checkpoint with other frames, templates, precision, class names or candidate classes
    get their own run directories instead of one replacing the other.
    """
    parts = [candidates_tag(candidates)] if candidates is not None else []
    for key, value in sorted(given.items()):
        if key in NOT_PROTOCOL or value is None:
            continue
        if key == "precision":
            if value != "fp32":
                parts.append(str(value))
        elif key == "templates":
            templates = tuple(getattr(model, "templates", ()))
            default = getattr(model, "default_templates", None)
            if default is None or templates != _default_templates(default):
                parts.append("tpl" + hashlib.sha256("\n".join(templates or (str(value),)).encode()).hexdigest()[:6])
        elif key == "frames":
            parts.append(f"{value}f")
        elif key == "class_names":
            parts.append(f"names-{Path(str(value)).stem}")
        else:
            parts.append(f"{key}{value}")
    return "-".join(parts)


def _default_templates(name: str) -> tuple[str, ...]:
    from .models.clip_common import resolve_templates

    return resolve_templates(None, name)


def run_name(model: VideoClassifier, bench: Benchmark, tag: str = "") -> str:
    """``<model>__<benchmark>[__<protocol tag>]``; plugins are named ``<file or module>:<function>``."""
    name = f"{model.describe().get('name', 'model')}__{bench.name}" + (f"__{tag}" if tag else "")
    return safe_name(name.replace(":", "-").replace("/", "-"))


def run_settings(meta: dict[str, Any]) -> dict[str, Any]:
    """What makes two runs the same run: the model as described (not where it ran), the benchmark, the sets."""
    model = {k: v for k, v in meta["model"].items() if k not in ("device", "checkpoint")}
    out = {"model": model, "benchmark": meta["benchmark"].get("hash"), "sets": meta["eval"].get("sets")}
    if meta["eval"].get("candidates") is not None:  # absent for the full label space (runs from before stay the same)
        out.update(candidates=meta["eval"]["candidates"], drop_outside=meta["eval"].get("drop_outside", False))
    return out


def check_run_dir(out: Path, settings: dict[str, Any], overwrite: bool = False) -> None:
    """Before any work: the run directory can be written, and holds no run made with other settings."""
    check_out_dir(out)
    pred = out / "predictions.parquet"
    if overwrite or not pred.is_file():
        return
    try:
        _, meta = read_predictions(pred)
        old = json.loads(json.dumps(run_settings(meta)))
    except (HatError, KeyError, TypeError, ValueError):
        raise HatError(f"{out} holds a predictions file hat cannot read; use another --out or --overwrite") from None
    new = json.loads(json.dumps(settings))
    if old != new:
        raise HatError(f"{out} already holds a run with other settings ({first_difference(old, new)}); "
                       "use another --out, or --overwrite to replace it")


#: clips per predictions part (rounded up to whole batches): what a killed eval loses at most, per model
PART_SIZE = 256
#: where a run directory keeps its predictions parts until the run is complete
PARTS_DIR = "parts"
_PART_STATE = "run.json"


def _created() -> str:
    """When the run was written; ``SOURCE_DATE_EPOCH`` (the reproducible-builds convention) pins it."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    when = (_dt.datetime.fromtimestamp(int(epoch), _dt.timezone.utc) if epoch and epoch.isdigit()
            else _dt.datetime.now(_dt.timezone.utc))
    return when.isoformat(timespec="seconds")


class ModelRun:
    """One model's run directory: its items cut into parts, the parts already on disk, the final files.

    Part ``k`` holds items ``[k*P, (k+1)*P)`` with P the part size rounded up to whole batches, and
    is batched on its own: a run's parts, and so its predictions, do not depend on which other models
    share the command, on how many processes compose, nor on where a killed run stopped.
    """

    def __init__(self, model: VideoClassifier, bench: Benchmark, out: str | Path, items: list[Item], sets: list[str], *,
                 batch_size: int = 32, part_size: int = PART_SIZE, candidates: list[int] | None = None,
                 drop_outside: bool = False, dropped: int = 0, bootstrap: int = DEFAULT_RESAMPLES,
                 seed: int = DEFAULT_SEED):
        if part_size < 1:
            raise HatError(f"part size must be at least 1 clip (got {part_size})")
        if batch_size < 1:
            raise HatError(f"batch size must be at least 1 (got {batch_size})")
        self.model, self.bench, self.out, self.items = model, bench, Path(out), items
        self.batch_size, self.candidates, self.bootstrap, self.seed = batch_size, candidates, bootstrap, seed
        sampling = model.sampling
        self.meta: dict[str, Any] = {
            "model": model.describe(),
            "benchmark": {"name": bench.name, "path": str(bench.root), "hash": bench.hash, "classes": bench.classes,
                          **({"manifest": bench.meta["manifest"]} if "manifest" in bench.meta else {})},
            "eval": {"sets": sets, "batch_size": batch_size, "num_frames": sampling.num_frames,
                     "bench_num_frames": bench.config["num_frames"]},
        }
        if candidates is not None:
            self.meta["eval"].update(candidates=candidates, candidate_classes=[bench.classes[c] for c in candidates],
                                     drop_outside=drop_outside, dropped_clips=dropped)
        views = sampling.views if sampling.num_frames is not None else 1
        per_batch = max(1, batch_size // views)
        self.part_size = -(-part_size // per_batch) * per_batch
        self.n_parts = -(-len(items) // self.part_size)
        self.done: set[int] = set()
        self.progress: Callable[[int], None] | None = None
        self._pred: Predictor | None = None
        self._part = -1

    # -- where things are
    @property
    def parts_dir(self) -> Path:
        return self.out / PARTS_DIR

    def part_path(self, k: int) -> Path:
        return self.parts_dir / f"part-{k:06d}.parquet"

    def part_range(self, k: int) -> tuple[int, int]:
        return k * self.part_size, min((k + 1) * self.part_size, len(self.items))

    def _state(self) -> dict[str, Any]:
        return json.loads(json.dumps({"settings": run_settings(self.meta), "batch_size": self.batch_size,
                                      "part_size": self.part_size, "items": len(self.items)}))

    # -- before any work
    def check(self, overwrite: bool = False) -> None:
        """The run directory can be written and holds no run, finished or not, with other settings."""
        check_run_dir(self.out, run_settings(self.meta), overwrite)
        state = self.parts_dir / _PART_STATE
        if overwrite or not state.is_file():
            return
        try:
            old = json.loads(state.read_text())
        except ValueError:
            raise HatError(f"{self.parts_dir} holds a parts state hat cannot read; use another --out or --overwrite") from None
        new = self._state()
        if old.get("settings") != new["settings"] or old.get("items") != new["items"]:
            raise HatError(f"{self.out} holds unfinished parts of a run with other settings "
                           f"({first_difference(old.get('settings'), new['settings'])}); use another --out, "
                           "or --overwrite to start over")
        for key, flag in (("batch_size", "--batch-size"), ("part_size", "--part-size")):
            if old.get(key) != new[key]:
                raise HatError(f"{self.out} holds unfinished parts made with {flag} {old.get(key)} (now {new[key]}); "
                               f"rerun with {flag} {old.get(key)} to resume, or --overwrite to start over")

    def restrict(self) -> None:
        """A restricted label space: the model builds its classifier over the candidates, or its scores are masked."""
        if self.candidates is not None:
            built = self.model.set_candidates(self.bench.classes, self.candidates)
            self.meta["eval"]["scored_by"] = ("text classifier over the candidates" if built
                                              else "scores masked to the candidates")

    def start(self, overwrite: bool = False) -> None:
        """Find the parts a killed run left (or drop them with ``overwrite``), and record this run's state."""
        if overwrite and self.parts_dir.exists():
            shutil.rmtree(self.parts_dir)
        if self.parts_dir.is_dir():
            remove_stale_tmp(self.parts_dir, time.time())
        self.done = {k for k in range(self.n_parts) if self.part_path(k).is_file()}
        if len(self.done) < self.n_parts:
            write_json(self.parts_dir / _PART_STATE, self._state())

    def pending_parts(self) -> list[int]:
        return [k for k in range(self.n_parts) if k not in self.done]

    def pending_items(self) -> set[int]:
        return {i for k in self.pending_parts() for i in range(*self.part_range(k))}

    def done_clips(self) -> int:
        return sum(len(range(*self.part_range(k))) for k in self.done)

    # -- the work
    def predictor(self, k: int) -> Predictor:
        a, b = self.part_range(k)
        return Predictor(self.model, self.bench.classes, self.items[a:b], batch_size=self.batch_size,
                         progress=self.progress, candidates=self.candidates)

    def feed(self, i: int, composed: Composed) -> None:
        """Item ``i`` composed, in item order; items of parts already done are ignored."""
        k = i // self.part_size
        if k in self.done:
            return
        a, b = self.part_range(k)
        if self._part != k:
            self._pred, self._part = self.predictor(k), k
        self._pred.add(i - a, composed)
        if i == b - 1:
            self._pred.finish()
            pred, self._pred, self._part = self._pred, None, -1
            self.write_part(k, [pred.rows[j] for j in range(b - a)], pred.sampler.moved, pred.sampler.count)

    def write_part(self, k: int, rows: list[dict[str, Any]], moved: float, count: int) -> None:
        """Part ``k``'s rows, atomically, with its frame-shift sums (the run's report adds them up)."""
        a, b = self.part_range(k)
        if len(rows) != b - a:
            raise HatError(f"part {k} of {self.out} got {len(rows)} rows for {b - a} clips")
        table = pa.Table.from_pylist(rows)
        extra = {"range": [a, b], "moved": moved, "count": count}
        table = table.replace_schema_metadata({b"hat_part": json.dumps(extra).encode()})
        with atomic_path(self.part_path(k)) as tmp:
            pq.write_table(table, tmp)
        self.done.add(k)

    def finish(self) -> dict[str, Any]:
        """Every part done: the predictions, results and per-class files, as one uninterrupted run writes them."""
        rows: list[dict[str, Any]] = []
        moved, count = 0.0, 0
        for k in range(self.n_parts):
            table = pq.read_table(self.part_path(k))
            extra = json.loads(table.schema.metadata[b"hat_part"])
            rows += table.to_pylist()
            moved += extra["moved"]
            count += extra["count"]
        sampler = FrameSampler(self.model.sampling)
        sampler.moved, sampler.count = moved, count
        meta = json.loads(json.dumps(self.meta))
        meta["eval"]["sampling"] = sampler.report()
        meta.update(hat_version=__version__, python=platform.python_version(), created=_created())
        self.out.mkdir(parents=True, exist_ok=True)
        pred_path = self.out / "predictions.parquet"
        write_predictions(pred_path, pd.DataFrame(rows), meta)
        res = write_results(pred_path, bootstrap=self.bootstrap, seed=self.seed)
        shutil.rmtree(self.parts_dir, ignore_errors=True)
        return res


def evaluate(
    model: VideoClassifier,
    bench: Benchmark,
    out_dir: str | Path,
    *,
    sets: list[str] | None = None,
    batch_size: int = 32,
    progress: Callable[[int, int], None] | None = None,
    overwrite: bool = False,
    engine: Any = None,
    part_size: int = PART_SIZE,
    bootstrap: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    candidates: list[int] | None = None,
    drop_outside: bool = False,
) -> dict[str, Any]:
    """Predict every clip, then write predictions.parquet, results.json and per_class.csv.

    A run directory that holds a run with other settings is refused before any work unless ``overwrite``.
    Predictions are written in parts as they complete; the same call after a crash resumes.
    ``bootstrap`` resamples of the videos give every metric its 95 % interval (0: none).
    ``candidates`` (class indices) restricts the label space: zero-shot models build their classifier over
    them, other models' scores are masked to them; clips labelled outside them are refused unless ``drop_outside``.
    """
    return evaluate_many([model], bench, [out_dir], sets=sets, batch_size=batch_size, progress=progress,
                         overwrite=overwrite, engine=engine, part_size=part_size, bootstrap=bootstrap, seed=seed,
                         candidates=candidates, drop_outside=drop_outside)[0]


def evaluate_many(
    models: list[VideoClassifier],
    bench: Benchmark,
    out_dirs: list[str | Path],
    *,
    sets: list[str] | None = None,
    batch_size: int = 32,
    progress: Callable[[int, int], None] | None = None,
    overwrite: bool = False,
    engine: Any = None,
    part_size: int = PART_SIZE,
    bootstrap: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    candidates: list[int] | None = None,
    drop_outside: bool = False,
) -> list[dict[str, Any]]:
    """Several models on one benchmark: each clip composed once, each model's run as if it ran alone.

    ``engine`` composes the clips and runs the models (:mod:`hat.engines.eval`: ``LocalEngine``, the
    default, serial unless given loader workers; ``RayEngine``).
    """
    if len(models) != len(out_dirs):
        raise HatError(f"give one run directory per model ({len(models)} models, {len(out_dirs)} directories)")
    if len({Path(o).resolve() for o in out_dirs}) != len(out_dirs):
        raise HatError("two models would write the same run directory; give each its own --out")
    check_bootstrap(bootstrap, seed)
    if candidates is not None and type(engine).__name__ == "RayEngine":
        raise HatError("--candidates runs on the local engine only for now (the Ray engine's model actors score every "
                       "class); leave out --engine ray")
    sets = bench.check_sets(sets)
    items = list(bench.items(sets))
    if candidates is not None:
        bad = [c for c in candidates if not 0 <= c < len(bench.classes)]
        if bad or not candidates:
            raise HatError(f"candidate class {bad[0] if bad else '(none)'} is not a class index of benchmark {bench.name} "
                           f"(valid: 0-{len(bench.classes) - 1})")
        candidates = sorted(set(candidates))
    items, dropped = filter_items(items, candidates, drop_outside)
    if not items:
        raise HatError(f"benchmark {bench.name} has no clips in sets {', '.join(sets)}")
    runs = [ModelRun(m, bench, o, items, sets, batch_size=batch_size, part_size=part_size, candidates=candidates,
                     drop_outside=drop_outside, dropped=dropped, bootstrap=bootstrap, seed=seed)
            for m, o in zip(models, out_dirs)]
    for r in runs:
        r.check(overwrite)
    for r in runs:
        r.restrict()
    if engine is None:
        from .engines.eval import LocalEngine

        engine = LocalEngine()
    for r in runs:
        r.start(overwrite)
    total = len(items) * len(runs)
    done = sum(r.done_clips() for r in runs)

    def step(n: int) -> None:
        nonlocal done
        done += n
        if progress:
            progress(done, total)

    for r in runs:
        r.progress = step
    if progress:
        progress(done, total)
    engine.run(runs, bench)
    return [r.finish() for r in runs]


def write_results(pred_path: str | Path, base_classes: str | Path | None = None, *, bootstrap: int = DEFAULT_RESAMPLES,
                  seed: int = DEFAULT_SEED) -> dict[str, Any]:
    """(Re)compute results.json and per_class.csv next to a predictions file, from it alone.

    With ``bootstrap`` resamples, each metric gets ``<metric>_lo`` / ``<metric>_hi`` and results.json an
    ``intervals`` block (hat.stats); with 0 both files are as they were before intervals existed.
    ``base_classes`` (a file of names or indices) adds ``base_novel``: every metric over the base classes'
    videos and over the rest (novel), with their harmonic means.
    """
    check_bootstrap(bootstrap, seed)
    pred_path = Path(pred_path)
    pred, meta = read_predictions(pred_path)
    base = read_class_list(base_classes, meta["benchmark"]["classes"], "base classes") if base_classes else None
    results = results_from_predictions(pred, meta, pred_path)
    table = per_class(pred, meta["benchmark"]["classes"])
    if bootstrap:
        bounds, info, table = results_intervals(pred, results["metrics"], table, bootstrap, seed)
        results["metrics"].update(bounds)
        results["intervals"] = info
    if base is not None:
        results["base_novel"] = base_novel_metrics(pred, base)
    write_json(pred_path.with_name("results.json"), results)
    write_csv(pred_path.with_name("per_class.csv"), table)
    return results
