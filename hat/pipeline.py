"""``hat build``: a pipeline of named stages writing one artifact per video, then the aggregates.

Per video:   frames -> segment -> inpaint -> scene -> residual   (artifacts/<stage>/<video>.*)
Aggregates:  manifest.csv, scene_distance.csv + scene_ranking.csv, pairs.csv, benchmark.yaml

Each per-video stage is a function of its inputs and the config; its artifact is written atomically,
so a killed build resumes where it stopped and gives the same bytes as an uninterrupted one.
``--shard i/N`` processes every N-th video; the aggregates are made once all videos are done.
Settings that only shape the aggregates (coverage bounds, pairing, ...) may change between runs of one
directory: the aggregates are then re-derived from the stored artifacts (:func:`check_resume`).
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import math
import platform
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import pandas as pd
import yaml

from . import __version__
from .config import AGGREGATE_SETTINGS, ARTIFACT_SETTINGS, BACKENDS, SELECTION_SETTINGS, BuildConfig
from .engines.build import EngineOptions, cpu_context
from .engines.build import check as check_engine
from .engines.build import run as run_engine
from .errors import HatError, VideoError
from .inpainters import INPAINTERS, Inpainter
from .layout import (
    ARTIFACTS, BENCH_FILE, BUILD_FILE, CHECK_CSV, CLASSES_TXT, HASHED_FILES, MANIFEST_CSV, MASK_QUALITY_CSV, PAIRS_CSV,
    PER_VIDEO_STAGES, RESIDUAL_COVERAGE, SCENE_DISTANCE_CSV, SCENE_EXTREMES_CSV, SCENE_HEATMAP_PNG, SCENE_RANKING_CSV,
    SCENE_TOP_CSV, SCUBA_CSV, SEG_BOXES, SEG_CONTEXT, SEG_CONTEXT_INDEX, SEG_OBJECT_NAMES, SEG_OBJECTS, SEG_RLE, SEG_SIZE,
    STAGE_EXT, read_segment, stage_file,
)
from .manifest import check_build, ranking_notes, rebuild_pairs
from .masks import coverage, decode_rle, encode_rle, flicker_frames, smooth_masks, temporal_iou
from .pairs import PairReport, missing_pair_notes, sample_pairs
from .scene import SCENE_MODELS, SceneModel
from .scuba import check_images, passes_scuba_filter, sample_scuba, scan_images
from .scene.ranking import class_means, extremes_table, heatmap_png, l1_distances, ranking_table, ranks, top_scenes
from .segmenters import SEGMENTERS, Segmenter
from .sources import SOURCES, Source, VideoRecord
from .store import (
    ArtifactStore, check_out_dir, first_difference, read_npz, remove_stale_tmp, sha256_file, sha256_tree, write_bytes,
    write_csv, write_json, write_npz, write_text,
)
from .video import ShortVideo, is_truncated, resize_short_side, segment_indices, spread_indices



# ----------------------------------------------------------------------------- context


@dataclass
class BuildContext:
    cfg: BuildConfig
    source: Source
    segmenter: Segmenter
    inpainter: Inpainter
    scene: SceneModel
    out: Path
    manifest: Any = None  # hat.manifest.Manifest when rebuilding a published one

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
    ctx = BuildContext(
        cfg=cfg,
        source=source,
        segmenter=segmenter,
        inpainter=INPAINTERS.create(cfg.inpainter, **cfg.inpainter_options),
        scene=SCENE_MODELS.create(cfg.scene, **cfg.scene_options),
        out=Path(out),
    )
    if cfg.manifest:
        from .manifest import check_context, load_manifest

        ctx.manifest = load_manifest(cfg.manifest)
        check_context(ctx.manifest, cfg, source, {"segmenter": segmenter, "inpainter": ctx.inpainter, "scene": ctx.scene})
    return ctx


def split_records(ctx: BuildContext) -> list[VideoRecord]:
    recs = ctx.source.records(ctx.cfg.split)
    if ctx.manifest is not None:
        from .manifest import select_records

        recs = select_records(ctx.manifest, recs, ctx.cfg.source, ctx.cfg.split)
    return recs[: ctx.cfg.limit] if ctx.cfg.limit else recs


# ----------------------------------------------------------------------------- stages


def stage_frames(ctx: BuildContext, rec: VideoRecord) -> dict[str, np.ndarray]:
    """Decode only what is needed: T evaluation frames plus context frames, at working size.

    Frames that only the inpainter needs (its ``context``) are stored apart as ``ctx_frames``/``ctx_index``,
    so scene descriptors and mask statistics are the same whichever inpainter built the benchmark.
    """
    info = ctx.source.probe(rec)
    n = promised = info.n_frames
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
    if is_truncated(promised, n):  # kept (sampled over what decodes), flagged in the manifest
        out["n_promised"] = np.array(promised, dtype=np.int64)
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
        SEG_SIZE: list(masks.shape[1:3]),
        SEG_RLE: encode_rle(masks),
        SEG_BOXES: _box_rows(seg.boxes, 5),
    }
    if seg.object_masks is not None:
        obj = smooth_masks(seg.object_masks, window) if window > 1 else np.asarray(seg.object_masks, dtype=bool)
        out[SEG_OBJECTS] = {
            SEG_OBJECT_NAMES: list(seg.object_names),
            SEG_RLE: encode_rle(obj),
            SEG_BOXES: _box_rows(seg.object_boxes or [np.zeros((0, 6))] * n, 6),
        }
    if extra_masks is not None:
        out[SEG_CONTEXT] = {SEG_CONTEXT_INDEX: fr["ctx_index"].tolist(), SEG_RLE: encode_rle(extra_masks)}
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


def stage_residual(ctx: BuildContext, rec: VideoRecord, fr: dict[str, np.ndarray], bg: np.ndarray) -> dict[str, Any]:
    """Person coverage the build's own segmenter still finds on each Background-Only frame.

    People the inpainter left behind (or that the segmenter missed and then finds once their
    neighbours are gone) would be pasted into every swap that uses this background.
    """
    seg = ctx.segmenter.segment(bg, rec, ctx.source, fr["src_index"][fr["eval_pos"]])
    masks = np.asarray(seg.masks, dtype=bool)
    if masks.shape != bg.shape[:3]:
        raise RuntimeError(f"segmenter {ctx.segmenter.name} returned masks {masks.shape} for frames {bg.shape}")
    return {RESIDUAL_COVERAGE: [round(float(c), 6) for c in coverage(masks)]}




def stage_paths(ctx: BuildContext, video_id: str) -> dict[str, Path]:
    """The artifacts a finished video has: ``residual`` only where the segmenter can look at new pixels."""
    stages = PER_VIDEO_STAGES if ctx.segmenter.reads_pixels else PER_VIDEO_STAGES[:-1]
    return {s: ctx.store.path(s, video_id, STAGE_EXT[s]) for s in stages}


def load_masks(path: Path) -> tuple[np.ndarray, list[np.ndarray], np.ndarray | None]:
    """Person masks and boxes of the stored frames, and the masks of the inpainter-only frames (or None)."""
    seg = read_segment(path)
    extra = decode_rle(seg[SEG_CONTEXT][SEG_RLE]) if SEG_CONTEXT in seg else None
    return decode_rle(seg[SEG_RLE]), [np.asarray(b, dtype=np.float32).reshape(-1, 5) for b in seg[SEG_BOXES]], extra


@dataclass
class VideoResult:
    video_id: str
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: tuple[str, str] | None = None


def process_video(
    ctx: BuildContext, rec: VideoRecord, *, frames: dict[str, np.ndarray] | None = None,
    scene: Callable[[], dict[str, np.ndarray]] | None = None, res: VideoResult | None = None,
) -> VideoResult:
    """Run the per-video stages whose artifacts are missing; a VideoError marks the video failed.

    An engine that ran the frames stage elsewhere (:func:`frames_step`) passes its output as ``frames``
    with the ``res`` it started, and may pass ``scene``: the scene stage's output, computed elsewhere
    too but still written in stage order here.
    """
    st, vid = ctx.store, rec.video_id
    res = res if res is not None else VideoResult(vid)
    err = st.path("errors", vid, "json")
    paths = stage_paths(ctx, vid)
    if all(p.is_file() for p in paths.values()):
        res.skipped = list(paths)
        return res
    stage = "frames"
    try:
        if all(paths[k].is_file() for k in PER_VIDEO_STAGES[:-1]):  # e.g. a benchmark built before residuals
            res.skipped += PER_VIDEO_STAGES[:-1]
            stage = "residual"
            fr = read_npz(paths["frames"], ("src_index", "eval_pos"))
            write_json(paths["residual"], stage_residual(ctx, rec, fr, read_npz(paths["inpaint"])["bg"]))
            res.done.append("residual")
        else:
            for stage in _run_stages(ctx, rec, paths, res, frames, scene):
                pass
    except VideoError as e:
        record_failure(ctx, res, stage, e)
        return res
    if err.is_file():
        err.unlink()
    return res


def record_failure(ctx: BuildContext, res: VideoResult, stage: str, e: Exception) -> None:
    """Mark a video failed at ``stage``: errors/<video>.json, which the manifest quotes."""
    res.failed = (stage, str(e))
    write_json(ctx.store.path("errors", res.video_id, "json"), {"video_id": res.video_id, "stage": stage, "reason": str(e)})


def frames_step(ctx: BuildContext, rec: VideoRecord, paths: dict[str, Path], res: VideoResult) -> dict[str, np.ndarray]:
    """The frames stage: the stored frames, or decoded and stored now (with the inpainter-only ones in memory)."""
    fr: dict[str, np.ndarray] | None = None
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
    return fr


def _run_stages(
    ctx: BuildContext, rec: VideoRecord, paths: dict[str, Path], res: VideoResult,
    fr: dict[str, np.ndarray] | None = None, scene: Callable[[], dict[str, np.ndarray]] | None = None,
) -> Iterator[str]:
    """Yields each stage's name before running it (so a failure is attributed to it)."""
    if fr is None:
        yield "frames"
        fr = frames_step(ctx, rec, paths, res)
    yield "segment"
    if paths["segment"].is_file():
        masks, _, extra_masks = load_masks(paths["segment"])
        res.skipped.append("segment")
    else:
        seg = stage_segment(ctx, rec, fr)
        write_json(paths["segment"], seg)
        masks = decode_rle(seg[SEG_RLE])
        extra_masks = decode_rle(seg[SEG_CONTEXT][SEG_RLE]) if SEG_CONTEXT in seg else None
        res.done.append("segment")
    yield "inpaint"
    bg = None
    if paths["inpaint"].is_file():
        res.skipped.append("inpaint")
    else:
        bg = stage_inpaint(ctx, rec, fr, masks, extra_masks)["bg"]
        write_npz(paths["inpaint"], bg=bg)
        res.done.append("inpaint")
    yield "scene"
    if paths["scene"].is_file():
        res.skipped.append("scene")
    else:
        write_npz(paths["scene"], **(scene() if scene is not None else stage_scene(ctx, rec, fr)))
        res.done.append("scene")
    if "residual" in paths:
        yield "residual"
        if paths["residual"].is_file():
            res.skipped.append("residual")
        else:
            bg = read_npz(paths["inpaint"])["bg"] if bg is None else bg
            write_json(paths["residual"], stage_residual(ctx, rec, fr, bg))
            res.done.append("residual")


# ----------------------------------------------------------------------------- runner


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
    removed_tmp: int = 0  # leftover temporary files of killed runs removed on resume
    placement: dict[str, str] = field(default_factory=dict)  # engine worker -> where it ran (Ray: node, GPUs)


def artifact_identity(ident: dict[str, Any]) -> dict[str, Any]:
    """The part of a build identity (build.yaml, benchmark.yaml) that the per-video artifacts depend on.

    Backends count by name and resolved options, not by the options as typed (``config.*_options``);
    a setting an older build.yaml lacks had its present default.
    """
    cfg = ident.get("config") or {}
    defaults = BuildConfig().to_dict()
    return {**{b: ident.get(b) for b in BACKENDS}, **{k: cfg.get(k, defaults[k]) for k in ARTIFACT_SETTINGS}}


def check_resume(ctx: BuildContext) -> None:
    """A directory holds one set of artifacts: refuse settings that would mix artifacts of different kinds.

    Settings that only select videos or shape the aggregates may change: build.yaml then records the new
    ones, the stored artifacts are reused and the aggregates re-derived (see :func:`finalize`).
    """
    path = ctx.out / BUILD_FILE
    ident = json.loads(json.dumps(ctx.identity()))  # tuples -> lists, as YAML gives them back
    if path.is_file():
        old = yaml.safe_load(path.read_text())
        if old == ident:
            return
        a, b = artifact_identity(old), artifact_identity(ident)
        if a != b:
            raise HatError(f"{ctx.out} holds artifacts built with different settings ({first_difference(a, b)}); "
                           "only coverage, residual, pairing and video-selection settings can change in place; use another --out directory")
    write_text(path, yaml.safe_dump(ident, sort_keys=True))


def build(
    cfg: BuildConfig,
    out: str | Path,
    *,
    shard: tuple[int, int] = (0, 1),
    workers: int = 1,
    progress: Callable[[int, int], None] | None = None,
    engine: str | EngineOptions = "local",
) -> BuildSummary:
    """Build (or resume) a benchmark directory; returns what was done, skipped and why.

    ``engine`` schedules the per-video stages (:mod:`hat.engines.build`): a name, or its options
    (then its ``workers`` count, not this one).
    """
    started = time.time()
    opts = engine if isinstance(engine, EngineOptions) else EngineOptions(engine=engine, workers=workers)
    if opts.workers < 1:
        raise HatError(f"workers must be 1 or more (got {opts.workers})")
    check_out_dir(out, "the benchmark")
    check_engine(opts)  # Ray reachable, its GPUs enough: before any model loads or file is written
    ctx = make_context(cfg, out) if opts.engine == "local" else cpu_context(cfg, out)  # Ray: models run in actors
    recs = split_records(ctx)
    if not recs:
        raise HatError(f"source '{ctx.cfg.source}' has no videos in split '{ctx.cfg.split}'")
    dup = [v for v, k in Counter(r.video_id for r in recs).items() if k > 1]
    if dup:
        raise HatError(f"{len(dup)} video ids appear more than once (e.g. '{dup[0]}'); ids must be unique")
    if ctx.cfg.scuba_images:  # before any work: an image folder that cannot serve every repeat
        check_images(scan_images(ctx.cfg.scuba_images), ctx.cfg.repeats)
    resumed = (ctx.out / BUILD_FILE).is_file()
    ctx.out.mkdir(parents=True, exist_ok=True)
    check_resume(ctx)
    i, n = shard
    mine = [r for k, r in enumerate(recs) if k % n == i]
    summary = BuildSummary(out=ctx.out, total=len(recs), in_shard=len(mine))
    if resumed:  # a killed run's half-written files (not in notes: a resumed build writes what an uninterrupted one does)
        summary.removed_tmp = remove_stale_tmp(ctx.out, started)

    def record(res: VideoResult) -> None:
        summary.stage_done.update(res.done)
        summary.stage_skipped.update(res.skipped)
        if res.failed:
            summary.failed[f"{res.failed[0]}: {res.failed[1]}"] += 1

    summary.placement = run_engine(ctx, mine, opts, record, progress)

    pending = [r for r in recs if not _finished(ctx, r)]
    summary.pending = len(pending)
    if pending:
        summary.notes.append(f"{len(pending)} videos in other shards are not done yet; run without --shard to finish")
        return summary
    finalize(ctx, recs, summary)
    summary.complete = True
    return summary


def _finished(ctx: BuildContext, rec: VideoRecord) -> bool:
    if ctx.store.exists("errors", rec.video_id, "json"):
        return True
    return all(p.is_file() for p in stage_paths(ctx, rec.video_id).values())


# ----------------------------------------------------------------------------- aggregates


def _video_row(
    ctx: BuildContext, rec: VideoRecord
) -> tuple[dict[str, Any], tuple[np.ndarray, float] | None, np.ndarray | None, pd.DataFrame | None, str]:
    """Manifest row, (scene descriptor, its frame count), (rgb_mean * n, n), per-frame mask-quality rows, and
    for a usable video that is not a foreground, why and which flag would admit it."""
    cfg, st = ctx.cfg, ctx.store
    row: dict[str, Any] = {
        "video_id": rec.video_id, "label": rec.label, "class": ctx.source.classes[rec.label], "split": rec.split,
        "path": rec.path, "status": "ok", "reason": "", "notes": "",
    }
    for k, v in sorted(rec.meta.items()):
        row[f"meta_{k}"] = v
    err = st.path("errors", rec.video_id, "json")
    if err.is_file():
        e = json.loads(err.read_text())
        row.update(status="failed", reason=f"{e['stage']}: {e['reason']}", fg_ok=False, bg_ok=False)
        return row, None, None, None, ""
    with np.load(st.path("frames", rec.video_id, "npz"), allow_pickle=False) as z:  # lazy: frames stay packed
        fr = {k: z[k] for k in ("info", "eval_pos", "rgb_mean", "n_pixels", "src_index", "n_promised") if k in z.files}
    seg = read_segment(stage_file(st, "segment", rec.video_id))
    masks = decode_rle(seg[SEG_RLE])
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
        residual_cov=_residual_cov(st.path("residual", rec.video_id, "json")),
    )
    low, high = int((cov < cfg.cov_min).sum()), int((cov > cfg.cov_max).sum())
    residual = bool(row["residual_cov"] > cfg.max_residual)  # NaN (not measured) is never above
    notes = []
    truncated = "n_promised" in fr
    if truncated:
        notes.append(f"truncated: header promises {int(fr['n_promised'])} frames, {int(n)} decode")
    if low:
        notes.append(f"person < {cfg.cov_min:g} of frame on {low} frames")
    if high:
        notes.append(f"person > {cfg.cov_max:g} of frame on {high} frames")
    if residual:
        notes.append(f"Background-Only still shows a person: residual_cov {row['residual_cov']:.3g} > max_residual {cfg.max_residual:g}")
    row["fg_ok"] = not (low or high)
    row["bg_ok"] = not (high or residual)
    row["notes"] = "; ".join(notes)
    flags = [f for f, on in (("no_human", row["frames_no_human"]), ("flicker", row["flicker"]),
                             ("low_cov", low), ("high_cov", high), ("residual", residual), ("truncated", truncated)) if on]
    row["flags"] = ";".join(flags)
    objects = seg.get(SEG_OBJECTS)
    obj_cov = coverage(decode_rle(objects[SEG_RLE])) if objects else None
    row["objects"] = "|".join(objects[SEG_OBJECT_NAMES]) if objects else ""
    row["obj_cov_mean"] = float(obj_cov[fr["eval_pos"]].mean()) if objects else 0.0
    is_eval = np.zeros(len(masks), bool)
    is_eval[fr["eval_pos"]] = True
    quality = pd.DataFrame({  # columns, not a dict per frame: Kinetics has ~1M stored frames
        "video_id": rec.video_id, "frame": fr["src_index"].astype(np.int64), "eval": is_eval,
        "coverage": np.round(all_cov, 6), "iou_prev": np.round(np.concatenate([[np.nan], iou]), 6),
        "person_boxes": [len(b) for b in seg[SEG_BOXES]],
        "object_coverage": np.round(obj_cov, 6) if objects else np.nan,
    }, columns=list(_QUALITY_COLUMNS))
    scene = read_npz(st.path("scene", rec.video_id, "npz"))
    desc = (scene["descriptor"], float(scene["n_frames"]) if "n_frames" in scene else 1.0)
    colour = np.concatenate([fr["rgb_mean"] * int(fr["n_pixels"]), [int(fr["n_pixels"])]])
    hint = "" if row["fg_ok"] else foreground_hint(cov, cfg.cov_min, cfg.cov_max)
    return row, desc, colour, quality, hint


def _residual_cov(path: Path) -> float:
    """The most person the segmenter finds on any Background-Only frame (NaN where not measured).

    The maximum, not the mean: a person left on a few of the T frames still walks through every swap.
    """
    if not path.is_file():
        return float("nan")
    cov = json.loads(path.read_text())[RESIDUAL_COVERAGE]
    return float(max(cov)) if cov else float("nan")


def foreground_hint(cov: np.ndarray, cov_min: float, cov_max: float) -> str:
    """Why evaluation-frame coverages ``cov`` fail the foreground rule, and the flags that would admit them."""
    lo, hi = float(np.min(cov)), float(np.max(cov))
    low, high = int((cov < cov_min).sum()), int((cov > cov_max).sum())
    why = [f"< cov_min {cov_min:g} on {_frames(low)}"] * bool(low) + [f"> cov_max {cov_max:g} on {_frames(high)}"] * bool(high)
    flags = [f"--cov-min {_admitting(lo, up=False)}"] * bool(low) + [f"--cov-max {_admitting(hi, up=True)}"] * bool(high)
    text = f"coverage {lo:.3g}-{hi:.3g} {' and '.join(why)}; {' '.join(flags)} would admit it"
    return text + (" (with frames that show no person)" if lo == 0 else "")


def _frames(n: int) -> str:
    return f"{n} frame" if n == 1 else f"{n} frames"


def _admitting(x: float, *, up: bool) -> str:
    """The shortest decimal at or beyond ``x`` (up: >= x, else <= x), from 2 decimals on; 0 stays 0."""
    for d in range(2, 7):
        scaled = round(x * 10**d, 6)
        v = (math.ceil(scaled) if up else math.floor(scaled)) / 10**d
        if v > 0 or x == 0:
            return f"{v:g}"
    return f"{x:g}"


def _few(items: list[str], k: int = 5) -> str:
    """A few names, then how many more."""
    return ", ".join(items[:k]) + (f" and {len(items) - k} more" if len(items) > k else "")


_QUALITY_COLUMNS = ("video_id", "frame", "eval", "coverage", "iou_prev", "person_boxes", "object_coverage")


@dataclass
class VideoTable:
    """What finalize gathers from every video's artifacts before it writes any aggregate."""

    manifest: pd.DataFrame  # one row per video (manifest.csv)
    quality: list[pd.DataFrame]  # per stored frame, of the videos that finished
    descs: list[np.ndarray]  # scene descriptors of the finished videos, their weights and labels
    weights: list[float]
    labels: list[int]
    colour: np.ndarray  # summed RGB means weighted by pixels, and the pixel count
    hints: dict[str, str]  # why a video is no foreground, and the flags that would admit it
    check: Any  # hat.manifest's check of a rebuilt manifest, else None

    @property
    def ok(self) -> pd.DataFrame:
        return self.manifest[self.manifest["status"] == "ok"]


def finalize(ctx: BuildContext, recs: list[VideoRecord], summary: BuildSummary) -> None:
    """The aggregates, from the per-video artifacts: manifest, scene tables, pairs (and SCUBA), benchmark.yaml."""
    rederived = _rederived_notes(ctx)  # before anything of the previous aggregates is replaced
    table = video_table(ctx, recs)
    ok = table.ok
    scuba, scuba_notes = _scuba_table(ctx, ok, table.quality) if not ok.empty else (None, [])  # may refuse: before any write
    write_manifest(ctx, table)
    dist = write_scene_tables(ctx, table)
    notes = summary.notes
    notes[:0] = rederived
    pairs, report = write_pairs(ctx, table, dist, notes)
    write_scuba(ctx.out, scuba)
    notes += _aggregate_notes(ctx, table, report)
    residual_counts = _residual_notes(ok, ctx, notes)
    notes += scuba_notes
    summary.counts = _counts(table, pairs, report, scuba, residual_counts)
    write_benchmark_yaml(ctx, summary, table.colour)


def video_table(ctx: BuildContext, recs: list[VideoRecord]) -> VideoTable:
    """Every video's manifest row and what the aggregates need of it (a rebuilt manifest's exclusions applied)."""
    rows, descs, weights, labels, colour, quality, hints = [], [], [], [], np.zeros(4), [], {}
    check = check_build(ctx, recs) if ctx.manifest is not None else None
    excluded = check.excluded() if check is not None else {}
    for rec in recs:
        row, desc, col, q, hint = _video_row(ctx, rec)
        if rec.video_id in excluded and row["status"] == "ok":
            row, desc, col, q, hint = {**row, **excluded[rec.video_id]}, None, None, None, ""
        rows.append(row)
        if hint:
            hints[rec.video_id] = hint
        if q is not None:
            quality.append(q)
        if desc is not None:
            descs.append(desc[0])
            weights.append(desc[1])
            labels.append(rec.label)
            colour += col
    return VideoTable(pd.DataFrame(rows), quality, descs, weights, labels, colour, hints, check)


def write_manifest(ctx: BuildContext, table: VideoTable) -> None:
    """manifest.csv (also when every video failed: it holds each one's reason), mask_quality.csv, classes.txt."""
    out, manifest = ctx.out, table.manifest
    write_csv(out / MANIFEST_CSV, manifest)
    if table.ok.empty:
        reasons = Counter(manifest["reason"].astype(str))
        common = "; ".join(f"{k}x {r}" for r, k in reasons.most_common(2))
        raise HatError(f"no usable video: all {len(manifest)} failed ({common}); every reason is in {out / MANIFEST_CSV}")
    write_csv(out / MASK_QUALITY_CSV, pd.concat(table.quality, ignore_index=True))
    write_text(out / CLASSES_TXT, "".join(f"{c}\n" for c in ctx.source.classes))


def write_scene_tables(ctx: BuildContext, table: VideoTable) -> np.ndarray:
    """The class-by-class scene distances and the tables read from them; returns the distances."""
    out, classes = ctx.out, ctx.source.classes
    means = class_means(np.stack(table.descs), np.array(table.labels), len(classes), np.array(table.weights))
    dist = l1_distances(means)
    if ctx.scene.labels is not None:
        write_csv(out / SCENE_TOP_CSV, top_scenes(means, classes, ctx.scene.labels))
    dist_df = pd.DataFrame(dist, columns=classes)
    dist_df.insert(0, "class", classes)
    write_csv(out / SCENE_DISTANCE_CSV, dist_df)
    write_csv(out / SCENE_RANKING_CSV, ranking_table(dist, classes))
    write_csv(out / SCENE_EXTREMES_CSV, extremes_table(dist, classes, ctx.cfg.k_close))
    write_bytes(out / SCENE_HEATMAP_PNG, heatmap_png(dist, classes))
    return dist


def write_pairs(ctx: BuildContext, table: VideoTable, dist: np.ndarray, notes: list[str]) -> tuple[pd.DataFrame, PairReport]:
    """pairs.csv: a rebuilt manifest's pairs, a given pairs file's, or sampled ones; says how in ``notes``."""
    cfg, manifest, classes = ctx.cfg, table.manifest, ctx.source.classes
    if ctx.manifest is not None:
        pairs, report = rebuild_pairs(ctx, table.check, manifest, dist, notes)
    elif cfg.pairs_file:
        from .hatpairs import pairs_from_file

        pairs, dropped = pairs_from_file(cfg.pairs_file, manifest, classes, dist, ranks(dist), cfg.swap_types)
        report = PairReport()
        notes.append(f"pairs taken from {cfg.pairs_file} (sha256 {sha256_file(cfg.pairs_file)[:16]}), not sampled")
        for why, k in sorted(dropped.items()):
            notes.append(f"{k} given pairs dropped: {why}")
    else:
        videos = pd.DataFrame({
            "video_id": manifest["video_id"], "label": manifest["label"],
            "fg_ok": manifest["fg_ok"].astype(bool), "bg_ok": manifest["bg_ok"].astype(bool),
        })
        pairs, report = sample_pairs(
            videos, dist, classes, swap_types=cfg.swap_types, repeats=cfg.repeats,
            k_close=cfg.k_close, k_far=cfg.k_far, seed=cfg.seed,
        )
    write_csv(ctx.out / PAIRS_CSV, pairs)
    if ctx.manifest is not None:
        notes += ranking_notes(ctx.manifest, dist, classes)
    return pairs, report


def write_scuba(out: Path, scuba: pd.DataFrame | None) -> None:
    """scuba.csv, or none: re-derived without SCUBA sets, no stale table is left behind."""
    if scuba is not None:
        write_csv(out / SCUBA_CSV, scuba)
    elif (out / SCUBA_CSV).is_file():
        (out / SCUBA_CSV).unlink()


def _aggregate_notes(ctx: BuildContext, table: VideoTable, report: PairReport) -> list[str]:
    """What a reader of benchmark.yaml should know about the swaps, the foregrounds and the masks."""
    cfg, classes, manifest, ok = ctx.cfg, ctx.source.classes, table.manifest, table.ok
    notes = []
    n_others = len(classes) - 1
    if {"close", "far"} <= set(cfg.swap_types) and cfg.k_close + cfg.k_far > n_others:
        notes.append(f"k_close + k_far = {cfg.k_close + cfg.k_far} > {n_others} other classes: Close and Far overlap")
    present = sorted(set(manifest["label"].astype(int)))  # classes with videos in this build
    fg_per_class = ok[ok["fg_ok"].astype(bool)].groupby("label").size().reindex(present, fill_value=0)
    few = [f"{classes[c]} ({int(k)})" for c, k in fg_per_class.items() if k < cfg.min_videos_per_class]
    if few:
        notes.append(f"{len(few)} classes have fewer than {cfg.min_videos_per_class} usable foreground videos: {', '.join(few[:20])}")
    notes += _no_foreground_notes(manifest, table.hints, classes, cfg)
    notes += missing_pair_notes(report)
    flagged = ok["flags"].astype(str).str.contains("flicker")
    if flagged.any():
        notes.append(f"{int(flagged.sum())} videos have flickering masks (a frame unlike both neighbours; see {MASK_QUALITY_CSV}): "
                     f"{_few(list(ok.loc[flagged, 'video_id'].astype(str)))}")
    return notes


def _counts(table: VideoTable, pairs: pd.DataFrame, report: PairReport, scuba: pd.DataFrame | None,
            residual_counts: dict[str, int]) -> dict[str, Any]:
    """benchmark.yaml's ``counts`` (and what ``hat build`` prints)."""
    manifest, ok, check = table.manifest, table.ok, table.check
    counts: dict[str, Any] = {
        "videos": len(manifest), "ok": int(len(ok)), "failed": int((manifest["status"] != "ok").sum()),
        "foregrounds": int(ok["fg_ok"].astype(bool).sum()), "backgrounds": int(ok["bg_ok"].astype(bool).sum()),
        "objects": int((ok["objects"].astype(str) != "").sum()),
        "pairs": {k: int(v) for k, v in sorted(report.made.items())},
        **residual_counts,
    }
    if scuba is not None:
        counts["scuba"] = {k: int(v) for k, v in sorted(scuba["set"].value_counts().items())}
    if report.missing:  # why a set has fewer (or no) pairs; 'hat eval --sets' quotes it
        counts["pairs_missing"] = report.missing_by_set()
    if check is not None:
        counts["manifest"] = {**check.counts, "videos": len(check.table), "pairs_kept": len(pairs),
                              "pairs_expected": check.pairs_expected}
    return counts


def write_benchmark_yaml(ctx: BuildContext, summary: BuildSummary, colour: np.ndarray) -> None:
    """benchmark.yaml, last: the benchmark's identity, counts and notes, and the hash of every file above."""
    out = ctx.out
    bench = {
        "format": 1,
        "name": out.name,
        **({"manifest": ctx.manifest.ref()} if ctx.manifest is not None else {}),
        "hat_version": __version__,
        "classes": len(ctx.source.classes),
        **ctx.identity(),
        "counts": summary.counts,
        "dataset_mean_rgb": [round(float(x), 4) for x in colour[:3] / max(colour[3], 1)],
        "notes": list(summary.notes),
        "versions": _versions(),
        "hashes": {name: sha256_file(out / name) for name in HASHED_FILES if (out / name).is_file()}
        | {ARTIFACTS: sha256_tree(out / ARTIFACTS)},
    }
    write_text(out / BENCH_FILE, yaml.safe_dump(bench, sort_keys=False))


def _scuba_table(ctx: BuildContext, ok: pd.DataFrame, quality: list[pd.DataFrame]) -> tuple[pd.DataFrame | None, list[str]]:
    """The SCUBA/SCUFO backgrounds of every SCUBA foreground (None when no source is asked for), and notes.

    Foregrounds are the Action-Swap ones (our 5-50 % rule), or with ``scuba_filter`` SCUBA's own rule;
    still frames come from the usable backgrounds (same rule as the swaps' backgrounds).
    """
    cfg = ctx.cfg
    if not cfg.scuba:
        return None, []
    if cfg.scuba_filter:
        ev = pd.concat(quality, ignore_index=True) if quality else pd.DataFrame(columns=list(_QUALITY_COLUMNS))
        ev = ev[ev["eval"].astype(bool)]
        keep = {v for v, g in ev.groupby("video_id", sort=False) if passes_scuba_filter(g["coverage"].to_numpy())}
        fg = ok[ok["video_id"].isin(keep)]
    else:
        fg = ok[ok["fg_ok"].astype(bool)]
    scan = scan_images(cfg.scuba_images) if cfg.scuba_images else None
    table, report = sample_scuba(
        fg[["video_id", "label"]], ok[ok["bg_ok"].astype(bool)][["video_id", "label"]], ctx.source.classes,
        sources=list(cfg.scuba), repeats=cfg.repeats, num_frames=cfg.num_frames, seed=cfg.seed, images=scan,
    )
    rule = "SCUBA's (>= 90 % of frames >= 10 % person)" if cfg.scuba_filter else "the swaps' (cov_min-cov_max)"
    notes = [f"scuba foregrounds: {len(fg)} of {len(ok)} usable videos by {rule} rule"] if cfg.scuba_filter else []
    return table, notes + (scan.notes() if scan else []) + report.notes()


REDERIVED = "re-derived from aggregates"


def _rederived_notes(ctx: BuildContext) -> list[str]:
    """When the previous aggregates used other selection/aggregate settings: which, and their benchmark.yaml hash.

    A rerun with the same settings keeps the previous note, so it writes the same benchmark.yaml again.
    """
    path = ctx.out / BENCH_FILE
    if not path.is_file():
        return []
    old = yaml.safe_load(path.read_text()) or {}
    before, now = old.get("config") or {}, json.loads(json.dumps(ctx.cfg.to_dict()))
    changed = [f"{k} {_shown(before.get(k, '(unset)'))} -> {_shown(now.get(k, '(unset)'))}"
               for k in SELECTION_SETTINGS + AGGREGATE_SETTINGS if before.get(k, "(unset)") != now.get(k, "(unset)")]
    if not changed:
        return [n for n in old.get("notes") or [] if str(n).startswith(REDERIVED)]
    return [f"{REDERIVED} {sha256_file(path)[:16]} with {', '.join(changed)}"]


def _shown(v: Any) -> str:
    if isinstance(v, list):
        return ",".join(_shown(x) for x in v)
    return "none" if v is None else f"{v:g}" if isinstance(v, float) else str(v)


def _no_foreground_notes(manifest: pd.DataFrame, hints: dict[str, str], classes: list[str], cfg: BuildConfig, k: int = 5) -> list[str]:
    """Name the videos that kept a class (or the whole build) without foregrounds, and the flag that would admit them."""
    fg = manifest["fg_ok"].astype(bool)
    if not fg.any():
        named = [f"{v}: {h}" for v, h in hints.items()]
        failed = int((manifest["status"] != "ok").sum())
        out = [f"no foreground videos: {len(hints)} usable videos fail the coverage rule (cov_min {cfg.cov_min:g}, "
               f"cov_max {cfg.cov_max:g})" + (f", {failed} failed (see manifest.csv reason)" if failed else "")]
        out += named[:k]
        if len(named) > k:
            out.append(f"... and {len(named) - k} more (see manifest.csv notes)")
        return out
    out = []
    labels = manifest["label"].astype(int)
    empty = [c for c in sorted(set(labels)) if not fg[labels == c].any()]
    for c in empty[:k]:
        vids = manifest.loc[labels == c, "video_id"].astype(str)
        named = [f"{v}: {hints[v]}" for v in vids if v in hints]
        more = len(vids) - 1 if named else len(vids)
        first = named[0] if named else "its videos failed (see manifest.csv reason)"
        out.append(f"class '{classes[c]}' has no foreground: {first}" + (f" (+{more} more videos)" if named and more else ""))
    if len(empty) > k:
        out.append(f"{len(empty) - k} more classes have no foreground (see manifest.csv notes)")
    return out


def _residual_notes(ok: pd.DataFrame, ctx: BuildContext, notes: list[str]) -> dict[str, Any]:
    """The residual person coverage over the backgrounds (where the segmenter could measure it), in the notes."""
    res = pd.to_numeric(ok["residual_cov"], errors="coerce")
    measured = res.notna()
    if not measured.any():
        return {}
    cfg = ctx.cfg
    q = np.quantile(res[measured], [0, 0.5, 0.9, 1])
    over = ok.loc[res > cfg.max_residual]
    named = [f"{v} ({c:.3g})" for v, c in zip(over["video_id"].astype(str), res[res > cfg.max_residual])]
    notes.append(
        f"residual person coverage of Background-Only (most on any of the {cfg.num_frames} frames, {ctx.segmenter.name}) "
        f"over {int(measured.sum())} videos: min {q[0]:.3g}, median {q[1]:.3g}, 90% {q[2]:.3g}, max {q[3]:.3g}; "
        f"{len(over)} above max_residual {cfg.max_residual:g}, not used as backgrounds" + (f": {_few(named)}" if named else "")
    )
    return {"residual_measured": int(measured.sum()), "residual_rejected": len(over)}


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
