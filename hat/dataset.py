"""What a labelled video collection provides, as every backend sees it: its records and the Source interface.

Sources (``hat.sources``) implement it; segmenters read a video's ground truth through it and the demo
models train on it, without depending on any one source.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .video import VideoInfo

if TYPE_CHECKING:
    from .errors import HatError


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
    #: the ``-S`` options and file layouts it reads, shown when its data options are missing
    usage: str = ""

    @classmethod
    def needs_data(cls) -> "HatError":
        """The one-line error for missing data options: what to pass, and the layouts it accepts."""
        from .errors import HatError

        return HatError(f"source '{cls.name}' needs its data: {cls.usage}")

    @property
    def provides_masks(self) -> bool:
        """Whether this source overrides :meth:`gt_masks` (the ``gt`` segmenter and ``--segmenter auto`` ask)."""
        return type(self).gt_masks is not Source.gt_masks

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
