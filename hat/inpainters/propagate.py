"""Weights-free inpainting: what the camera saw behind the person in other frames.

For a static camera the temporal median of the unmasked observations of each pixel is a clean
plate of the scene; pixels the person never uncovers are filled by ``cv2.inpaint`` on the plate,
once per clip (per frame, the fill would follow the person's outline and leak their motion).
"""

from __future__ import annotations

import warnings

import cv2
import numpy as np

from ..masks import dilate
from . import INPAINTERS, Inpainter


def clean_plate(frames: np.ndarray, masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel median over frames where the pixel is unmasked, and where such a frame exists."""
    data = frames.astype(np.float32)
    data[masks] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        plate = np.nanmedian(data, axis=0)
    seen = ~masks.all(axis=0)
    return np.nan_to_num(plate), seen


class PropagateInpainter(Inpainter):
    name = "propagate"

    def __init__(self, dilation: int = 4, window: int = 0, method: str = "telea", radius: int = 3):
        if method not in ("telea", "ns"):
            from ..errors import HatError

            raise HatError(f"propagate method must be one of telea, ns (got '{method}')")
        self.dilation, self.window, self.method, self.radius = int(dilation), int(window), method, int(radius)

    def options(self) -> dict:
        return {"dilation": self.dilation, "window": self.window, "method": self.method, "radius": self.radius}

    def _plate(self, frames: np.ndarray, holes: np.ndarray) -> np.ndarray:
        """The clean plate with its never-uncovered part filled once, so the fill does not flicker."""
        plate, seen = clean_plate(frames, holes)
        plate = np.rint(plate).astype(np.uint8)
        if not seen.all():
            flag = cv2.INPAINT_TELEA if self.method == "telea" else cv2.INPAINT_NS
            plate = cv2.inpaint(plate, (~seen).astype(np.uint8), self.radius, flag)
        return plate

    def inpaint(self, frames, masks, targets):
        frames = np.asarray(frames, dtype=np.uint8)
        holes = dilate(masks, self.dilation)
        whole = self._plate(frames, holes) if self.window <= 0 else None
        out = []
        for t in np.asarray(targets):
            if whole is None:
                lo, hi = max(0, t - self.window), min(len(frames), t + self.window + 1)
                plate = self._plate(frames[lo:hi], holes[lo:hi])
            else:
                plate = whole
            f = frames[t].copy()
            f[holes[t]] = plate[holes[t]]
            out.append(f)
        return np.stack(out) if out else np.zeros((0, *frames.shape[1:]), np.uint8)


INPAINTERS.register("propagate", help="temporal median of unmasked pixels, cv2.inpaint for the rest (weights-free)")(
    PropagateInpainter
)
