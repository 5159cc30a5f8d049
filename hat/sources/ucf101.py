"""UCF101 with its official splits: ``classInd.txt`` and ``testlist0N.txt`` / ``trainlist0N.txt``.

Videos ``root/<Class>/v_<Class>_gXX_cYY.avi``. Close/Far follow the UCF-HAT convention (5 / 30).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import HatError
from . import SOURCES
from .base import VideoFileSource, VideoRecord, require_file


class UCF101(VideoFileSource):
    name = "ucf101"
    build_defaults = {"k_close": 5, "k_far": 30}
    usage = ("-S root=UCF-101/ (videos <Class>/v_<Class>_gXX_cYY.avi) [-S splits=ucfTrainTestlist/ (classInd.txt, "
             "testlist0N.txt, trainlist0N.txt; default <root>/ucfTrainTestlist)] [-S split_id=1|2|3]")

    def __init__(self, root: str = "", splits: str = "", split_id: int = 1):
        if not root:
            raise self.needs_data()
        self.root = require_file(root, "ucf101 root", "-S root=UCF-101/ (one folder per class)")
        self.splits = Path(splits) if splits else self.root / "ucfTrainTestlist"
        if int(split_id) not in (1, 2, 3):
            raise HatError(f"ucf101 split_id must be 1, 2 or 3 (got {split_id})")
        self.split_id = int(split_id)
        ind = require_file(str(self.splits / "classInd.txt"), "ucf101 classInd.txt", "-S splits=ucfTrainTestlist/")
        pairs = [line.split() for line in ind.read_text().splitlines() if line.strip()]
        try:
            by_index = {int(i): name for i, name in pairs}
        except ValueError:
            raise HatError(f"{ind}: expected '<index> <ClassName>' lines") from None
        self._classes = [by_index[i] for i in sorted(by_index)]

    @property
    def classes(self) -> list[str]:
        return list(self._classes)

    def records(self, split: str) -> list[VideoRecord]:
        kind = {"val": "test", "test": "test", "train": "train"}.get(split)
        if kind is None:
            raise HatError(f"unknown ucf101 split '{split}' (valid: val, test, train)")
        lst = self.splits / f"{kind}list0{self.split_id}.txt"
        if not lst.is_file():
            raise HatError(f"ucf101 split file not found: {lst}")
        index = {c: i for i, c in enumerate(self._classes)}
        out = []
        for line in lst.read_text().splitlines():
            if not line.strip():
                continue
            rel = line.split()[0]
            cls = rel.split("/")[0]
            if cls not in index:
                raise HatError(f"{lst}: class '{cls}' is not in classInd.txt")
            out.append(VideoRecord(Path(rel).stem, index[cls], split, str(self.root / rel)))
        return out

    def options(self) -> dict[str, Any]:
        return {"root": str(self.root), "splits": str(self.splits), "split_id": self.split_id}


SOURCES.register("ucf101", help="UCF101 with classInd.txt and testlist0N/trainlist0N (split_id=1..3)")(UCF101)
