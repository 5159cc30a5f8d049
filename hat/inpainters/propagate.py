"""Weights-free inpainting: what the camera saw behind the person in other frames.

For a static camera the temporal median of the unmasked observations of each pixel is a clean
plate of the scene; pixels the person never uncovers are filled by ``cv2.inpaint`` on the plate,
once per clip (per frame, the fill would follow the person's outline and leak their motion).

A moving camera (``align``): background corners are tracked between consecutive stored frames
(pyramidal Lucas-Kanade optical flow, outside the masks) and a homography fitted with RANSAC; every
frame is warped into each target's view before the median. Pan, tilt and zoom of a hand-held camera
are homographies for a distant scene; ``auto`` keeps the static path unless the background moves by half a
pixel (median over tracked corners) between some pair of neighbouring stored frames.
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


_ALIGN = ("auto", "none", "homography")


def _gray(frame: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)


def pair_homography(a: np.ndarray, b: np.ndarray, hole_a: np.ndarray, hole_b: np.ndarray,
                    min_points: int = 12) -> tuple[np.ndarray, float] | None:
    """Homography taking frame ``a``'s pixels to ``b``'s, from background corners only, and the median
    motion of its inlier corners (pixels); None if unsure."""
    ga, gb = _gray(a), _gray(b)
    corners = cv2.goodFeaturesToTrack(ga, maxCorners=400, qualityLevel=0.01, minDistance=5,
                                      mask=(~hole_a).astype(np.uint8) * 255)
    if corners is None or len(corners) < min_points:
        return None
    moved, status, _ = cv2.calcOpticalFlowPyrLK(ga, gb, corners, None, winSize=(21, 21), maxLevel=3)
    ok = status.ravel() == 1
    p, q = corners.reshape(-1, 2)[ok], moved.reshape(-1, 2)[ok]
    h, w = hole_b.shape
    inside = (q[:, 0] >= 0) & (q[:, 0] < w) & (q[:, 1] >= 0) & (q[:, 1] < h)
    p, q = p[inside], q[inside]
    keep = ~hole_b[q[:, 1].astype(int), q[:, 0].astype(int)]
    p, q = p[keep], q[keep]
    if len(p) < min_points:
        return None
    hom, inl = cv2.findHomography(p, q, cv2.RANSAC, 2.0)
    if hom is None or inl is None or inl.sum() < min_points or not plausible(hom / hom[2, 2], *hole_b.shape):
        return None
    good = inl.ravel() == 1
    return hom, float(np.median(np.linalg.norm(q[good] - p[good], axis=1)))


def plausible(hom: np.ndarray, h: int, w: int) -> bool:
    """A camera motion between neighbouring stored frames: scale within 1/2..2, no mirror, mild perspective."""
    det = float(np.linalg.det(hom[:2, :2]))
    return 0.25 < det < 4.0 and float(np.abs(hom[2, :2]).max()) * max(h, w) < 0.5


def chain_to_first(frames: np.ndarray, holes: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
    """For each frame, the homography to its run's first view (chained over neighbours), the largest
    median background motion between neighbours, and a run id per frame: a pair that cannot be fitted
    (a cut, a blur, a textureless view) starts a new run, so frames are only warped within their run."""
    n = len(frames)
    to_first = np.repeat(np.eye(3)[None], n, axis=0)
    run = np.zeros(n, dtype=np.int64)
    biggest = 0.0
    for k in range(1, n):
        fit = pair_homography(frames[k], frames[k - 1], holes[k], holes[k - 1])  # k -> k-1
        if fit is None:
            run[k] = run[k - 1] + 1
            continue
        hom, motion = fit
        biggest = max(biggest, motion)
        run[k] = run[k - 1]
        to_first[k] = to_first[k - 1] @ hom
    return to_first, biggest, run


class PropagateInpainter(Inpainter):
    name = "propagate"

    def __init__(self, dilation: int = 4, window: int = 0, method: str = "telea", radius: int = 3, align: str = "auto"):
        from ..errors import HatError

        if method not in ("telea", "ns"):
            raise HatError(f"propagate method must be one of telea, ns (got '{method}')")
        if align not in _ALIGN:
            raise HatError(f"propagate align must be one of {', '.join(_ALIGN)} (got '{align}')")
        self.dilation, self.window, self.method, self.radius = int(dilation), int(window), method, int(radius)
        self.align = align
        self.last_shift = 0.0  # largest frame-to-frame corner shift seen in the last call (pixels)

    def options(self) -> dict:
        return {"dilation": self.dilation, "window": self.window, "method": self.method, "radius": self.radius,
                "align": self.align}

    def _fill(self, plate: np.ndarray, unseen: np.ndarray) -> np.ndarray:
        if not unseen.any():
            return plate
        flag = cv2.INPAINT_TELEA if self.method == "telea" else cv2.INPAINT_NS
        return cv2.inpaint(plate, unseen.astype(np.uint8), self.radius, flag)

    def _aligned(self, frames: np.ndarray, holes: np.ndarray, targets: np.ndarray, to_first: np.ndarray,
                 run: np.ndarray) -> np.ndarray:
        """Each target's hole filled from the other frames of its run, warped into its view."""
        n, h, w = holes.shape
        out = []
        for t in targets:
            lo, hi = (0, n) if self.window <= 0 else (max(0, t - self.window), min(n, t + self.window + 1))
            hole = holes[t]
            obs = np.full((hi - lo, int(hole.sum()), 3), np.nan, np.float32)
            back = np.linalg.inv(to_first[t])
            for j in range(lo, hi):
                if run[j] != run[t]:
                    continue  # no known motion between them
                m = back @ to_first[j]  # frame j -> frame t
                warped = cv2.warpPerspective(frames[j], m, (w, h), flags=cv2.INTER_LINEAR)
                bad = cv2.warpPerspective((~holes[j]).astype(np.uint8), m, (w, h), flags=cv2.INTER_NEAREST,
                                          borderValue=0) == 0
                vals = warped[hole].astype(np.float32)
                vals[bad[hole]] = np.nan
                obs[j - lo] = vals
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                med = np.nanmedian(obs, axis=0)
            seen = ~np.isnan(med).any(axis=1)
            f = frames[t].copy()
            f[hole] = np.rint(np.nan_to_num(med)).astype(np.uint8)
            unseen = np.zeros((h, w), bool)
            unseen[hole] = ~seen
            out.append(self._fill(f, unseen))
        return np.stack(out) if out else np.zeros((0, *frames.shape[1:]), np.uint8)

    def _plate(self, frames: np.ndarray, holes: np.ndarray) -> np.ndarray:
        """The clean plate with its never-uncovered part filled once, so the fill does not flicker."""
        plate, seen = clean_plate(frames, holes)
        return self._fill(np.rint(plate).astype(np.uint8), ~seen)

    def inpaint(self, frames, masks, targets, *, src_index=None, n_frames=None):
        frames = np.asarray(frames, dtype=np.uint8)
        holes = dilate(masks, self.dilation)
        self.last_shift = 0.0
        if self.align != "none" and len(frames) > 1:
            to_first, self.last_shift, run = chain_to_first(frames, holes)
            if self.align == "homography" or self.last_shift >= 0.5:
                return self._aligned(frames, holes, np.asarray(targets), to_first, run)
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


INPAINTERS.register("propagate", help="temporal median of unmasked pixels, camera motion aligned; cv2.inpaint for the rest (no weights)")(
    PropagateInpainter
)
