"""Kinetics-400 as researchers hold it: the official annotation CSV with trimmed videos, or rawframes.

- ``annotations=val.csv``: the official ``label,youtube_id,time_start,time_end,split`` rows; videos
  are ``<youtube_id>_<start:06d>_<end:06d>.mp4`` (or another extension) directly under ``root`` or
  in per-class folders (class names with spaces or underscores). Class indices follow the sorted
  class names, as in the official label maps.
- ``list=list_rawframes.txt``: MMAction-style rawframes, ``<class>/<video_id> <n_frames> <label>``
  per line (class names contain spaces: parsed from the right), JPEG frames under
  ``root/<class>/<video_id>/`` numbered from 1 (``000001.jpg`` or ``img_00001.jpg``).
Missing or unreadable videos (Kinetics always has some) raise ``VideoError`` with the reason; the
pipeline records them in the manifest and goes on.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import HatError
from ..video import VideoInfo
from . import SOURCES
from .base import JPEG_FRAMES, FrameFolder, VideoFileSource, VideoRecord

VIDEO_EXTS = (".mp4", ".mkv", ".webm", ".avi", ".mov")
FRAME_PATTERNS = JPEG_FRAMES
SPLIT_ALIASES = {"val": ("val", "validate", "validation"), "train": ("train",), "test": ("test",)}


def clip_id(youtube_id: str, start: float, end: float) -> str:
    return f"{youtube_id}_{int(start):06d}_{int(end):06d}"


def parse_rawframes_list(path: Path) -> list[tuple[str, str, int, int]]:
    """(class, video_id, n_frames, label) per line; the relative path may contain spaces."""
    rows = []
    for i, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        m = re.fullmatch(r"\s*(.+?)\s+(\d+)\s+(\d+)\s*", line)
        if not m:
            raise HatError(f"{path}:{i}: expected '<class>/<video_id> <n_frames> <label>', got '{line.strip()}'")
        rel, n, label = m.group(1), int(m.group(2)), int(m.group(3))
        cls, _, vid = rel.rpartition("/")
        rows.append((cls, vid or rel, n, label))
    if not rows:
        raise HatError(f"{path}: empty rawframes list")
    return rows


class KineticsSource(VideoFileSource):
    name = "k400"
    build_defaults = {"k_close": 5, "k_far": 200}
    usage = ("-S annotations=validate.csv -S root=videos/ (official CSV label,youtube_id,time_start,time_end[,split]; "
             "videos <youtube_id>_<start:06d>_<end:06d>.mp4 flat or in class folders), or -S list=list_rawframes.txt "
             "-S root=rawframes/ (lines '<class>/<video_id> <n_frames> <label>'; frames <class>/<video_id>/000001.jpg); "
             "optional -S classes=k400.txt (names in label order)")

    def __init__(self, root: str = "", annotations: str = "", list: str = "", classes: str = ""):
        if bool(annotations) == bool(list):
            raise self.needs_data()
        self.root = Path(root) if root else Path(annotations or list).parent
        if not self.root.is_dir():
            raise HatError(f"k400 root is not a directory: {self.root}")
        self._opts = {"root": str(self.root), "annotations": annotations, "list": list, "classes": classes}
        names = self._read_classes(classes) if classes else None
        if annotations:
            self.mode = "videos"
            self._records = self._from_annotations(Path(annotations), names)
        else:
            self.mode = "rawframes"
            self._records = self._from_rawframes(Path(list), names)

    # ------------------------------------------------------------------ listing
    @staticmethod
    def _read_classes(path: str) -> list[str]:
        p = Path(path)
        if not p.is_file():
            raise HatError(f"class list file not found: {path}")
        return [ln.strip() for ln in p.read_text().splitlines() if ln.strip()]

    def _from_annotations(self, path: Path, names: list[str] | None) -> dict[str, list[VideoRecord]]:
        if not path.is_file():
            raise HatError(f"k400 annotation file not found: {path}")
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
        need = {"label", "youtube_id", "time_start", "time_end"}
        if need - set(df.columns):
            raise HatError(f"{path}: not a Kinetics annotation CSV (needs columns label,youtube_id,time_start,time_end[,split])")
        self._classes = names or sorted(df["label"].unique())
        index = {c: i for i, c in enumerate(self._classes)}
        unknown = sorted(set(df["label"]) - set(index))
        if unknown:
            raise HatError(f"{path}: labels not in the class list (e.g. '{unknown[0]}')")
        files = self._index_videos()
        out: dict[str, list[VideoRecord]] = {}
        for row in df.itertuples(index=False):
            vid = clip_id(row.youtube_id, float(row.time_start), float(row.time_end))
            split = self._canonical_split(getattr(row, "split", "") or "val")
            found = files.get(vid)
            out.setdefault(split, []).append(
                VideoRecord(vid, index[row.label], split, str(found) if found else "", {"youtube_id": row.youtube_id}))
        return out

    def _index_videos(self) -> dict[str, Path]:
        """Clip id -> file, flat or one folder per class; one directory walk, not a stat per row."""
        files: dict[str, Path] = {}
        for p in sorted(self.root.rglob("*")):
            if p.suffix.lower() in VIDEO_EXTS and len(p.relative_to(self.root).parts) <= 2:
                files.setdefault(p.stem, p)
        return files

    def _from_rawframes(self, path: Path, names: list[str] | None) -> dict[str, list[VideoRecord]]:
        if not path.is_file():
            raise HatError(f"rawframes list not found: {path}")
        rows = parse_rawframes_list(path)
        if names is None:
            by_label = {}
            for cls, _, _, label in rows:
                if by_label.setdefault(label, cls) != cls:
                    raise HatError(f"{path}: label {label} is used for both '{by_label[label]}' and '{cls}'")
            if sorted(by_label) != list(range(len(by_label))):
                raise HatError(f"{path}: labels are not 0..{len(by_label) - 1} for the classes listed; "
                               "give the full class list with -S classes=k400.txt")
            names = [by_label[i] for i in range(len(by_label))]
        self._classes = names
        recs = []
        for cls, vid, n, label in rows:
            if label >= len(names):
                raise HatError(f"{path}: label {label} of {cls}/{vid} is beyond the {len(names)} classes")
            recs.append(VideoRecord(vid, label, "val", str(self.root / cls / vid), {"n_frames": n, "class_dir": cls}))
        return {"val": recs}

    @staticmethod
    def _canonical_split(s: str) -> str:
        for name, aliases in SPLIT_ALIASES.items():
            if s in aliases:
                return name
        return s

    # ------------------------------------------------------------------ Source API
    @property
    def classes(self) -> list[str]:
        return list(self._classes)

    def records(self, split: str) -> list[VideoRecord]:
        split = self._canonical_split(split)
        if split not in self._records:
            raise HatError(f"split '{split}' not in this Kinetics list (valid: {', '.join(sorted(self._records))})")
        return list(self._records[split])

    def probe(self, record: VideoRecord) -> VideoInfo:
        if self.mode == "videos":
            return super().probe(record)
        return FrameFolder.find(record.path, FRAME_PATTERNS).probe(int(record.meta.get("n_frames") or 0))

    def read(self, record: VideoRecord, indices: np.ndarray) -> np.ndarray:
        if self.mode == "videos":
            return super().read(record, indices)
        return FrameFolder.find(record.path, FRAME_PATTERNS).read(indices)

    def options(self) -> dict[str, Any]:
        return dict(self._opts)


SOURCES.register("k400", aliases=("kinetics400",),
                 help="Kinetics-400: official annotation CSV + videos (flat or per class), or rawframes + list file")(KineticsSource)


class MimeticsSource(KineticsSource):
    """Mimetics: mimed actions of 50 Kinetics-400 classes, for evaluation only. Labels index the full
    Kinetics class list, so Kinetics-trained models score it directly."""

    name = "mimetics"
    build_defaults: dict[str, Any] = {}
    usage = ("-S annotations=mimetics_v1.0.csv -S root=videos/ -S classes=k400.txt (Kinetics-style CSV "
             "label,youtube_id,time_start,time_end; videos <youtube_id>_<start:06d>_<end:06d>.mp4 flat or in class "
             "folders; classes: the 400 Kinetics names in label order, which the labels index)")

    def __init__(self, root: str = "", annotations: str = "", classes: str = ""):
        if not classes or not annotations:
            raise self.needs_data()
        super().__init__(root=root, annotations=annotations, classes=classes)
        self._records = {"val": [r for recs in self._records.values() for r in recs]}

    def records(self, split: str) -> list[VideoRecord]:
        if split not in ("val", "test"):
            raise HatError(f"mimetics is evaluation only (valid split: val), got '{split}'")
        return list(self._records["val"])


SOURCES.register("mimetics", help="Mimetics (50 Kinetics-400 classes, evaluation only; labels index the 400 classes)")(MimeticsSource)
