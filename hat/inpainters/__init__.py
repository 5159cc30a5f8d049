"""Inpainters: remove the person to make Background-Only frames."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from ..registry import Registry


class Inpainter(ABC):
    name: str = ""

    @abstractmethod
    def inpaint(self, frames: np.ndarray, masks: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """Background-Only versions of ``frames[targets]``; all frames are available as context.

        Pixels outside the (dilated) masks must come back unchanged.
        """

    def options(self) -> dict:
        return {}


INPAINTERS: Registry[Inpainter] = Registry("inpainter", builtin_modules=("hat.inpainters.propagate",))
