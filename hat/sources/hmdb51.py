"""HMDB51 with its official split files ``<class>_test_split<N>.txt`` (``<video>.avi <0|1|2>``: 1 train, 2 test).

Videos ``root/<class>/<video>.avi``; classes are the split files' names, sorted.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ..errors import HatError
from . import SOURCES
from .base import VideoFileSource, VideoRecord, require_file


class HMDB51(VideoFileSource):
    name = "hmdb51"
    usage = ("-S root=hmdb51/ (videos <class>/<video>.avi) [-S splits=testTrainMulti_7030_splits/ "
             "(<class>_test_split<N>.txt; default <root>/testTrainMulti_7030_splits)] [-S split_id=1|2|3]")

    def __init__(self, root: str = "", splits: str = "", split_id: int = 1):
        if not root:
            raise self.needs_data()
        self.root = require_file(root, "hmdb51 root", "-S root=hmdb51/ (one folder per class)")
        self.splits = require_file(splits or str(self.root / "testTrainMulti_7030_splits"), "hmdb51 split folder",
                                   "-S splits=testTrainMulti_7030_splits/")
        if int(split_id) not in (1, 2, 3):
            raise HatError(f"hmdb51 split_id must be 1, 2 or 3 (got {split_id})")
        self.split_id = int(split_id)
        pat = re.compile(rf"(.+)_test_split{self.split_id}\.txt$")
        self._files = {m.group(1): p for p in sorted(self.splits.iterdir()) if (m := pat.match(p.name))}
        if not self._files:
            raise HatError(f"{self.splits}: no <class>_test_split{self.split_id}.txt files")
        self._classes = sorted(self._files)

    @property
    def classes(self) -> list[str]:
        return list(self._classes)

    def records(self, split: str) -> list[VideoRecord]:
        code = {"val": "2", "test": "2", "train": "1"}.get(split)
        if code is None:
            raise HatError(f"unknown hmdb51 split '{split}' (valid: val, test, train)")
        out = []
        for label, cls in enumerate(self._classes):
            for line in self._files[cls].read_text().splitlines():
                parts = line.split()
                if len(parts) == 2 and parts[1] == code:
                    out.append(VideoRecord(Path(parts[0]).stem, label, split, str(self.root / cls / parts[0])))
        return out

    def options(self) -> dict[str, Any]:
        return {"root": str(self.root), "splits": str(self.splits), "split_id": self.split_id}


SOURCES.register("hmdb51", help="HMDB51 with its <class>_test_splitN.txt files (split_id=1..3)")(HMDB51)
