"""A weights-free stand-in for Places365: colour and texture statistics of each frame.

Not a scene classifier. It ranks classes by how alike their frames look (hue/saturation/value
histogram plus gradient orientation and strength histograms), which is enough for the embedded
benchmark and for a quick look at a real dataset when no Places365 weights are at hand.
"""

from __future__ import annotations

import cv2
import numpy as np

from . import SCENE_MODELS, SceneModel


class ColorStats(SceneModel):
    name = "colorstats"

    def __init__(self, hue_bins: int = 12, sat_bins: int = 3, val_bins: int = 3, orient_bins: int = 8, mag_bins: int = 4):
        self.bins = (int(hue_bins), int(sat_bins), int(val_bins))
        self.orient_bins, self.mag_bins = int(orient_bins), int(mag_bins)

    def options(self) -> dict:
        h, s, v = self.bins
        return {"hue_bins": h, "sat_bins": s, "val_bins": v, "orient_bins": self.orient_bins, "mag_bins": self.mag_bins}

    def frame_descriptors(self, frames: np.ndarray) -> np.ndarray:
        return np.stack([self._one(f) for f in np.asarray(frames, dtype=np.uint8)])

    def _one(self, rgb: np.ndarray) -> np.ndarray:
        hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
        colour = cv2.calcHist([hsv], [0, 1, 2], None, list(self.bins), [0, 180, 0, 256, 0, 256]).ravel()
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
        gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3)
        gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)
        mag = np.hypot(gx, gy)
        ang = np.mod(np.arctan2(gy, gx), np.pi)
        orient = np.bincount(
            np.minimum((ang / np.pi * self.orient_bins).astype(int), self.orient_bins - 1).ravel(),
            weights=mag.ravel(), minlength=self.orient_bins,
        )
        # gradient strength on a log scale: flat (sky, wall), soft (dunes, water), sharp (bricks, tiles)
        level = np.clip((np.log1p(mag) / np.log1p(1020.0) * self.mag_bins).astype(int), 0, self.mag_bins - 1)
        strength = np.bincount(level.ravel(), minlength=self.mag_bins).astype(np.float64)
        parts = [colour, orient, strength]
        weights = [0.5, 0.25, 0.25]
        return np.concatenate([w * p / max(p.sum(), 1e-12) for w, p in zip(weights, parts)]).astype(np.float32)


SCENE_MODELS.register("colorstats", help="weights-free colour/texture statistics (a stand-in, not Places365)")(ColorStats)
