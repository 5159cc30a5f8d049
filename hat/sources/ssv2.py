"""Something-Something v2: labels JSON (class -> index) and the split JSON with ``template`` and ``placeholders``.

Videos ``root/<id>.webm``. Each record keeps its placeholders (the objects that fill ``[something]``)
in ``meta["objects"]``: segmenters that mask objects take their prompts from there.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import HatError
from . import SOURCES
from .base import VideoFileSource, VideoRecord, require_file

SPLIT_FILES = {"val": "something-something-v2-validation.json", "train": "something-something-v2-train.json"}


def _key(name: str) -> str:
    """Templates write [something], the labels file writes something: compare without brackets or case."""
    return " ".join(name.replace("[", "").replace("]", "").lower().split())


class SSv2(VideoFileSource):
    name = "ssv2"
    usage = ("-S root=20bn-something-something-v2/ (videos <id>.webm) -S labels=something-something-v2-labels.json "
             "[-S annotations=something-something-v2-validation.json (default: beside the labels)] [-S ext=.webm]")

    def __init__(self, root: str = "", labels: str = "", annotations: str = "", ext: str = ".webm"):
        if not root or not labels:
            raise self.needs_data()
        self.root = require_file(root, "ssv2 root", "-S root=20bn-something-something-v2/ (the .webm files)")
        self.labels_path = require_file(labels, "ssv2 labels JSON", "-S labels=something-something-v2-labels.json")
        try:
            raw = json.loads(self.labels_path.read_text())
            by_index = {int(v): k for k, v in raw.items()}
        except (ValueError, AttributeError):
            raise HatError(f"{self.labels_path}: expected {{\"<class name>\": \"<index>\"}}") from None
        self._classes = [by_index[i] for i in sorted(by_index)]
        self._index = {_key(c): i for i, c in enumerate(self._classes)}
        self.annotations = annotations
        self.ext = ext

    @property
    def classes(self) -> list[str]:
        return list(self._classes)

    def records(self, split: str) -> list[VideoRecord]:
        if not self.annotations and split not in SPLIT_FILES:
            raise HatError(f"unknown ssv2 split '{split}' (valid: {', '.join(sorted(SPLIT_FILES))}; the released test list has "
                           "no labels); for another labelled list give it with -S annotations=<file.json>")
        path = Path(self.annotations) if self.annotations else self.labels_path.with_name(SPLIT_FILES[split])
        if not path.is_file():
            raise HatError(f"ssv2 split file not found: {path} (give it with -S annotations=...)")
        try:
            items = json.loads(path.read_text())
        except ValueError as e:
            raise HatError(f"{path}: not JSON ({e})") from None
        out = []
        for it in items:
            if "template" not in it:
                raise HatError(f"{path}: video {it.get('id')} has no template (a list without labels, such as the test "
                               "list?); give a labelled list with -S annotations=<file.json>")
            tpl = it["template"]
            if _key(tpl) not in self._index:
                raise HatError(f"{path}: template '{tpl}' of video {it.get('id')} is not a class of {self.labels_path.name}")
            vid = str(it["id"])
            out.append(VideoRecord(vid, self._index[_key(tpl)], split, str(self.root / f"{vid}{self.ext}"),
                                   {"objects": list(it.get("placeholders", [])), "caption": it.get("label", "")}))
        return out

    def options(self) -> dict[str, Any]:
        return {"root": str(self.root), "labels": str(self.labels_path), "annotations": self.annotations, "ext": self.ext}


SOURCES.register("ssv2", help="Something-Something v2: labels JSON + split JSON (placeholders kept as object prompts)")(SSv2)
