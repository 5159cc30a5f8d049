"""Sample strips, thumbnails and animated previews of a video's clips, from :func:`hat.show.sheet_rows`.

The clips come from :meth:`Benchmark.compose` (through ``sheet_rows``), so a strip shows exactly the
pixels eval sees; here they are only shrunk, tiled and labelled.
"""

from __future__ import annotations

import io

import cv2
import numpy as np

from ..errors import HatError
from ..show import SheetRow, pick_frames

#: a strip cell's longer side, a class page thumbnail's, a preview cell's (pixels)
STRIP_CELL = 112
THUMB_SIZE = 128
PREVIEW_CELL = 80
#: space for the row labels on the left of a strip, and between cells
LABEL_W = 150
PAD = 2
BG = (255, 255, 255)
JPEG_QUALITY = 88
WEBP_QUALITY = 70
#: frames of an animated preview at most (evenly chosen from the evaluation frames)
PREVIEW_FRAMES = 16


def fit(frame: np.ndarray, size: int) -> np.ndarray:
    """The frame shrunk so its longer side is at most ``size`` (area averaging); never enlarged."""
    h, w = frame.shape[:2]
    s = min(1.0, size / max(h, w))
    nh, nw = max(1, round(h * s)), max(1, round(w * s))
    if (nh, nw) == (h, w):
        return frame.copy()
    return cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_AREA)


def grid(cells: list[list[np.ndarray]], pad: int = PAD, bg: tuple[int, int, int] = BG) -> np.ndarray:
    """Equal-sized RGB cells laid out row by row with ``pad`` pixels between them and around them."""
    if not cells or not cells[0]:
        raise HatError("nothing to tile")
    h, w = cells[0][0].shape[:2]
    rows, cols = len(cells), max(len(r) for r in cells)
    out = np.empty((pad + rows * (h + pad), pad + cols * (w + pad), 3), np.uint8)
    out[:] = bg
    for i, r in enumerate(cells):
        for j, c in enumerate(r):
            if c.shape[:2] != (h, w):
                raise HatError(f"cell {i},{j} is {c.shape[:2]}, not {(h, w)}")
            y, x = pad + i * (h + pad), pad + j * (w + pad)
            out[y:y + h, x:x + w] = c
    return out


def _label_column(labels: list[str], cell_h: int, width: int, pad: int = PAD) -> np.ndarray:
    col = np.full((pad + len(labels) * (cell_h + pad), width, 3), 255, np.uint8)
    for i, text in enumerate(labels):
        lines = text.split("\n")
        y0 = pad + i * (cell_h + pad) + max(12, (cell_h - 13 * len(lines)) // 2 + 10)
        for k, line in enumerate(lines):
            cv2.putText(col, line[:26], (4, y0 + 13 * k), cv2.FONT_HERSHEY_SIMPLEX, 0.36, (0, 0, 0), 1, cv2.LINE_AA)
    return col


def strip(rows: list[SheetRow], frames: int = 4, cell: int = STRIP_CELL, label_w: int = LABEL_W) -> np.ndarray:
    """One image: a row per clip (labelled on the left), ``frames`` evaluation frames evenly chosen."""
    cols = pick_frames(len(rows[0].clip), frames)
    img = grid([[fit(r.clip[t], cell) for t in cols] for r in rows])
    if label_w:
        h = fit(rows[0].clip[0], cell).shape[0]
        img = np.concatenate([_label_column([r.label for r in rows], h, label_w), img], axis=1)
    return img


def jpeg(img: np.ndarray, quality: int = JPEG_QUALITY) -> bytes:
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(img[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise HatError("cannot encode a JPEG")
    return buf.tobytes()


def preview_frames(rows: list[SheetRow], cell: int = PREVIEW_CELL, max_frames: int = PREVIEW_FRAMES) -> list[np.ndarray]:
    """Frame t of the animation: every row's frame t side by side, in the strip's row order (at most
    ``max_frames`` frames, evenly chosen)."""
    return [grid([[fit(r.clip[t], cell) for r in rows]]) for t in pick_frames(len(rows[0].clip), max_frames)]


def webp(frames: list[np.ndarray], fps: float = 8.0, quality: int = WEBP_QUALITY) -> bytes:
    """An endlessly looping animated WebP (Pillow; lossy, a fraction of a GIF's size, shown by every current browser)."""
    from PIL import Image

    ims = [Image.fromarray(f) for f in frames]
    buf = io.BytesIO()
    ims[0].save(buf, format="WEBP", save_all=True, append_images=ims[1:], loop=0,
                duration=max(20, int(round(1000 / fps))), quality=quality, method=4)
    return buf.getvalue()
