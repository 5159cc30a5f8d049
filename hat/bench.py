"""Reading a finished benchmark directory, and composing its counterfactual sets from stored parts.

Sets are composed on the fly from each video's frames, masks, boxes and Background-Only frames, so
the directory stays small; ``hat export`` and ``hat eval`` go through the same :func:`compose`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd
import yaml

from . import compose as C
from .errors import HatError
from .layout import (
    BENCH_FILE, CLASSES_TXT, MANIFEST_CSV, PAIRS_CSV, SCUBA_CSV, SEG_BOXES, SEG_OBJECTS, SEG_RLE, read_manifest, read_pairs,
    read_segment, stage_file,
)
from .masks import decode_rle
from .pairs import SWAP_TYPES, why_no_pairs
from .scuba import SCUBA_COLUMNS, SCUBA_SETS, image_hash, read_image, scuba_set, set_source
from .sets import ALL_SETS, BASE_SETS, CLIP_SETS, OBJECT_SETS, REPEATED_SETS, SWAP_SETS  # noqa: F401  (re-exported)
from .store import ArtifactStore, read_npz, sha256_file, stable_seed

#: where ``hat build`` puts benchmarks by default (``benchmarks/<source>``) and ``hat eval`` looks for one
BENCH_DIR = Path("benchmarks")


def default_bench(folder: str | Path = BENCH_DIR) -> Path:
    """The only finished benchmark (a folder with benchmark.yaml) directly under ``folder``; else say what to do."""
    folder = Path(folder)
    found = sorted(p for p in folder.glob(f"*/{BENCH_FILE}")) if folder.is_dir() else []
    if len(found) == 1:
        return found[0].parent
    if found:
        names = ", ".join(str(p.parent) for p in found)
        raise HatError(f"{len(found)} benchmarks under {folder}/: {names}; choose one with --bench")
    raise HatError(f"no --bench given and no finished benchmark under {folder}/; "
                   f"build one first: hat build --source synthetic (writes {folder}/synthetic)")


@dataclass
class VideoParts:
    """What eval needs of one video: its T evaluation frames and their masks, boxes and background."""

    video_id: str
    frames: np.ndarray  # [T,H,W,3] uint8
    masks: np.ndarray  # [T,H,W] bool
    boxes: list[np.ndarray]  # per frame [K,5]
    background: np.ndarray  # [T,H,W,3] uint8, person inpainted
    src_index: np.ndarray  # [T] index of each frame in the source video
    n_frames: int  # frames in the source video
    fps: float  # its frame rate (0 when unknown)
    object_masks: np.ndarray | None = None  # [T,H,W] bool, named objects (SSv2), kept apart from the person
    object_boxes: list[np.ndarray] | None = None  # per frame [K,6]: box, score, object index


@dataclass(frozen=True)
class Item:
    """One clip to classify: a set, a repeat (swaps), the video and, for swaps, the background video."""

    set: str
    repeat: int
    video_id: str
    label: int
    bg_video: str = ""
    bg_label: int = -1


def _mask_background_and_objects(b: "Benchmark", a: VideoParts) -> np.ndarray:
    s = "masked_background_objects"
    bg_c, obj_c = b.mask_color(s, a.video_id), b.mask_color(s + "/objects", a.video_id)
    if (bg_c == obj_c).all():  # two colours, even in the 1-in-16M case
        obj_c = 255 - bg_c
    return C.mask_background_and_objects(a.frames, a.masks, a.object_masks, bg_c, obj_c)


#: how each single-clip set (hat.sets.CLIP_SETS) is made from a video's parts; each masking colour is
#: drawn per (set, video), so the set's name is part of the recipe
_CLIP_COMPOSERS = {
    "original": lambda b, a: a.frames,
    "human_only": lambda b, a: C.human_only(a.frames, a.masks, b.mean_rgb),
    "background_only": lambda b, a: a.background,
    "masked_background": lambda b, a: C.mask_background(a.frames, a.masks, b.mask_color("masked_background", a.video_id)),
    "masked_person": lambda b, a: C.mask_boxes(a.frames, a.boxes, b.mask_color("masked_person", a.video_id),
                                               keep=a.object_masks),
    "masked_object_box": lambda b, a: C.mask_boxes(a.frames, a.object_boxes, b.mask_color("masked_object_box", a.video_id),
                                                   keep=a.masks),
    "masked_object_shape": lambda b, a: C.mask_objects(a.frames, a.object_masks,
                                                       b.mask_color("masked_object_shape", a.video_id)),
    "masked_background_objects": _mask_background_and_objects,
}
assert set(_CLIP_COMPOSERS) == {cs.name for cs in CLIP_SETS}


class Benchmark:
    def __init__(self, root: str | Path):
        self.root = Path(root)
        meta_path = self.root / BENCH_FILE
        if not meta_path.is_file():
            raise HatError(f"{self.root} is not a finished benchmark (no {BENCH_FILE}); build it with 'hat build --out {self.root}'")
        for name in (CLASSES_TXT, MANIFEST_CSV, PAIRS_CSV):
            if not (self.root / name).is_file():
                raise HatError(f"{self.root} lacks {name}: an incomplete benchmark; rerun 'hat build' on it")
        self.meta = yaml.safe_load(meta_path.read_text())
        self.classes = [c for c in (self.root / CLASSES_TXT).read_text().split("\n") if c]
        self.manifest = read_manifest(self.root)
        self.pairs = read_pairs(self.root)
        scuba_path = self.root / SCUBA_CSV  # absent in benchmarks built before SCUBA
        self.scuba = (pd.read_csv(scuba_path, keep_default_na=False, dtype={"fg_video": str, "background": str, "image_sha256": str})
                      if scuba_path.is_file() else pd.DataFrame(columns=SCUBA_COLUMNS))
        self._scuba_rows = {(r.source, int(r.repeat), r.fg_video): r for r in self.scuba.itertuples(index=False)}
        self.config = self.meta["config"]
        self.name = self.meta.get("name", self.root.name)
        self.hash = sha256_file(meta_path)[:16]
        self.mean_rgb = np.rint(np.asarray(self.meta["dataset_mean_rgb"])).astype(np.uint8)
        self._store = ArtifactStore(self.root)
        self._parts = functools.lru_cache(maxsize=64)(self._load_parts)
        self._background = functools.lru_cache(maxsize=128)(self._load_background)
        self._image = functools.lru_cache(maxsize=256)(self._load_image)

    @property
    def videos(self) -> pd.DataFrame:
        return self.manifest[self.manifest["status"] == "ok"]

    def _has_objects(self) -> pd.Series:
        if "objects" not in self.manifest.columns:
            return pd.Series(False, index=self.manifest.index)
        return self.manifest["objects"].astype(str) != ""

    def available_sets(self) -> list[str]:
        swaps = set(self.pairs["set"].unique())
        objects = bool(self._has_objects()[self.manifest["status"] == "ok"].any())
        swaps |= {f"{fam}_{src}" for src in set(self.scuba["source"]) for fam in ("scuba", "scufo")}
        return [s for s in ALL_SETS if s in BASE_SETS or s in swaps or (objects and s in OBJECT_SETS)]

    def repeats_of(self, set_name: str) -> list[int]:
        """The repeats a set has (swap and SCUBA sets; none for the others)."""
        if set_name in SCUBA_SETS:
            return sorted(set(self.scuba.loc[self.scuba["source"] == set_source(set_name), "repeat"].astype(int)))
        return sorted(set(self.pairs.loc[self.pairs["set"] == set_name, "repeat"].astype(int)))

    def check_sets(self, sets: list[str] | None) -> list[str]:
        avail = self.available_sets()
        if not sets:
            return avail
        for s in sets:
            if s in SWAP_SETS and s not in avail:
                counts = self.meta.get("counts") or {}
                why = why_no_pairs(s, list(self.config.get("swap_types", SWAP_TYPES)), int(counts.get("foregrounds", 1)),
                                   (counts.get("pairs_missing") or {}).get(s))
                raise HatError(f"{s} has no pairs in benchmark {self.name}: {why} (sets here: {', '.join(avail)})")
            if s in SCUBA_SETS and s not in avail:
                built = list(self.config.get("scuba") or [])
                why = (f"it was not built (scuba: {', '.join(built) or 'none'}; 'places' needs --scuba-images DIR)"
                       if set_source(s) not in built else "no video is a SCUBA foreground (see benchmark.yaml notes)")
                raise HatError(f"{s} has no clips in benchmark {self.name}: {why} (sets here: {', '.join(avail)})")
            if s in OBJECT_SETS and s not in avail:
                raise HatError(f"{s} needs videos with named objects and benchmark {self.name} has none (sets here: {', '.join(avail)})")
            if s not in avail:
                raise HatError(f"unknown set '{s}' for benchmark {self.name} (valid: {', '.join(avail)})")
        return list(sets)

    def _load_parts(self, video_id: str) -> VideoParts:
        st = self._store
        fr = read_npz(st.path("frames", video_id, "npz"), ("frames", "eval_pos", "src_index", "info"))
        seg = read_segment(stage_file(st, "segment", video_id))
        pos = fr["eval_pos"]
        masks = decode_rle([seg[SEG_RLE][i] for i in pos])
        boxes = [np.asarray(seg[SEG_BOXES][i], dtype=np.float32).reshape(-1, 5) for i in pos]
        bg = read_npz(st.path("inpaint", video_id, "npz"))["bg"]
        obj = seg.get(SEG_OBJECTS)
        obj_masks = decode_rle([obj[SEG_RLE][i] for i in pos]) if obj else None
        obj_boxes = [np.asarray(obj[SEG_BOXES][i], dtype=np.float32).reshape(-1, 6) for i in pos] if obj else None
        return VideoParts(video_id, fr["frames"][pos], masks, boxes, bg, fr["src_index"][pos], int(fr["info"][0]),
                          float(fr["info"][3]), obj_masks, obj_boxes)

    def _load_background(self, video_id: str) -> tuple[np.ndarray, np.ndarray]:
        """Only what a swap needs of its background video: no frames decompressed."""
        st = self._store
        with np.load(st.path("frames", video_id, "npz"), allow_pickle=False) as z:
            pos = z["eval_pos"]
        seg = read_segment(stage_file(st, "segment", video_id))
        masks = decode_rle([seg[SEG_RLE][i] for i in pos])
        return read_npz(st.path("inpaint", video_id, "npz"))["bg"], masks

    def parts(self, video_id: str) -> VideoParts:
        try:
            return self._parts(video_id)
        except FileNotFoundError as e:
            raise HatError(f"artifact missing for video '{video_id}' ({Path(e.filename).name}); rerun 'hat build' on {self.root}") from None

    def background(self, video_id: str) -> tuple[np.ndarray, np.ndarray]:
        """(Background-Only frames, removed person's masks) of a video."""
        try:
            return self._background(video_id)
        except FileNotFoundError as e:
            raise HatError(f"artifact missing for video '{video_id}' ({Path(e.filename).name}); rerun 'hat build' on {self.root}") from None

    def mask_color(self, set_name: str, video_id: str) -> np.ndarray:
        """One colour per (set, video), c ~ N(0, I) in the configured normalised pixel space."""
        rng = np.random.default_rng(stable_seed("mask-colour", self.config["seed"], set_name, video_id))
        return C.normal_color(rng, self.config["mask_mean"], self.config["mask_std"])

    def compose(self, item: Item) -> np.ndarray:
        """The clip of ``item`` exactly as eval and export see it: [T,H,W,3] uint8."""
        a = self.parts(item.video_id)
        s = item.set
        if s in _CLIP_COMPOSERS:
            if s in OBJECT_SETS and a.object_masks is None:
                raise HatError(f"video '{a.video_id}' has no object masks; set '{s}' needs a segmenter that masks named objects")
            return _CLIP_COMPOSERS[s](self, a)
        if s in SWAP_SETS:
            bg, bg_masks = self.background(item.bg_video)
            return C.action_swap(a.frames, a.masks, bg, bg_masks, self.config["placement"])
        if s in SCUBA_SETS:
            image, image_mask = self.scuba_background(set_source(s), item.repeat, a)
            clip = C.scuba(a.frames, a.masks, image, image_mask, self.config["placement"])
            return C.scufo(clip) if s.startswith("scufo_") else clip
        raise HatError(f"unknown set '{s}' (valid: {', '.join(ALL_SETS)})")

    def scuba_background(self, src: str, repeat: int, a: VideoParts) -> tuple[np.ndarray, np.ndarray | None]:
        """The still image behind a SCUBA clip at the video's frame size, and the removed person's mask (still)."""
        row = self._scuba_rows.get((src, int(repeat), a.video_id))
        if row is None:
            raise HatError(f"video '{a.video_id}' has no {scuba_set(src)} background for repeat {repeat} in benchmark {self.name}")
        h, w = a.frames.shape[1:3]
        if src == "stripes":
            return C.stripes(np.random.default_rng(int(row.seed)), h, w), None
        if src == "still":
            bg, bg_masks = self.background(row.background)
            return bg[int(row.bg_frame)], bg_masks[int(row.bg_frame)]
        return C.fit_image(self._image(row.background, row.image_sha256), h, w), None

    def _load_image(self, name: str, sha: str) -> np.ndarray:
        folder = Path(str(self.config.get("scuba_images") or ""))
        path = folder / name
        if not path.is_file():
            raise HatError(f"scuba image {name} not found in {folder} (the --scuba-images folder this benchmark was built with)")
        if sha and image_hash(path) != sha:
            raise HatError(f"scuba image {path} changed since the benchmark was built (sha256 {sha}...); rebuild or restore it")
        return read_image(path)

    def items(self, sets: list[str], repeats: list[int] | None = None) -> Iterator[Item]:
        """Items grouped by foreground video, so each video's parts are loaded once for all its sets."""
        sets = self.check_sets(sets)
        swaps = self.pairs[self.pairs["set"].isin(sets)]
        if repeats is not None:
            swaps = swaps[swaps["repeat"].isin(repeats)]
        by_fg = {vid: g for vid, g in swaps.groupby("fg_video", sort=False)}
        scuba_sets = [s for s in sets if s in SCUBA_SETS]
        sc = self.scuba[self.scuba["source"].isin({set_source(s) for s in scuba_sets})]
        if repeats is not None:
            sc = sc[sc["repeat"].isin(repeats)]
        scuba_by_fg = {vid: g for vid, g in sc.groupby("fg_video", sort=False)}
        has_obj = dict(zip(self.manifest["video_id"], self._has_objects()))
        for row in self.videos.itertuples(index=False):
            vid, label = row.video_id, int(row.label)
            for s in sets:
                if s in BASE_SETS or (s in OBJECT_SETS and has_obj[vid]):
                    yield Item(s, 0, vid, label)
            if vid in by_fg:
                for p in by_fg[vid].itertuples(index=False):
                    yield Item(p.set, int(p.repeat), vid, label, p.bg_video, int(p.bg_label))
            if vid in scuba_by_fg:
                for p in scuba_by_fg[vid].itertuples(index=False):
                    for s in scuba_sets:
                        if set_source(s) == p.source:
                            yield Item(s, int(p.repeat), vid, label, str(p.background), int(p.bg_label))
