"""HMDB51 with its official split files ``<class>_test_split<N>.txt`` (``<video>.avi <0|1|2>``: 1 train, 2 test).

Videos ``root/<class>/<video>.avi``. Labels index the 51 official classes, sorted (as the released
models number them), whichever split files are present: a missing ``<class>_test_split<N>.txt`` is refused,
since it would shift every later class (unless ``-S subset=true``: then the classes are the files present).

Close/Far defaults (``build_defaults``): k_close 5, as for Kinetics-400 and UCF101 (HAT's own choice: the
five nearest classes, whatever the class count); k_far 15, UCF101's share (UCF-HAT's 30 of 100 other
classes) of HMDB51's 50 other classes, so Close and Far never overlap (5 + 15 <= 50).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ..errors import HatError
from . import SOURCES
from .base import VideoFileSource, VideoRecord, bool_option, require_file


#: The official class names (the split files' prefixes), in label order.
HMDB51_CLASSES = (
    "brush_hair", "cartwheel", "catch", "chew", "clap", "climb", "climb_stairs", "dive", "draw_sword", "dribble",
    "drink", "eat", "fall_floor", "fencing", "flic_flac", "golf", "handstand", "hit", "hug", "jump", "kick",
    "kick_ball", "kiss", "laugh", "pick", "pour", "pullup", "punch", "push", "pushup", "ride_bike", "ride_horse",
    "run", "shake_hands", "shoot_ball", "shoot_bow", "shoot_gun", "sit", "situp", "smile", "smoke", "somersault",
    "stand", "swing_baseball", "sword", "sword_exercise", "talk", "throw", "turn", "walk", "wave",
)


class HMDB51(VideoFileSource):
    name = "hmdb51"
    build_defaults = {"k_close": 5, "k_far": 15}  # where each comes from: see the module docstring
    usage = ("-S root=hmdb51/ (videos <class>/<video>.avi) [-S splits=testTrainMulti_7030_splits/ "
             "(<class>_test_split<N>.txt; default <root>/testTrainMulti_7030_splits)] [-S split_id=1|2|3] [-S subset=true (a class list cut down on purpose)]")

    def __init__(self, root: str = "", splits: str = "", split_id: int = 1, subset: bool = False):
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
        self.subset = bool_option(subset, "hmdb51 subset")
        if self.subset:
            self._classes = sorted(self._files)
        else:
            missing = [c for c in HMDB51_CLASSES if c not in self._files]
            unknown = sorted(set(self._files) - set(HMDB51_CLASSES))
            if unknown:
                raise HatError(f"{self.splits}: '{unknown[0]}_test_split{self.split_id}.txt' is not an HMDB51 class "
                               "(for other classes pass -S subset=true)")
            if missing:
                raise HatError(f"{self.splits}: no {missing[0]}_test_split{self.split_id}.txt"
                               f"{f' (and {len(missing) - 1} more)' if len(missing) > 1 else ''}: HMDB51 has "
                               f"{len(HMDB51_CLASSES)} classes and a missing one would shift every later label; "
                               "for a list cut down on purpose pass -S subset=true")
            self._classes = list(HMDB51_CLASSES)

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
        opts: dict[str, Any] = {"root": str(self.root), "splits": str(self.splits), "split_id": self.split_id}
        return {**opts, "subset": True} if self.subset else opts  # absent when off: older builds resume


SOURCES.register("hmdb51", help="HMDB51 with its <class>_test_splitN.txt files (split_id=1..3)")(HMDB51)
