"""UCF101 with its official splits: ``classInd.txt`` and ``testlist0N.txt`` / ``trainlist0N.txt``.

Videos ``root/<Class>/v_<Class>_gXX_cYY.avi``. Close/Far follow the UCF-HAT convention (5 / 30).
Labels are the indices written in ``classInd.txt`` (minus one), never line positions: a list with a line
missing would shift every later class, so it is refused, as is one without all 101 classes (unless
``-S subset=true``: a list cut down on purpose, still numbered 1..N without gaps).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import HatError
from . import SOURCES
from .base import VideoFileSource, VideoRecord, bool_option, require_file


class UCF101(VideoFileSource):
    name = "ucf101"
    build_defaults = {"k_close": 5, "k_far": 30}
    usage = ("-S root=UCF-101/ (videos <Class>/v_<Class>_gXX_cYY.avi) [-S splits=ucfTrainTestlist/ (classInd.txt, "
             "testlist0N.txt, trainlist0N.txt; default <root>/ucfTrainTestlist)] [-S split_id=1|2|3] [-S subset=true (a class list cut down on purpose)]")

    def __init__(self, root: str = "", splits: str = "", split_id: int = 1, subset: bool = False):
        if not root:
            raise self.needs_data()
        self.root = require_file(root, "ucf101 root", "-S root=UCF-101/ (one folder per class)")
        self.splits = Path(splits) if splits else self.root / "ucfTrainTestlist"
        if int(split_id) not in (1, 2, 3):
            raise HatError(f"ucf101 split_id must be 1, 2 or 3 (got {split_id})")
        self.split_id = int(split_id)
        ind = require_file(str(self.splits / "classInd.txt"), "ucf101 classInd.txt", "-S splits=ucfTrainTestlist/")
        self.subset = bool_option(subset, "ucf101 subset")
        self._classes = read_class_index(ind, NUM_CLASSES, "UCF101", self.subset)

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
            rel, *written = line.split()
            cls = rel.split("/")[0]
            if cls not in index:
                raise HatError(f"{lst}: class '{cls}' is not in classInd.txt")
            if written and written[0] != str(index[cls] + 1):  # trainlists repeat the index: they must agree
                raise HatError(f"{lst}: {rel} is labelled {written[0]}, but classInd.txt numbers {cls} {index[cls] + 1}")
            out.append(VideoRecord(Path(rel).stem, index[cls], split, str(self.root / rel)))
        return out

    def options(self) -> dict[str, Any]:
        opts: dict[str, Any] = {"root": str(self.root), "splits": str(self.splits), "split_id": self.split_id}
        return {**opts, "subset": True} if self.subset else opts  # absent when off: older builds resume


NUM_CLASSES = 101


def read_class_index(path: Path, expected: int, dataset: str, subset: bool) -> list[str]:
    """Class names by their written 1-based index; refuses gaps, repeats and (unless ``subset``) a count not ``expected``."""
    by_index: dict[int, str] = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit():
            raise HatError(f"{path}:{n}: expected '<index> <ClassName>', got '{line.strip()}'")
        i = int(parts[0])
        if i in by_index:
            raise HatError(f"{path}:{n}: index {i} given twice ('{by_index[i]}' and '{parts[1]}')")
        by_index[i] = parts[1]
    names = list(by_index.values())
    if len(set(names)) != len(names):
        twice = next(c for c in names if names.count(c) > 1)
        raise HatError(f"{path}: class '{twice}' is listed twice")
    top = max(by_index, default=0)
    gaps = [i for i in range(1, top + 1) if i not in by_index]
    if gaps or 0 in by_index:
        i = gaps[0] if gaps else 0
        around = f" (between '{by_index.get(i - 1, '-')}' and '{by_index.get(i + 1, '-')}')" if gaps else ""
        raise HatError(f"{path}: index {i} is missing{around}: {dataset} labels are the written indices 1..{expected}, "
                       "a gap would shift every later class")
    if len(by_index) != expected and not subset:
        raise HatError(f"{path}: {len(by_index)} classes, {dataset} has {expected} (last: {top} {by_index.get(top, '-')}); "
                       "for a list cut down on purpose pass -S subset=true")
    return [by_index[i] for i in range(1, top + 1)]


SOURCES.register("ucf101", help="UCF101 with classInd.txt and testlist0N/trainlist0N (split_id=1..3)")(UCF101)
