"""``hat export``: write any set to files for other frameworks, pixel-identical to what eval sees."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import pandas as pd

from .bench import Benchmark
from .errors import HatError
from .store import atomic_path, safe_name, write_csv, write_npz
from .video import write_video

FORMATS = ("mp4", "frames", "npz", "mmaction")
MMACTION_LAYOUTS = ("rawframes", "videos")
#: rawframes are PNG (lossless): set ``filename_tmpl='img_{:05}.png'`` in the MMAction2 dataset config
MMACTION_FRAME = "img_{:05d}.png"


def _write_pngs(folder: Path, clip: np.ndarray, pattern: str, video_id: str) -> None:
    for t, f in enumerate(clip, start=1):
        ok, buf = cv2.imencode(".png", np.ascontiguousarray(f[..., ::-1]))
        if not ok:
            raise HatError(f"cannot encode frame {t} of {video_id}")
        with atomic_path(folder / pattern.format(t)) as tmp:
            tmp.write_bytes(buf.tobytes())


def export_set(
    bench: Benchmark,
    set_name: str,
    out: str | Path,
    *,
    fmt: str = "mp4",
    repeats: list[int] | None = None,
    fps: float = 25.0,
    layout: str = "rawframes",
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """Write every clip of a set; returns (and saves as ``<set>.csv``) the list of files and labels.

    ``mp4`` is lossless H.264 in RGB (qp 0), so decoding it gives back exactly the composed pixels.
    ``mmaction`` writes ``layout`` rawframes (PNG) or videos (lossless mp4) plus MMAction2 list files
    (``<set>_list_<layout>.txt``, and one per repeat for swap sets) with the foreground's label.
    """
    if fmt not in FORMATS:
        raise HatError(f"unknown export format '{fmt}' (valid: {', '.join(FORMATS)})")
    if fmt == "mmaction" and layout not in MMACTION_LAYOUTS:
        raise HatError(f"unknown mmaction layout '{layout}' (valid: {', '.join(MMACTION_LAYOUTS)})")
    out = Path(out)
    if repeats:
        have = sorted(set(bench.pairs.loc[bench.pairs["set"] == set_name, "repeat"]))
        bad = [r for r in repeats if r not in have]
        if bad:
            raise HatError(f"no repeat {bad[0]} in {set_name} (valid: {', '.join(map(str, have)) or 'none: not a swap set'})")
    items = list(bench.items([set_name], repeats))
    rows = []
    for k, it in enumerate(items):
        sub = Path(set_name) / (f"r{it.repeat}" if set_name.startswith("swap_") else "")
        name = safe_name(it.video_id)
        clip = bench.compose(it)
        if fmt == "mp4" or (fmt == "mmaction" and layout == "videos"):
            rel = sub / f"{name}.mp4"
            if not (out / rel).is_file():
                write_video(out / rel, clip, fps=fps, lossless=True)
        elif fmt == "npz":
            rel = sub / f"{name}.npz"
            write_npz(out / rel, frames=clip)
        else:
            rel = sub / name
            _write_pngs(out / rel, clip, MMACTION_FRAME if fmt == "mmaction" else "{:06d}.png", it.video_id)
        rows.append({
            "file": str(rel), "video_id": it.video_id, "label": it.label, "class": bench.classes[it.label],
            "repeat": it.repeat, "bg_video": it.bg_video, "bg_label": it.bg_label, "frames": len(clip),
        })
        if progress:
            progress(k + 1, len(items))
    table = pd.DataFrame(rows)
    write_csv(out / f"{set_name}.csv", table)
    if fmt == "mmaction":
        write_mmaction_lists(table, out, set_name, layout)
    return table


def write_mmaction_lists(table: pd.DataFrame, out: Path, set_name: str, layout: str) -> None:
    """VideoDataset lines ``<file> <label>``; RawframeDataset lines ``<dir> <frames> <label>``."""
    from .store import write_text

    def lines(df: pd.DataFrame) -> str:
        if layout == "videos":
            return "".join(f"{r.file} {r.label}\n" for r in df.itertuples(index=False))
        return "".join(f"{r.file} {r.frames} {r.label}\n" for r in df.itertuples(index=False))

    write_text(out / f"{set_name}_list_{layout}.txt", lines(table))
    if set_name.startswith("swap_"):
        for rep, df in table.groupby("repeat"):
            write_text(out / f"{set_name}_r{rep}_list_{layout}.txt", lines(df))
