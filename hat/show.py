"""``hat show``: one contact sheet of a video, to see at a glance what a benchmark made of it.

Rows are the original, its mask overlay, Background-Only, Human-Only, then one clip of every other
set the video is in (masked sets, object sets, one swap per swap type it is a foreground of);
columns are up to ``max_frames`` of its evaluation frames, evenly chosen. Clips come from
:meth:`Benchmark.compose`, so the pixels are exactly the ones eval sees.
"""

from __future__ import annotations

import io
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .bench import BASE_SETS, OBJECT_SETS, SWAP_SETS, Benchmark, Item
from .errors import HatError
from .store import safe_name, write_bytes

#: the colour (RGB) and opacity of the person in the mask-overlay row; boxes are drawn in the same colour
OVERLAY_RGB = (255, 40, 40)
OVERLAY_ALPHA = 0.45
#: how many evaluation frames a sheet shows at most
MAX_FRAMES = 8
#: where the sheet goes unless told: beside the benchmark's files (never part of its hashes)
SHOW_DIR = "show"


@dataclass
class SheetRow:
    label: str  # what the row is, as printed on the sheet
    clip: np.ndarray  # [T,H,W,3] uint8


def overlay_mask(frames: np.ndarray, masks: np.ndarray, rgb: tuple[int, int, int] = OVERLAY_RGB,
                 alpha: float = OVERLAY_ALPHA) -> np.ndarray:
    """Frames with the masked pixels blended towards ``rgb`` (``alpha`` of the colour, rounded); others untouched."""
    out = frames.copy()
    blend = np.rint(frames.astype(np.float32) * (1 - alpha) + np.asarray(rgb, np.float32) * alpha)
    out[masks] = blend[masks].astype(np.uint8)
    return out


def draw_boxes(frames: np.ndarray, boxes: list[np.ndarray], rgb: tuple[int, int, int] = OVERLAY_RGB) -> np.ndarray:
    """One-pixel outlines of each frame's boxes (x0, y0, x1, y1 exclusive, ...)."""
    out = np.ascontiguousarray(frames.copy())
    for f, bs in zip(out, boxes):
        for b in bs:
            x0, y0, x1, y1 = (int(round(float(v))) for v in b[:4])
            cv2.rectangle(f, (x0, y0), (max(x0, x1 - 1), max(y0, y1 - 1)), rgb, 1)
    return out


def pick_frames(t: int, k: int = MAX_FRAMES) -> np.ndarray:
    """Up to ``k`` of ``t`` frame positions, evenly spread, first and last included."""
    if t <= k:
        return np.arange(t)
    return np.unique(np.rint(np.linspace(0, t - 1, k)).astype(np.int64))


def manifest_row(bench: Benchmark, video_id: str) -> dict[str, Any]:
    """The video's manifest row; an unknown id names a few valid ones."""
    rows = bench.manifest[bench.manifest["video_id"] == video_id]
    if rows.empty:
        ids = bench.manifest["video_id"].tolist()
        some = ", ".join(ids[:5]) + (", ..." if len(ids) > 5 else "")
        raise HatError(f"unknown video '{video_id}' in {bench.name} ({len(ids)} videos, e.g. {some})")
    return {k: v for k, v in rows.iloc[0].to_dict().items()}


def sheet_rows(bench: Benchmark, video_id: str) -> list[SheetRow]:
    """The clips of a usable video, one per row, in the order the sheet shows them."""
    row = manifest_row(bench, video_id)
    if row["status"] != "ok":
        raise HatError(f"video '{video_id}' is not in the benchmark's sets: {row['status']} ({row['reason']})")
    label = int(row["label"])
    parts = bench.parts(video_id)
    avail = set(bench.available_sets())

    def clip(s: str, repeat: int = 0, bg: str = "", bg_label: int = -1) -> np.ndarray:
        return bench.compose(Item(s, repeat, video_id, label, bg, bg_label))

    overlay = draw_boxes(overlay_mask(parts.frames, parts.masks), parts.boxes)
    out = [SheetRow("original", clip("original")), SheetRow("mask overlay", overlay),
           SheetRow("background_only", clip("background_only")), SheetRow("human_only", clip("human_only"))]
    shown = {"original", "background_only", "human_only"}
    out += [SheetRow(s, clip(s)) for s in BASE_SETS if s not in shown and s in avail]
    if parts.object_masks is not None:
        out += [SheetRow(s, clip(s)) for s in OBJECT_SETS if s in avail]
    mine = bench.pairs[bench.pairs["fg_video"] == video_id].sort_values(["repeat"], kind="stable")
    for s in SWAP_SETS:
        p = mine[mine["set"] == s]
        if len(p):
            first = p.iloc[0]
            bg, bg_label = str(first["bg_video"]), int(first["bg_label"])
            text = f"{s} r{int(first['repeat'])}\nbg: {bg}\n({bench.classes[bg_label]})"
            out.append(SheetRow(text, clip(s, int(first["repeat"]), bg, bg_label)))
    sc = bench.scuba[(bench.scuba["fg_video"] == video_id) & (bench.scuba["repeat"] == 0)]
    for r in sc.itertuples(index=False):  # one SCUBA clip and its SCUFO twin per source (repeat 0)
        bg = str(r.background)
        where = f"\nbg: {bg}" + (f" f{int(r.bg_frame)}\n({r.bg_class})" if r.source == "still" else "") if bg else ""
        for s in (f"scuba_{r.source}", f"scufo_{r.source}"):
            out.append(SheetRow(f"{s} r0{where}", clip(s, 0, bg, int(r.bg_label))))
    return out


def manifest_text(row: dict[str, Any], width: int = 160) -> str:
    """``key=value`` pairs, wrapped: the sheet's footer."""
    pairs = "  ".join(f"{k}={v}" for k, v in row.items() if str(v) != "")
    return "\n".join(textwrap.wrap(pairs, width=width, break_long_words=True, break_on_hyphens=False))


def contact_sheet(bench: Benchmark, video_id: str, max_frames: int = MAX_FRAMES) -> bytes:
    """The sheet as PNG bytes (matplotlib, Agg: no display needed)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = sheet_rows(bench, video_id)
    row = manifest_row(bench, video_id)
    parts = bench.parts(video_id)
    cols = pick_frames(len(parts.frames), max_frames)
    h, w = parts.frames.shape[1:3]
    cell = 1.7  # inches per frame's longer side
    cw, ch = (cell, cell * h / w) if w >= h else (cell * w / h, cell)
    label_w, head_h, foot_size = 1.9, 0.6, 7
    fig_w = label_w + len(cols) * cw + 0.2
    footer = manifest_text(row, width=max(60, int((fig_w - 0.3) * 72 / (foot_size * 0.62))))  # monospace: 0.6 em
    foot_h = foot_size / 72 * 1.25 * (footer.count("\n") + 1) + 0.25
    fig_h = head_h + len(rows) * (ch + 0.05) + foot_h
    fig = Figure(figsize=(fig_w, fig_h), dpi=100)
    FigureCanvasAgg(fig)
    fig.text(0.01, 1 - 0.12 / fig_h, f"{video_id}: {row['class']} (label {row['label']}), {bench.name}",
             fontsize=11, fontweight="bold", va="top")
    for c, t in enumerate(cols):
        x = (label_w + (c + 0.5) * cw) / fig_w
        fig.text(x, 1 - (head_h - 0.08) / fig_h, f"frame {int(parts.src_index[t])}", fontsize=7, ha="center", va="bottom")
    for r, sr in enumerate(rows):
        y0 = 1 - (head_h + (r + 1) * (ch + 0.05)) / fig_h
        fig.text((label_w - 0.08) / fig_w, y0 + ch / 2 / fig_h, sr.label, fontsize=7, ha="right", va="center")
        for c, t in enumerate(cols):
            ax = fig.add_axes(((label_w + c * cw) / fig_w, y0, cw * 0.97 / fig_w, ch / fig_h))
            ax.imshow(sr.clip[t], interpolation="nearest")
            ax.set_axis_off()
    fig.text(0.01, 0.1 / fig_h, footer, fontsize=foot_size, family="monospace", va="bottom")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def write_contact_sheet(bench: Benchmark, video_id: str, out: str | Path | None = None,
                        max_frames: int = MAX_FRAMES) -> Path:
    """Write the sheet (atomically) to ``out``, by default ``<bench>/show/<video>.png``."""
    path = Path(out) if out else bench.root / SHOW_DIR / f"{safe_name(video_id)}.png"
    if max_frames < 1:
        raise HatError(f"--frames must be at least 1 (got {max_frames})")
    png = contact_sheet(bench, video_id, max_frames)
    write_bytes(path, png)
    return path
