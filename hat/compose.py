"""Pixel maths of the counterfactual sets, as pure functions on uint8 arrays.

Frames are [T,H,W,3] uint8 RGB, masks [T,H,W] bool. Nothing here knows about files or models, so
every rule is testable on hand-made arrays and ``hat export`` gives exactly what eval sees.
"""

from __future__ import annotations

import cv2
import numpy as np

from .constants import IMAGENET_MEAN, IMAGENET_STD
from .masks import boxes_mask


def fill(frames: np.ndarray, region: np.ndarray, color) -> np.ndarray:
    """X = (1 - M) * V + c * M for a binary region M and one colour c (per video)."""
    out = np.array(frames, dtype=np.uint8, copy=True)
    out[np.asarray(region, dtype=bool)] = np.asarray(color, dtype=np.uint8)
    return out


def human_only(frames: np.ndarray, masks: np.ndarray, mean_color) -> np.ndarray:
    """Human pixels kept, the rest set to the dataset's mean colour (a frame mean would leak the scene)."""
    return fill(frames, ~np.asarray(masks, dtype=bool), mean_color)


def mask_background(frames: np.ndarray, masks: np.ndarray, color) -> np.ndarray:
    """Only the person visible: everything outside the person mask in one colour (P-top1)."""
    return fill(frames, ~np.asarray(masks, dtype=bool), color)


def mask_boxes(frames: np.ndarray, boxes_per_frame: list[np.ndarray], color, keep: np.ndarray | None = None) -> np.ndarray:
    """Boxes filled with one colour, except the ``keep`` pixels inside them.

    Person boxes with the named objects kept (B-top1, the masking paper's Eq. 6: "the background and
    also the objects are available"); object boxes with the person kept (its Eq. 3).
    """
    t, h, w = np.asarray(frames).shape[:3]
    region = boxes_mask(boxes_per_frame, h, w)
    if keep is not None:
        region &= ~np.asarray(keep, dtype=bool)
    return fill(frames, region, color)


def mask_objects(frames: np.ndarray, object_masks: np.ndarray, color) -> np.ndarray:
    """The named objects' shapes filled with one colour (object shape masking, the paper's Eq. 4, which
    takes object and person regions as disjoint: the object mask is filled as it is)."""
    return fill(frames, object_masks, color)


def mask_background_and_objects(frames: np.ndarray, masks: np.ndarray, object_masks: np.ndarray, bg_color, obj_color) -> np.ndarray:
    """The person's pixels kept, object pixels that are not the person's in the object colour, the rest
    in the background colour (the masking paper's Eq. 5): a hand on a cup stays a hand."""
    person = np.asarray(masks, dtype=bool)
    objects = np.asarray(object_masks, dtype=bool) & ~person
    out = fill(frames, ~person & ~objects, bg_color)
    return fill(out, objects, obj_color)


def normal_color(rng: np.random.Generator, mean=IMAGENET_MEAN, std=IMAGENET_STD) -> np.ndarray:
    """c ~ N(0, I) in normalised pixel space, mapped back to uint8 RGB (one colour per video)."""
    c = rng.standard_normal(3)
    rgb = (np.asarray(mean) + c * np.asarray(std)) * 255.0
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def align_time(n_out: int, n_src: int) -> np.ndarray:
    """Index into a clip of ``n_src`` frames for each of ``n_out`` frames, by relative position."""
    if n_out <= 0 or n_src <= 0:
        raise ValueError("clips must have frames")
    if n_out == 1:
        return np.array([n_src // 2])
    pos = np.arange(n_out) * (n_src - 1) / (n_out - 1)
    return np.floor(pos + 0.5).astype(np.int64)


def resize_cover(frames: np.ndarray, height: int, width: int, nearest: bool = False) -> np.ndarray:
    """Scale to cover (height, width) keeping aspect ratio, then centre-crop: no bars, no stretching."""
    frames = np.asarray(frames)
    h, w = frames.shape[1:3]
    if (h, w) == (height, width):
        return frames.copy()
    s = max(height / h, width / w)
    nh, nw = max(height, round(h * s)), max(width, round(w * s))
    interp = cv2.INTER_NEAREST if nearest else (cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    y0, x0 = (nh - height) // 2, (nw - width) // 2
    out = []
    for f in frames:
        src = f.astype(np.uint8) if f.dtype == bool else f
        r = cv2.resize(src, (nw, nh), interpolation=interp)[y0 : y0 + height, x0 : x0 + width]
        out.append(r.astype(bool) if f.dtype == bool else r)
    return np.stack(out)


def _centroids(masks: np.ndarray) -> np.ndarray:
    """(y, x) centre of mass per frame; NaN where empty."""
    t, h, w = masks.shape
    n = masks.reshape(t, -1).sum(1).astype(float)
    ys = (masks.sum(2) * np.arange(h)).sum(1)
    xs = (masks.sum(1) * np.arange(w)).sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.stack([ys / n, xs / n], axis=1)


def paste_offset(fg_masks: np.ndarray, bg_masks: np.ndarray | None, placement: str = "match") -> tuple[int, int]:
    """One (dy, dx) for the whole clip, so the pasted human keeps its own motion.

    ``match`` moves the human's mean centre of mass (over all frames, not the first frame only) to
    where the background video's removed human was; ``keep`` leaves it in place. The offset is then
    clamped so that the human's union box over all frames stays inside the frame.
    """
    fg_masks = np.asarray(fg_masks, dtype=bool)
    t, h, w = fg_masks.shape
    union = fg_masks.any(axis=0)
    if not union.any():
        return 0, 0
    dy = dx = 0.0
    if placement == "match" and bg_masks is not None and np.asarray(bg_masks).any():
        cf = np.nanmean(_centroids(fg_masks), axis=0)
        cb = np.nanmean(_centroids(np.asarray(bg_masks, dtype=bool)), axis=0)
        dy, dx = cb - cf
    elif placement not in ("match", "keep"):
        raise ValueError(f"unknown placement '{placement}' (valid: keep, match)")
    ys, xs = np.flatnonzero(union.any(1)), np.flatnonzero(union.any(0))
    dy = int(np.clip(round(dy), -ys[0], h - 1 - ys[-1]))
    dx = int(np.clip(round(dx), -xs[0], w - 1 - xs[-1]))
    return dy, dx


def shift(arr: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Translate [T,H,W,...] by whole pixels; what moves in from outside is zero/False."""
    out = np.zeros_like(arr)
    h, w = arr.shape[1:3]
    ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
    xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
    out[:, yd, xd] = arr[:, ys, xs]
    return out


def action_swap(
    fg_frames: np.ndarray,
    fg_masks: np.ndarray,
    bg_frames: np.ndarray,
    bg_masks: np.ndarray | None = None,
    placement: str = "match",
) -> np.ndarray:
    """Paste video A's human onto video B's Background-Only frames.

    The output has A's size and length: B is aligned in time by relative position and resized to
    cover A's frame (aspect ratio kept). The human's pixels are never resampled.
    """
    fg_frames = np.asarray(fg_frames, dtype=np.uint8)
    fg_masks = np.asarray(fg_masks, dtype=bool)
    t, h, w = fg_masks.shape
    idx = align_time(t, len(bg_frames))
    bg = resize_cover(np.asarray(bg_frames)[idx], h, w)
    bgm = None if bg_masks is None else resize_cover(np.asarray(bg_masks, dtype=bool)[idx], h, w, nearest=True)
    dy, dx = paste_offset(fg_masks, bgm, placement)
    m = shift(fg_masks, dy, dx)
    np.copyto(bg, shift(fg_frames, dy, dx), where=m[..., None])  # bg is a fresh array (indexed, then resized)
    return bg


# ----------------------------------------------------------------------------- SCUBA / SCUFO (Li et al., ICCV 2023)


def scuba(
    fg_frames: np.ndarray,
    fg_masks: np.ndarray,
    image: np.ndarray,
    image_mask: np.ndarray | None = None,
    placement: str = "match",
) -> np.ndarray:
    """Video A's human pasted onto one still image, the same image behind every frame.

    The Action-Swap rules exactly (:func:`action_swap` with a one-frame background): one offset for the
    whole clip, ``match`` moves the human to ``image_mask`` (a removed person's mask, for a still taken
    from a Background-Only video; without one the human stays in place), the image resized to cover.
    """
    image = np.asarray(image, dtype=np.uint8)
    bg_masks = None if image_mask is None else np.asarray(image_mask, dtype=bool)[None]
    return action_swap(fg_frames, fg_masks, image[None], bg_masks, placement)


def freeze_index(t: int) -> int:
    """The frame SCUFO repeats: the middle one (TSN's segment middles make it the clip's centre in time,
    where the action is most likely under way; the first frame is often before it starts)."""
    return int(align_time(1, t)[0])


def scufo(clip: np.ndarray) -> np.ndarray:
    """SCUBA's frozen twin: one frame of the pasted clip repeated T times (no motion left anywhere)."""
    clip = np.asarray(clip)
    return np.repeat(clip[freeze_index(len(clip)) : freeze_index(len(clip)) + 1], len(clip), axis=0)


def stripes(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A procedural sinusoidal stripe image [H,W,3] uint8: random frequency, orientation, phase, two colours.

    The frequency counts periods across the frame's diagonal (2-12), so stripes look alike at any size.
    """
    periods = rng.uniform(2.0, 12.0)
    theta = rng.uniform(0.0, np.pi)
    phase = rng.uniform(0.0, 2 * np.pi)
    c0, c1 = rng.integers(0, 256, size=(2, 3)).astype(np.float64)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    diag = float(np.hypot(height, width))
    wave = 0.5 + 0.5 * np.sin(2 * np.pi * periods * (xx * np.cos(theta) + yy * np.sin(theta)) / diag + phase)
    img = c0 + (c1 - c0) * wave[..., None]
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def to_rgb8(img: np.ndarray) -> np.ndarray:
    """Any decoded image as [H,W,3] uint8 RGB from OpenCV's BGR(A) order.

    Grayscale is repeated to three channels; 16-bit is scaled by 255/65535 (rounded); float images are taken
    as 0..1; an alpha channel is composited over black (what a transparent pixel shows is undefined).
    """
    img = np.asarray(img)
    if img.dtype == np.uint16:
        x = img.astype(np.float64) / 65535.0
    elif img.dtype == np.uint8:
        x = img.astype(np.float64) / 255.0
    elif np.issubdtype(img.dtype, np.floating):
        x = np.clip(np.nan_to_num(img.astype(np.float64)), 0.0, 1.0)
    else:
        raise ValueError(f"unsupported image pixel type {img.dtype}")
    if x.ndim == 2:
        x = x[..., None]
    if x.ndim != 3 or x.shape[2] not in (1, 2, 3, 4):
        raise ValueError(f"unsupported image shape {img.shape}")
    c = x.shape[2]
    if c in (2, 4):  # gray+alpha, BGRA
        x = x[..., :-1] * x[..., -1:]
    if x.shape[2] == 1:
        x = np.repeat(x, 3, axis=2)
    else:
        x = x[..., ::-1]  # BGR -> RGB
    return np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8)


def fit_image(img: np.ndarray, height: int, width: int) -> np.ndarray:
    """An RGB image brought to a video's frame size: scaled to cover it (aspect ratio kept), centre-cropped."""
    return resize_cover(np.asarray(img, dtype=np.uint8)[None], height, width)[0]
