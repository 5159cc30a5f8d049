"""Any labelled video collection described by a CSV file: ``path,label`` (plus optional columns).

Optional columns: ``objects`` (names of the objects acted on, ``|``-separated, for segmenters that
mask objects), ``split`` (default: every row is in the split asked for) and ``video_id``
(default: the path without its extension). Labels are class names, or indices into ``classes``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import HatError
from . import SOURCES
from .base import VideoFileSource, VideoRecord


class CsvSource(VideoFileSource):
    name = "csv"

    def __init__(self, list: str = "", root: str = "", classes: str = ""):
        if not list:
            raise HatError("source csv needs a list file: --source-opt list=PATH.csv (columns: path,label[,split,video_id])")
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
            vid = getattr(row, "video_id", "") or str(Path(row.path).with_suffix(""))
            meta = {}
            if "objects" in df.columns:  # names of the objects acted on, "|"-separated: object prompts
                meta["objects"] = [o.strip() for o in str(getattr(row, "objects") or "").split("|") if o.strip()]
            out.append(VideoRecord(vid, self._label(row.label), split, str(path), meta))
        return out

    def options(self) -> dict[str, Any]:
        return {"list": str(self.list_path), "root": str(self.root), "classes": self._classes_file}


SOURCES.register("csv", help="a CSV of path,label[,split,video_id] rows, videos read with PyAV")(CsvSource)
