"""Any labelled video collection described by a CSV file: ``path,label`` (plus optional columns).

``path`` is a video file or a folder of frames (``000001.jpg``/``img_00001.jpg``, or the same names
as ``.png``, numbered from 1), relative to the list's folder or ``root``. Optional columns:
``objects`` (names of the objects acted on, ``|``-separated, for segmenters that mask objects),
``split`` (default: every row is in the split asked for) and ``video_id``. Without ``video_id`` a
video is named after its path without extension: as written for relative paths, relative to
``root`` for absolute paths inside it, and for absolute paths elsewhere the shortest tail of the
path (``clip``, else ``folder/clip``, ...) that no other such row shares. Labels are class names,
or indices into ``classes``.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePath
from typing import Any

import pandas as pd

from ..errors import HatError
from . import SOURCES
from .base import JPEG_FRAMES, PNG_FRAMES, VideoFileSource, VideoRecord


def _inside(path: Path, root: Path) -> PurePath | None:
    """``path`` relative to ``root`` when it lies inside (compared as written, then with links resolved)."""
    for p, r in ((Path(os.path.abspath(path)), Path(os.path.abspath(root))), (path.resolve(), root.resolve())):
        try:
            return p.relative_to(r)
        except ValueError:
            continue
    return None


def short_ids(paths: list[str]) -> dict[str, str]:
    """Each path's shortest tail of components (extension dropped) that no other path's tail equals."""
    parts = {p: PurePath(p).with_suffix("").parts for p in dict.fromkeys(paths)}
    out: dict[str, str] = {}
    for p, own in parts.items():
        for k in range(1, len(own) + 1):
            tail = own[-k:]
            if k == len(own) or not any(q != p and other[-k:] == tail for q, other in parts.items()):
                out[p] = "/".join(t for t in tail if t != "/") or p
                break
    return out


class CsvSource(VideoFileSource):
    name = "csv"
    usage = ("-S list=videos.csv (columns path,label[,split,video_id,objects]; path: a video file or a folder of "
             "frames 000001.jpg/.png, relative to the list's folder or -S root=DIR; labels: class names, or indices "
             "with -S classes=names.txt)")
    frame_folders = JPEG_FRAMES + PNG_FRAMES

    def __init__(self, list: str = "", root: str = "", classes: str = ""):
        if not list:
            raise self.needs_data()
        self.list_path = Path(list)
        if not self.list_path.is_file():
            raise HatError(f"csv list file not found: {list}")
        self.root = Path(root) if root else self.list_path.parent
        df = pd.read_csv(self.list_path, dtype=str, keep_default_na=False)
        missing = {"path", "label"} - set(df.columns)
        if missing:
            raise HatError(f"csv list {list} lacks column(s) {', '.join(sorted(missing))} (needs: path,label[,split,video_id])")
        if df.empty:
            raise HatError(f"csv list {list} has no rows")
        if classes and not Path(classes).is_file():
            raise HatError(f"class list file not found: {classes}")
        if classes:
            names = [ln.strip() for ln in Path(classes).read_text().splitlines() if ln.strip()]
        elif df["label"].str.fullmatch(r"\d+").all():
            raise HatError("csv labels are indices: give the class names with --source-opt classes=FILE (one per line)")
        else:
            names = sorted(df["label"].unique())
        self._classes = names
        self._df = df
        self._classes_file = classes
        self._ids = self._default_ids(df["path"].tolist())

    def _default_ids(self, paths: list[str]) -> dict[str, str]:
        """Path as written -> video id, for rows without a ``video_id`` (see the module docstring)."""
        ids, outside = {}, []
        for raw in dict.fromkeys(paths):
            path = Path(raw)
            if not path.is_absolute():
                ids[raw] = str(path.with_suffix(""))  # as before: ids of relative paths never change
            elif (rel := _inside(path, self.root)) is not None and rel.parts:
                ids[raw] = str(rel.with_suffix(""))
            else:
                outside.append(raw)
        return ids | short_ids(outside)

    @property
    def classes(self) -> list[str]:
        return list(self._classes)

    def _label(self, raw: str) -> int:
        if raw.isdigit() and self._classes_file:
            i = int(raw)
            if i < len(self._classes):
                return i
        if raw in self._classes:
            return self._classes.index(raw)
        raise HatError(f"label '{raw}' in {self.list_path} is not a known class")

    def records(self, split: str) -> list[VideoRecord]:
        df = self._df
        if "split" in df.columns:
            df = df[df["split"] == split]
        out = []
        for row in df.itertuples(index=False):
            path = Path(row.path)
            path = path if path.is_absolute() else self.root / path
            vid = getattr(row, "video_id", "") or self._ids[row.path]
            meta = {}
            if "objects" in df.columns:  # names of the objects acted on, "|"-separated: object prompts
                meta["objects"] = [o.strip() for o in str(getattr(row, "objects") or "").split("|") if o.strip()]
            out.append(VideoRecord(vid, self._label(row.label), split, str(path), meta))
        return out

    def options(self) -> dict[str, Any]:
        return {"list": str(self.list_path), "root": str(self.root), "classes": self._classes_file}


SOURCES.register("csv", help="a CSV of path,label[,split,video_id] rows: video files or frame folders")(CsvSource)
