"""Scene models give each video a descriptor; classes are ranked by L1 distance of class averages.

HAT uses Places365 probabilities; any model that returns a non-negative vector per frame fits.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from ..registry import Registry


class SceneModel(ABC):
    name: str = ""

    @abstractmethod
    def frame_descriptors(self, frames: np.ndarray) -> np.ndarray:
        """[N,H,W,3] uint8 -> [N,D] per-frame vectors (probabilities for a classifier)."""

    def describe(self, frames: np.ndarray) -> np.ndarray:
        """One vector per video: the mean over its frames."""
        return self.frame_descriptors(frames).mean(axis=0)

    def options(self) -> dict:
        return {}

    @property
    def labels(self) -> list[str] | None:
        """Names of the descriptor's dimensions where they are classes (for the per-class scene table)."""
        return None


SCENE_MODELS: Registry[SceneModel] = Registry("scene model", builtin_modules=("hat.scene.colorstats", "hat.scene.classifiers"))
