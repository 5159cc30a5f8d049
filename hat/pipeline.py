"""``hat build``: a pipeline of named stages writing one artifact per video, then the aggregates.

Per video:   frames -> segment -> inpaint -> scene      (artifacts/<stage>/<video>.*)
Aggregates:  manifest.csv, scene_distance.csv + scene_ranking.csv, pairs.csv, benchmark.yaml

Each per-video stage is a function of its inputs and the config; its artifact is written atomically,
so a killed build resumes where it stopped and gives the same bytes as an uninterrupted one.
``--shard i/N`` processes every N-th video; the aggregates are made once all videos are done.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import platform
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import yaml

from . import __version__
from .config import BuildConfig
from .errors import HatError, VideoError
from .inpainters import INPAINTERS, Inpainter
from .masks import coverage, decode_rle, encode_rle, flicker_frames, smooth_masks, temporal_iou
from .pairs import PairReport, sample_pairs
from .scene import SCENE_MODELS, SceneModel
from .scene.ranking import class_means, extremes_table, heatmap_png, l1_distances, ranking_table, ranks, top_scenes
from .segmenters import SEGMENTERS, Segmenter
from .sources import SOURCES, Source, VideoRecord
from .store import (
    ArtifactStore, read_npz, sha256_file, sha256_tree, write_bytes, write_csv, write_json, write_npz, write_text,
)
from .video import ShortVideo, resize_short_side, segment_indices, spread_indices

BENCH_FILE = "benchmark.yaml"
BUILD_FILE = "build.yaml"


# ----------------------------------------------------------------------------- context


@dataclass
class BuildContext:
    cfg: BuildConfig
    source: Source
    segmenter: Segmenter
    inpainter: Inpainter
    scene: SceneModel
    out: Path

    @property
    def store(self) -> ArtifactStore:
        return ArtifactStore(self.out)

    def identity(self) -> dict[str, Any]:
        """Everything that decides the artifacts' content (recorded, and compared on resume)."""
        return {
            "config": self.cfg.to_dict(),
            "source": {"name": self.source.name, "options": self.source.options()},
            "segmenter": {"name": self.segmenter.name, "options": self.segmenter.options()},
            "inpainter": {"name": self.inpainter.name, "options": self.inpainter.options()},
            "scene": {"name": self.scene.name, "options": self.scene.options()},
        }


def make_context(cfg: BuildConfig, out: str | Path) -> BuildContext:
    source = SOURCES.create(cfg.source, **cfg.source_options)
    cfg = cfg.resolved(source.build_defaults, source_masks=source.provides_masks)
    cfg.source = SOURCES.resolve(cfg.source)
    segmenter = SEGMENTERS.create(cfg.segmenter, **cfg.segmenter_options)
    segmenter.check_source(source)
    return BuildContext(
        cfg=cfg,
        source=source,
        segmenter=segmenter,
        inpainter=INPAINTERS.create(cfg.inpainter, **cfg.inpainter_options),
        scene=SCENE_MODELS.create(cfg.scene, **cfg.scene_options),
        out=Path(out),
    )


def split_records(ctx: BuildContext) -> list[VideoRecord]:
    recs = ctx.source.records(ctx.cfg.split)
    return recs[: ctx.cfg.limit] if ctx.cfg.limit else recs


# ----------------------------------------------------------------------------- stages


def stage_frames(ctx: BuildContext, rec: VideoRecord) -> dict[str, np.ndarray]:
    """Decode only what is needed: T evaluation frames plus context frames, at working size.

    Frames that only the inpainter needs (its ``context``) are stored apart as ``ctx_frames``/``ctx_index``,
    so scene descriptors and mask statistics are the same whichever inpainter built the benchmark.
    """
    info = ctx.source.probe(rec)
    n = info.n_frames
    for _ in range(2):
        eval_idx = segment_indices(n, ctx.cfg.num_frames)
        idx = np.union1d(eval_idx, spread_indices(n, ctx.cfg.context_frames))
        extra = np.setdiff1d(np.asarray(ctx.inpainter.context(n, eval_idx), dtype=np.int64), idx)
        every = np.union1d(idx, extra)
        try:
            frames = ctx.source.read(rec, every)
            break
        except ShortVideo as e:  # the header over-counted: sample again over the frames that exist
            n = e.n_frames
    else:
        raise VideoError("frame count keeps changing between reads")
    info = dataclasses.replace(info, n_frames=n)
    frames = resize_short_side(frames, ctx.cfg.short_side)
    extra_frames = None
    if len(extra):
        extra_frames = frames[np.searchsorted(every, extra)]
        frames = frames[np.searchsorted(every, idx)]
    eval_pos = np.searchsorted(idx, eval_idx)
    ev = frames[eval_pos].reshape(-1, 3).astype(np.float64)
    out = {
        "frames": frames, "src_index": idx, "eval_pos": eval_pos,
        "info": np.array([info.n_frames, info.height, info.width, info.fps], dtype=np.float64),
        "rgb_mean": ev.mean(axis=0), "n_pixels": np.array(len(ev), dtype=np.int64),
    }
    if extra_frames is not None:
        out.update(ctx_frames=extra_frames, ctx_index=extra)
    return out


def _with_context(fr: dict[str, np.ndarray], core: np.ndarray, extra: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stored and inpainter-only frames (or masks) merged in source order, with the stored ones' positions."""
    if extra is None or "ctx_index" not in fr:
        return core, fr["src_index"], np.arange(len(core))
    index = np.concatenate([fr["src_index"], fr["ctx_index"]])
    order = np.argsort(index, kind="stable")
    merged = np.concatenate([core, extra])[order]
    return merged, index[order], np.searchsorted(index[order], fr["src_index"])


def _box_rows(boxes: list[np.ndarray], cols: int) -> list[list[list[float]]]:
    return [np.round(np.asarray(b, dtype=np.float64).reshape(-1, cols), 2).tolist() for b in boxes]


def stage_segment(ctx: BuildContext, rec: VideoRecord, fr: dict[str, np.ndarray]) -> dict[str, Any]:
    """Person masks (and named objects' masks, kept apart), optionally smoothed over time, as RLE.

    The inpainter's context frames are segmented in the same call; their person masks are stored apart.
    """
    every, index, core = _with_context(fr, fr["frames"], fr.get("ctx_frames"))
    seg = ctx.segmenter.segment(every, rec, ctx.source, index)
    for what, m in (("masks", seg.masks), ("object masks", seg.object_masks)):
        if m is not None and m.shape != every.shape[:3]:
            raise RuntimeError(f"segmenter {ctx.segmenter.name} returned {what} {m.shape} for frames {every.shape}")
    if len(seg.boxes) != len(every):
        raise RuntimeError(f"segmenter {ctx.segmenter.name} returned boxes for {len(seg.boxes)} of {len(every)} frames")
    extra_masks = None
    if len(core) != len(every):
        rest = np.setdiff1d(np.arange(len(every)), core)
        extra_masks = np.asarray(seg.masks, dtype=bool)[rest]
        seg = seg.subset(core)
    n = len(fr["frames"])
    window = ctx.cfg.mask_smooth
    masks = smooth_masks(seg.masks, window) if window > 1 else np.asarray(seg.masks, dtype=bool)
    out: dict[str, Any] = {
        "size": list(masks.shape[1:3]),
        "rle": encode_rle(masks),
        "boxes": _box_rows(seg.boxes, 5),
    }
    if seg.object_masks is not None:
        obj = smooth_masks(seg.object_masks, window) if window > 1 else np.asarray(seg.object_masks, dtype=bool)
        out["objects"] = {
            "names": list(seg.object_names),
            "rle": encode_rle(obj),
            "boxes": _box_rows(seg.object_boxes or [np.zeros((0, 6))] * n, 6),
        }
    if extra_masks is not None:
        out["context"] = {"index": fr["ctx_index"].tolist(), "rle": encode_rle(extra_masks)}
    return out


def stage_inpaint(
    ctx: BuildContext, rec: VideoRecord, fr: dict[str, np.ndarray], masks: np.ndarray, extra_masks: np.ndarray | None
) -> dict[str, np.ndarray]:
    frames, index, core = _with_context(fr, fr["frames"], fr.get("ctx_frames"))
    masks, _, _ = _with_context(fr, masks, extra_masks)
    where = {"src_index": index, "n_frames": int(fr["info"][0])}
    if not _takes_keywords(ctx.inpainter.inpaint, where):  # a plugin written before inpainters knew frame indices
        where = {}
    return {"bg": ctx.inpainter.inpaint(frames, masks, core[fr["eval_pos"]], **where)}


def _takes_keywords(fn: Callable[..., Any], names: dict[str, Any]) -> bool:
    params = inspect.signature(fn).parameters.values()
    return any(p.kind is p.VAR_KEYWORD for p in params) or set(names) <= {p.name for p in params}


def stage_scene(ctx: BuildContext, rec: VideoRecord, fr: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {"descriptor": ctx.scene.describe(fr["frames"]).astype(np.float32), "n_frames": np.array(len(fr["frames"]))}


PER_VIDEO_STAGES = ("frames", "segment", "inpaint", "scene")


def load_masks(path: Path) -> tuple[np.ndarray, list[np.ndarray], np.ndarray | None]:
    """Person masks and boxes of the stored frames, and the masks of the inpainter-only frames (or None)."""
    seg = json.loads(path.read_text())
    extra = decode_rle(seg["context"]["rle"]) if "context" in seg else None
    return decode_rle(seg["rle"]), [np.asarray(b, dtype=np.float32).reshape(-1, 5) for b in seg["boxes"]], extra


@dataclass
class VideoResult:
    video_id: str
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: tuple[str, str] | None = None


def process_video(ctx: BuildContext, rec: VideoRecord) -> VideoResult:
    """Run the per-video stages whose artifacts are missing; a VideoError marks the video failed."""
    st, vid = ctx.store, rec.video_id
    res = VideoResult(vid)
    err = st.path("errors", vid, "json")
    paths = {
        "frames": st.path("frames", vid, "npz"), "segment": st.path("segment", vid, "json"),
        "inpaint": st.path("inpaint", vid, "npz"), "scene": st.path("scene", vid, "npz"),
    }
    if all(p.is_file() for p in paths.values()):
        res.skipped = list(PER_VIDEO_STAGES)
        return res
    stage = "frames"
    fr: dict[str, np.ndarray] | None = None
    try:
        if paths["frames"].is_file():
            fr = read_npz(paths["frames"])
            res.skipped.append("frames")
        if fr is not None and "ctx_index" in fr and not paths["inpaint"].is_file():
            fr = None  # the inpainter-only pixels are not stored: a resumed video decodes them again
            res.skipped.remove("frames")
        if fr is None:
            fr = stage_frames(ctx, rec)
            # The inpainter-only frames are kept in memory only: E2FGVI needs ~270 a Kinetics clip (~40 MiB
            # compressed), read once by the inpaint stage; their indices are stored.
            write_npz(paths["frames"], **{k: v for k, v in fr.items() if k != "ctx_frames"})
            res.done.append("frames")
        stage = "segment"
        if paths["segment"].is_file():
            masks, _, extra_masks = load_masks(paths["segment"])
            res.skipped.append("segment")
        else:
            seg = stage_segment(ctx, rec, fr)
            write_json(paths["segment"], seg)
            masks = decode_rle(seg["rle"])
            extra_masks = decode_rle(seg["context"]["rle"]) if "context" in seg else None
            res.done.append("segment")
        for name, fn in (("inpaint", lambda: stage_inpaint(ctx, rec, fr, masks, extra_masks)), ("scene", lambda: stage_scene(ctx, rec, fr))):
            stage = name
            if paths[name].is_file():
                res.skipped.append(name)
            else:
                write_npz(paths[name], **fn())
                res.done.append(name)
    except VideoError as e:
        res.failed = (stage, str(e))
        write_json(err, {"video_id": vid, "stage": stage, "reason": str(e)})
        return res
    if err.is_file():
        err.unlink()
    return res


# ----------------------------------------------------------------------------- runner


_WORKER_CTX: BuildContext | None = None


def _worker_init(cfg_dict: dict[str, Any], out: str) -> None:
    global _WORKER_CTX
    _WORKER_CTX = make_context(BuildConfig.from_dict(cfg_dict), out)


def _worker_run(rec: VideoRecord) -> VideoResult:
    assert _WORKER_CTX is not None
    return process_video(_WORKER_CTX, rec)


@dataclass
class BuildSummary:
    out: Path
    total: int = 0
    in_shard: int = 0
    stage_done: Counter = field(default_factory=Counter)
    stage_skipped: Counter = field(default_factory=Counter)
    failed: Counter = field(default_factory=Counter)  # reason -> count
    complete: bool = False
    pending: int = 0
    notes: list[str] = field(default_factory=list)
    counts: dict[str, Any] = field(default_factory=dict)


def check_resume(ctx: BuildContext) -> None:
    """A directory holds one benchmark: refuse to mix artifacts from different settings."""
    path = ctx.out / BUILD_FILE
    ident = json.loads(json.dumps(ctx.identity()))  # tuples -> lists, as YAML gives them back
    if path.is_file():
        old = yaml.safe_load(path.read_text())
        if old != ident:
            raise HatError(f"{ctx.out} was built with different settings ({_first_difference(old, ident)}); use another --out directory")
    else:
        write_text(path, yaml.safe_dump(ident, sort_keys=True))


def _first_difference(a: Any, b: Any, prefix: str = "") -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if a.get(k) != b.get(k):
                return _first_difference(a.get(k), b.get(k), f"{prefix}{k}.")
    return f"{prefix.rstrip('.')}: {a!r} then, {b!r} now"


def build(
    cfg: BuildConfig,
    out: str | Path,
    *,
    shard: tuple[int, int] = (0, 1),
    workers: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> BuildSummary:
    """Build (or resume) a benchmark directory; returns what was done, skipped and why."""
    ctx = make_context(cfg, out)
    recs = split_records(ctx)
    if not recs:
        raise HatError(f"source '{ctx.cfg.source}' has no videos in split '{ctx.cfg.split}'")
    dup = [v for v, k in Counter(r.video_id for r in recs).items() if k > 1]
    if dup:
        raise HatError(f"{len(dup)} video ids appear more than once (e.g. '{dup[0]}'); ids must be unique")
    ctx.out.mkdir(parents=True, exist_ok=True)
    check_resume(ctx)
    i, n = shard
    mine = [r for k, r in enumerate(recs) if k % n == i]
    summary = BuildSummary(out=ctx.out, total=len(recs), in_shard=len(mine))

    def record(res: VideoResult) -> None:
        summary.stage_done.update(res.done)
        summary.stage_skipped.update(res.skipped)
        if res.failed:
            summary.failed[f"{res.failed[0]}: {res.failed[1]}"] += 1

    if workers > 1 and len(mine) > 1:
        with ProcessPoolExecutor(
            max_workers=workers, mp_context=get_context("spawn"),
            initializer=_worker_init, initargs=(ctx.cfg.to_dict(), str(ctx.out)),
        ) as pool:
            for k, res in enumerate(pool.map(_worker_run, mine, chunksize=4)):
                record(res)
                if progress:
                    progress(k + 1, len(mine))
    else:
        for k, rec in enumerate(mine):
            record(process_video(ctx, rec))
            if progress:
                progress(k + 1, len(mine))

    pending = [r for r in recs if not _finished(ctx, r)]
    summary.pending = len(pending)
    if pending:
        summary.notes.append(f"{len(pending)} videos in other shards are not done yet; run without --shard to finish")
        return summary
    finalize(ctx, recs, summary)
    summary.complete = True
    return summary


def _finished(ctx: BuildContext, rec: VideoRecord) -> bool:
    st = ctx.store
    if st.exists("errors", rec.video_id, "json"):
        return True
    return all(st.exists(s, rec.video_id, e) for s, e in (("frames", "npz"), ("segment", "json"), ("inpaint", "npz"), ("scene", "npz")))


# ----------------------------------------------------------------------------- aggregates


def _video_row(
    ctx: BuildContext, rec: VideoRecord
) -> tuple[dict[str, Any], tuple[np.ndarray, float] | None, np.ndarray | None, pd.DataFrame | None]:
    """Manifest row, (scene descriptor, its frame count), (rgb_mean * n, n) and per-frame mask-quality rows."""
    cfg, st = ctx.cfg, ctx.store
    row: dict[str, Any] = {
        "video_id": rec.video_id, "label": rec.label, "class": ctx.source.classes[rec.label], "split": rec.split,
        "path": rec.path, "status": "ok", "reason": "",
    }
    for k, v in sorted(rec.meta.items()):
        row[f"meta_{k}"] = v
    err = st.path("errors", rec.video_id, "json")
    if err.is_file():
        e = json.loads(err.read_text())
        row.update(status="failed", reason=f"{e['stage']}: {e['reason']}", fg_ok=False, bg_ok=False)
        return row, None, None, None
    with np.load(st.path("frames", rec.video_id, "npz"), allow_pickle=False) as z:  # lazy: frames stay packed
        fr = {k: z[k] for k in ("info", "eval_pos", "rgb_mean", "n_pixels", "src_index")}
    seg = json.loads(st.path("segment", rec.video_id, "json").read_text())
    masks = decode_rle(seg["rle"])
    all_cov = coverage(masks)
    cov = all_cov[fr["eval_pos"]]
    iou = temporal_iou(masks) if len(masks) > 1 else np.ones(0)
    n, h, w, fps = fr["info"]
    row.update(
        n_frames=int(n), height=int(h), width=int(w), fps=round(float(fps), 3),
        work_height=int(masks.shape[1]), work_width=int(masks.shape[2]),
        cov_min=float(cov.min()), cov_mean=float(cov.mean()), cov_max=float(cov.max()),
        frames_no_human=int((cov == 0).sum()),
        mask_iou=float(iou.mean()) if len(iou) else 1.0, mask_iou_min=float(iou.min()) if len(iou) else 1.0,
        flicker=int(flicker_frames(masks, cfg.flicker_ratio).sum()),
    )
    low, high = int((cov < cfg.cov_min).sum()), int((cov > cfg.cov_max).sum())
    reasons = []
    if low:
        reasons.append(f"person < {cfg.cov_min:g} of frame on {low} frames")
    if high:
        reasons.append(f"person > {cfg.cov_max:g} of frame on {high} frames")
    row["fg_ok"] = not reasons
    row["bg_ok"] = not high
    row["reason"] = "; ".join(reasons)
    flags = [f for f, on in (("no_human", row["frames_no_human"]), ("flicker", row["flicker"]),
                             ("low_cov", low), ("high_cov", high)) if on]
    row["flags"] = ";".join(flags)
    objects = seg.get("objects")
    obj_cov = coverage(decode_rle(objects["rle"])) if objects else None
    row["objects"] = "|".join(objects["names"]) if objects else ""
    row["obj_cov_mean"] = float(obj_cov[fr["eval_pos"]].mean()) if objects else 0.0
    is_eval = np.zeros(len(masks), bool)
    is_eval[fr["eval_pos"]] = True
    quality = pd.DataFrame({  # columns, not a dict per frame: Kinetics has ~1M stored frames
        "video_id": rec.video_id, "frame": fr["src_index"].astype(np.int64), "eval": is_eval,
        "coverage": np.round(all_cov, 6), "iou_prev": np.round(np.concatenate([[np.nan], iou]), 6),
        "person_boxes": [len(b) for b in seg["boxes"]],
        "object_coverage": np.round(obj_cov, 6) if objects else np.nan,
    }, columns=list(_QUALITY_COLUMNS))
    scene = read_npz(st.path("scene", rec.video_id, "npz"))
    desc = (scene["descriptor"], float(scene["n_frames"]) if "n_frames" in scene else 1.0)
    colour = np.concatenate([fr["rgb_mean"] * int(fr["n_pixels"]), [int(fr["n_pixels"])]])
    return row, desc, colour, quality


_QUALITY_COLUMNS = ("video_id", "frame", "eval", "coverage", "iou_prev", "person_boxes", "object_coverage")


def finalize(ctx: BuildContext, recs: list[VideoRecord], summary: BuildSummary) -> None:
    cfg, out = ctx.cfg, ctx.out
    classes = ctx.source.classes
    rows, descs, weights, labels, colour, quality = [], [], [], [], np.zeros(4), []
    for rec in recs:
        row, desc, col, q = _video_row(ctx, rec)
        rows.append(row)
        if q is not None:
            quality.append(q)
        if desc is not None:
            descs.append(desc[0])
            weights.append(desc[1])
            labels.append(rec.label)
            colour += col
    manifest = pd.DataFrame(rows)
    ok = manifest[manifest["status"] == "ok"]
    if ok.empty:
        raise HatError("no usable video: every video failed (see manifest.csv reasons)")
    write_csv(out / "manifest.csv", manifest)
    write_csv(out / "mask_quality.csv", pd.concat(quality, ignore_index=True))
    write_text(out / "classes.txt", "".join(f"{c}\n" for c in classes))

    means = class_means(np.stack(descs), np.array(labels), len(classes), np.array(weights))
    dist = l1_distances(means)
    if ctx.scene.labels is not None:
        write_csv(out / "scene_top.csv", top_scenes(means, classes, ctx.scene.labels))
    dist_df = pd.DataFrame(dist, columns=classes)
    dist_df.insert(0, "class", classes)
    write_csv(out / "scene_distance.csv", dist_df)
    write_csv(out / "scene_ranking.csv", ranking_table(dist, classes))
    write_csv(out / "scene_extremes.csv", extremes_table(dist, classes, cfg.k_close))
    write_bytes(out / "scene_heatmap.png", heatmap_png(dist, classes))

    videos = pd.DataFrame({
        "video_id": manifest["video_id"], "label": manifest["label"],
        "fg_ok": manifest["fg_ok"].astype(bool), "bg_ok": manifest["bg_ok"].astype(bool),
    })
    notes = summary.notes
    if cfg.pairs_file:
        from .hatpairs import pairs_from_file

        pairs, dropped = pairs_from_file(cfg.pairs_file, manifest, classes, dist, ranks(dist), cfg.swap_types)
        report = PairReport()
        notes.append(f"pairs taken from {cfg.pairs_file} (sha256 {sha256_file(cfg.pairs_file)[:16]}), not sampled")
        for why, k in sorted(dropped.items()):
            notes.append(f"{k} given pairs dropped: {why}")
    else:
        pairs, report = sample_pairs(
            videos, dist, classes, swap_types=cfg.swap_types, repeats=cfg.repeats,
            k_close=cfg.k_close, k_far=cfg.k_far, seed=cfg.seed,
        )
    write_csv(out / "pairs.csv", pairs)

    n_others = len(classes) - 1
    if {"close", "far"} <= set(cfg.swap_types) and cfg.k_close + cfg.k_far > n_others:
        notes.append(f"k_close + k_far = {cfg.k_close + cfg.k_far} > {n_others} other classes: Close and Far overlap")
    fg_per_class = ok[ok["fg_ok"].astype(bool)].groupby("label").size().reindex(range(len(classes)), fill_value=0)
    few = [f"{classes[c]} ({int(k)})" for c, k in fg_per_class.items() if k < cfg.min_videos_per_class]
    if few:
        notes.append(f"{len(few)} classes have fewer than {cfg.min_videos_per_class} usable foreground videos: {', '.join(few[:20])}")
    for (swap, reason), k in sorted(report.missing.items()):
        notes.append(f"swap_{swap}: {k} pairs not made ({reason})")
    flagged = ok["flags"].astype(str).str.contains("flicker")
    if flagged.any():
        notes.append(f"{int(flagged.sum())} videos have flickering masks (a frame unlike both neighbours; see mask_quality.csv)")
    summary.counts = {
        "videos": len(manifest), "ok": int(len(ok)), "failed": int((manifest["status"] != "ok").sum()),
        "foregrounds": int(ok["fg_ok"].astype(bool).sum()), "backgrounds": int(ok["bg_ok"].astype(bool).sum()),
        "objects": int((ok["objects"].astype(str) != "").sum()),
        "pairs": {k: int(v) for k, v in sorted(report.made.items())},
    }
    bench = {
        "format": 1,
        "name": out.name,
        "hat_version": __version__,
        "classes": len(classes),
        **ctx.identity(),
        "counts": summary.counts,
        "dataset_mean_rgb": [round(float(x), 4) for x in colour[:3] / max(colour[3], 1)],
        "notes": list(notes),
        "versions": _versions(),
        "hashes": {
            name: sha256_file(out / name)
            for name in ("manifest.csv", "mask_quality.csv", "classes.txt", "scene_distance.csv", "scene_ranking.csv", "scene_extremes.csv",
                         "scene_heatmap.png", "scene_top.csv", "pairs.csv")
            if (out / name).is_file()
        }
        | {"artifacts": sha256_tree(out / "artifacts")},
    }
    write_text(out / BENCH_FILE, yaml.safe_dump(bench, sort_keys=False))


def _versions() -> dict[str, str]:
    import av
    import cv2

    return {
        "python": platform.python_version(), "numpy": np.__version__, "pandas": pd.__version__,
        "opencv": cv2.__version__, "av": av.__version__,
    }


def parse_shard(text: str | None) -> tuple[int, int]:
    if not text:
        return (0, 1)
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise HatError(f"--shard must look like i/N with 0 <= i < N (got '{text}')") from None
    if not (n >= 1 and 0 <= i < n):
        raise HatError(f"--shard must look like i/N with 0 <= i < N (got '{text}')")
    return (i, n)


__all__ = ["build", "BuildSummary", "make_context", "parse_shard", "PER_VIDEO_STAGES"]
