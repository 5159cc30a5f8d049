"""Inpainters: remove the person to make Background-Only frames."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from ..registry import Registry


class Inpainter(ABC):
    name: str = ""

    @abstractmethod
    def inpaint(self, frames: np.ndarray, masks: np.ndarray, targets: np.ndarray, *,
                src_index: np.ndarray | None = None, n_frames: int | None = None) -> np.ndarray:
        """Background-Only versions of ``frames[targets]``; all frames are available as context.

        ``src_index`` gives each frame's index in the source video (default: consecutive from 0) and
        ``n_frames`` the video's length. Pixels outside the (dilated) masks must come back unchanged.
        """

    def context(self, n_frames: int, targets: np.ndarray) -> np.ndarray:
        """Source frames this inpainter needs besides the build's own (e.g. a video model's neighbours).

        They are decoded and segmented too, but kept apart: scene and mask statistics do not see them.
        """
        return np.zeros(0, dtype=np.int64)

    def options(self) -> dict:
        return {}


INPAINTERS: Registry[Inpainter] = Registry("inpainter", builtin_modules=("hat.inpainters.propagate", "hat.inpainters.e2fgvi"))
