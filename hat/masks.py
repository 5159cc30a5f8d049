"""Binary mask utilities: RLE storage (COCO format via pycocotools), boxes, coverage, dilation."""

from __future__ import annotations

import cv2
import numpy as np
from pycocotools import mask as mask_utils


def encode_rle(masks: np.ndarray) -> list[dict]:
    """[N,H,W] bool -> COCO RLE dicts with ``counts`` as str (JSON-safe)."""
    masks = np.asarray(masks, dtype=bool)
    if masks.ndim != 3:
        raise ValueError(f"masks must be [N,H,W], got shape {masks.shape}")
    if len(masks) == 0:
        return []
    rles = mask_utils.encode(np.asfortranarray(masks.transpose(1, 2, 0).astype(np.uint8)))
    return [{"size": [int(r["size"][0]), int(r["size"][1])], "counts": r["counts"].decode("ascii")} for r in rles]


def decode_rle(rles: list[dict]) -> np.ndarray:
    if not rles:
        raise ValueError("no masks to decode")
    coco = [{"size": r["size"], "counts": r["counts"].encode("ascii")} for r in rles]
    return mask_utils.decode(coco).transpose(2, 0, 1).astype(bool)


def coverage(masks: np.ndarray) -> np.ndarray:
    """Fraction of pixels covered, per frame."""
    masks = np.asarray(masks, dtype=bool)
    return masks.reshape(len(masks), -1).mean(axis=1)


def boxes_from_masks(masks: np.ndarray) -> np.ndarray:
    """Tight boxes [N,4] int32 as x0, y0, x1, y1 (x1, y1 exclusive); all zeros for an empty mask."""
    masks = np.asarray(masks, dtype=bool)
    out = np.zeros((len(masks), 4), dtype=np.int32)
    rows_any = masks.any(axis=2)
    cols_any = masks.any(axis=1)
    for i in range(len(masks)):
        ys = np.flatnonzero(rows_any[i])
        if len(ys) == 0:
            continue
        xs = np.flatnonzero(cols_any[i])
        out[i] = (xs[0], ys[0], xs[-1] + 1, ys[-1] + 1)
    return out


def boxes_mask(boxes_per_frame: list[np.ndarray], height: int, width: int) -> np.ndarray:
    """Union of boxes as a mask [N,H,W]; boxes are rows x0, y0, x1, y1[, score] (exclusive), clipped."""
    out = np.zeros((len(boxes_per_frame), height, width), dtype=bool)
    for i, boxes in enumerate(boxes_per_frame):
        b = np.asarray(boxes, dtype=float)
        for x0, y0, x1, y1 in b.reshape(len(b), -1)[:, :4] if b.size else []:
            x0, y0 = max(int(np.floor(x0)), 0), max(int(np.floor(y0)), 0)
            x1, y1 = min(int(np.ceil(x1)), width), min(int(np.ceil(y1)), height)
            if x1 > x0 and y1 > y0:
                out[i, y0:y1, x0:x1] = True
    return out


_CROSS = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], dtype=np.uint8)


def dilate(masks: np.ndarray, iterations: int = 4) -> np.ndarray:
    """Grow masks by a 3x3 cross ``iterations`` times (E2FGVI's and HAT's choice)."""
    masks = np.asarray(masks, dtype=bool)
    if iterations <= 0:
        return masks.copy()
    return np.stack([cv2.dilate(m.astype(np.uint8), _CROSS, iterations=iterations) > 0 for m in masks])


def binarize(soft: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Threshold a soft mask once, on the mask itself (never after per-channel image normalisation)."""
    return np.asarray(soft) >= threshold


def temporal_iou(masks: np.ndarray) -> np.ndarray:
    """IoU between consecutive masks [N-1]; 1.0 where both are empty. Low values mean flicker."""
    masks = np.asarray(masks, dtype=bool)
    a, b = masks[:-1], masks[1:]
    inter = (a & b).reshape(len(a), -1).sum(1)
    union = (a | b).reshape(len(a), -1).sum(1)
    return np.where(union > 0, inter / np.maximum(union, 1), 1.0)


def smooth_masks(masks: np.ndarray, window: int = 3) -> np.ndarray:
    """Temporal majority vote over ``window`` neighbouring frames (odd); the ends vote over what exists.

    Removes one-frame flicker (a limb lost or a blob added for one frame) without moving edges that
    persist; window 1 returns a copy.
    """
    masks = np.asarray(masks, dtype=bool)
    if window < 1 or window % 2 == 0:
        raise ValueError(f"smoothing window must be odd and positive (got {window})")
    if window == 1 or len(masks) < 2:
        return masks.copy()
    r = window // 2
    n = len(masks)
    csum = np.concatenate([np.zeros((1, *masks.shape[1:]), np.int32), np.cumsum(masks, axis=0, dtype=np.int32)])
    lo = np.clip(np.arange(n) - r, 0, n)
    hi = np.clip(np.arange(n) + r + 1, 0, n)
    votes = 2 * (csum[hi] - csum[lo])
    count = (hi - lo)[:, None, None]
    return (votes > count) | ((votes == count) & masks)  # a tie (at the ends) keeps the frame's own value


def component_boxes(mask: np.ndarray, min_area: float = 0.002, score: np.ndarray | None = None) -> np.ndarray:
    """Boxes [K,5] of the connected components of one mask covering at least ``min_area`` of the frame.

    For segmenters that give masks but no detector boxes: each blob is a person box for B-top1.
    The score is the mean of ``score`` (e.g. the soft probability) over the blob, else 1.
    """
    mask = np.asarray(mask, dtype=bool)
    h, w = mask.shape
    n, lab, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    rows = []
    for k in range(1, n):
        x, y, bw, bh, area = stats[k]
        if area < min_area * h * w:
            continue
        s = float(score[lab == k].mean()) if score is not None else 1.0
        rows.append([x, y, x + bw, y + bh, s])
    return np.asarray(rows, dtype=np.float32).reshape(-1, 5)


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    inter = (a & b).reshape(len(a), -1).sum(1)
    union = (a | b).reshape(len(a), -1).sum(1)
    return np.where(union > 0, inter / np.maximum(union, 1), 1.0)


def flicker_frames(masks: np.ndarray, ratio: float = 0.5) -> np.ndarray:
    """Frames whose mask disagrees with both neighbours while the neighbours agree with each other.

    A frame t flickers when max(IoU(t-1, t), IoU(t, t+1)) < ratio * IoU(t-1, t+1). Comparing with
    the neighbours' own overlap discounts real motion (stored frames can be far apart in time, so a
    moving person overlaps little anyway); a limb or a whole person lost for one frame still shows.
    The first and last frames are never flagged.
    """
    masks = np.asarray(masks, dtype=bool)
    out = np.zeros(len(masks), dtype=bool)
    if len(masks) < 3:
        return out
    prev, nxt, skip = _iou(masks[:-2], masks[1:-1]), _iou(masks[1:-1], masks[2:]), _iou(masks[:-2], masks[2:])
    out[1:-1] = np.maximum(prev, nxt) < ratio * skip
    return out
