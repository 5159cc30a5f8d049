"""What a benchmark source provides: labelled videos, their frames, and optional ground truth."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..video import VideoInfo


@dataclass(frozen=True)
class VideoRecord:
    video_id: str
    label: int
    split: str
    path: str = ""
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


class Source(ABC):
    """A labelled video collection. Real datasets read files; generated ones render on demand."""

    name: str = ""
    #: build settings this kind of data fixes by convention (e.g. Close/Far k per dataset)
    build_defaults: dict[str, Any] = {}

    @property
    @abstractmethod
    def classes(self) -> list[str]: ...

    @abstractmethod
    def records(self, split: str) -> list[VideoRecord]: ...

    @abstractmethod
    def probe(self, record: VideoRecord) -> VideoInfo:
        """Frame count and size, cheaply; raises VideoError for an unusable video."""

    @abstractmethod
    def read(self, record: VideoRecord, indices: np.ndarray) -> np.ndarray:
        """RGB uint8 frames [N,H,W,3] at the given frame indices; raises VideoError."""

    def gt_masks(self, record: VideoRecord, indices: np.ndarray) -> np.ndarray | None:
        """Ground-truth person masks [N,H,W] bool at native size, when the source has them."""
        return None

    def options(self) -> dict[str, Any]:
        """The settings that define this source's content, recorded in benchmark.yaml."""
        return {}


class VideoFileSource(Source):
    """Sources whose records point at video files decoded with PyAV; a missing file is a per-video failure."""

    def probe(self, record: VideoRecord) -> VideoInfo:
        from ..errors import VideoError
        from ..video import probe

        if not record.path or not Path(record.path).is_file():
            raise VideoError("missing video file")
        return probe(record.path)

    def read(self, record: VideoRecord, indices: np.ndarray) -> np.ndarray:
        from ..errors import VideoError
        from ..video import read_frames

        if not record.path or not Path(record.path).is_file():
            raise VideoError("missing video file")
        return read_frames(record.path, indices)


def require_file(path: str | None, what: str, hint: str) -> Path:
    from ..errors import HatError

    if not path:
        raise HatError(f"{what} is required: {hint}")
    p = Path(path)
    if not p.exists():
        raise HatError(f"{what} not found: {path}")
    return p
