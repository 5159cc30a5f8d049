"""Person segmenters: frames in, per-frame binary person masks and person boxes out."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np

from ..registry import Registry
from ..dataset import Source, VideoRecord


@dataclass
class Segmentation:
    """Binary masks (each segmenter thresholds its own scores once) and detector boxes, per frame.

    Objects that a dataset names (SSv2's ``[something]``) are kept apart from the person, so the
    object-masking sets can be composed; ``object_boxes`` rows end with an index into ``object_names``.
    """

    masks: np.ndarray  # [N,H,W] bool, one binary person mask per frame
    boxes: list[np.ndarray]  # per frame [K,5] float: x0, y0, x1, y1 (exclusive), score
    object_masks: np.ndarray | None = None  # [N,H,W] bool, union of the named objects
    object_boxes: list[np.ndarray] | None = None  # per frame [K,6] float: x0, y0, x1, y1, score, object index
    object_names: list[str] = field(default_factory=list)

    def subset(self, pos: np.ndarray) -> "Segmentation":
        """The same segmentation restricted to the frames at ``pos``."""
        pos = np.asarray(pos, dtype=np.int64)
        return Segmentation(
            masks=np.asarray(self.masks)[pos], boxes=[self.boxes[i] for i in pos],
            object_masks=None if self.object_masks is None else np.asarray(self.object_masks)[pos],
            object_boxes=None if self.object_boxes is None else [self.object_boxes[i] for i in pos],
            object_names=list(self.object_names),
        )


class Segmenter(ABC):
    name: str = ""
    #: whether it segments what it is shown; False for one that reads masks the source provides (``gt``): it
    #: cannot check a Background-Only frame for people left behind, so the build records no residual coverage
    reads_pixels: bool = True

    @abstractmethod
    def segment(self, frames: np.ndarray, record: VideoRecord, source: Source, indices: np.ndarray) -> Segmentation:
        """``frames`` are the working-resolution frames at source frame ``indices``."""

    def options(self) -> dict:
        return {}

    def check_source(self, source: Source) -> None:
        """Refuse, before anything is written, a source this segmenter cannot work on."""


SEGMENTERS: Registry[Segmenter] = Registry(
    "segmenter", builtin_modules=("hat.segmenters.gt", "hat.segmenters.selfie", "hat.segmenters.pose",
                                  "hat.segmenters.grounded_sam")
)

#: what ``--segmenter auto`` (the default) uses for sources without ground-truth masks, when no GPU
#: models are given: scripts/bench_offline_segmenters and the README's figures say why it beats selfie
OFFLINE_DEFAULT = "mediapipe-pose"
