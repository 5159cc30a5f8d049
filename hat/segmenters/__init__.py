"""Person segmenters: frames in, per-frame binary person masks and person boxes out."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from ..registry import Registry
from ..sources.base import Source, VideoRecord


@dataclass
class Segmentation:
    masks: np.ndarray  # [N,H,W] bool, one binary person mask per frame
    boxes: list[np.ndarray]  # per frame [K,5] float: x0, y0, x1, y1 (exclusive), score


class Segmenter(ABC):
    name: str = ""

    @abstractmethod
    def segment(self, frames: np.ndarray, record: VideoRecord, source: Source, indices: np.ndarray) -> Segmentation:
        """``frames`` are the working-resolution frames at source frame ``indices``."""

    def options(self) -> dict:
        return {}

    def check_source(self, source: Source) -> None:
        """Refuse, before anything is written, a source this segmenter cannot work on."""


SEGMENTERS: Registry[Segmenter] = Registry("segmenter", builtin_modules=("hat.segmenters.gt",))
