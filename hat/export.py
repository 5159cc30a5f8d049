"""``hat export``: write any set to files for other frameworks, pixel-identical to what eval sees.

Besides the sets, ``masks`` writes each usable video's person masks on its evaluation frames (what
the sets were composed with), in the same folder layout: PNG per frame (0 or 255), or with
``--format npz`` one ``masks`` array [T,H,W] bool with ``src_index`` (each frame's index in the video).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import pandas as pd

from .bench import REPEATED_SETS, Benchmark
from .errors import HatError
from .store import atomic_path, check_out_dir, safe_name, write_csv, write_npz
from .video import write_video

FORMATS = ("mp4", "frames", "npz", "mmaction")
#: the pseudo-set of person masks, and the word for every available set (``--set all,masks``)
MASKS = "masks"
ALL = "all"
MMACTION_LAYOUTS = ("rawframes", "videos")
#: rawframes are PNG (lossless): set ``filename_tmpl='img_{:05}.png'`` in the MMAction2 dataset config
MMACTION_FRAME = "img_{:05d}.png"


def _write_pngs(folder: Path, clip: np.ndarray, pattern: str, video_id: str) -> None:
    """RGB frames [T,H,W,3], or single-channel ones [T,H,W] (masks)."""
    for t, f in enumerate(clip, start=1):
        ok, buf = cv2.imencode(".png", np.ascontiguousarray(f if f.ndim == 2 else f[..., ::-1]))
        if not ok:
            raise HatError(f"cannot encode frame {t} of {video_id}")
        with atomic_path(folder / pattern.format(t)) as tmp:
            tmp.write_bytes(buf.tobytes())


def parse_sets(bench: Benchmark, text: str) -> list[str]:
    """``a,b``, ``all`` (every set this benchmark has) and ``masks`` -> set names, checked, in order, once each."""
    names: list[str] = []
    for s in (t.strip() for t in text.split(",")):
        if s:
            names += bench.available_sets() if s == ALL else [s]
    names = list(dict.fromkeys(names))
    if not names:
        raise HatError(f"no set given (valid: {', '.join(bench.available_sets())}, {ALL}, {MASKS})")
    bench.check_sets([s for s in names if s != MASKS])
    return names


def _check_repeats(bench: Benchmark, set_name: str, repeats: list[int] | None) -> None:
    if repeats:
        have = bench.repeats_of(set_name)
        bad = [r for r in repeats if r not in have]
        if bad:
            raise HatError(f"no repeat {bad[0]} in {set_name} (valid: {', '.join(map(str, have)) or 'none: not a swap or SCUBA set'})")


def _check_format(fmt: str, layout: str) -> None:
    if fmt not in FORMATS:
        raise HatError(f"unknown export format '{fmt}' (valid: {', '.join(FORMATS)})")
    if fmt == "mmaction" and layout not in MMACTION_LAYOUTS:
        raise HatError(f"unknown mmaction layout '{layout}' (valid: {', '.join(MMACTION_LAYOUTS)})")


def export_sets(
    bench: Benchmark,
    sets: list[str],
    out: str | Path,
    *,
    fmt: str = "mp4",
    repeats: list[int] | None = None,
    fps: float = 25.0,
    layout: str = "rawframes",
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, pd.DataFrame]:
    """Several sets (and ``masks``) into one folder; ``repeats`` select the swap sets' repeats.

    Everything is checked before the first file is written.
    """
    _check_format(fmt, layout)
    check_out_dir(out, "exported sets")
    swaps = [s for s in sets if s in REPEATED_SETS]
    for s in swaps or sets[:1]:
        _check_repeats(bench, s, repeats)
    counts = {s: sum(1 for _ in bench.items([s], repeats if s in swaps else None)) if s != MASKS else len(bench.videos)
              for s in sets}
    total, done = sum(counts.values()), 0
    tables = {}
    for s in sets:
        def step(k: int, _n: int, base: int = done) -> None:
            if progress:
                progress(base + k, total)

        if s == MASKS:
            tables[s] = export_masks(bench, out, fmt=fmt, layout=layout, progress=step)
        else:
            tables[s] = export_set(bench, s, out, fmt=fmt, repeats=repeats if s in swaps else None, fps=fps,
                                   layout=layout, progress=step)
        done += counts[s]
    return tables


def export_masks(
    bench: Benchmark,
    out: str | Path,
    *,
    fmt: str = "mp4",
    layout: str = "rawframes",
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """The person masks of every usable video's evaluation frames, listed in ``masks.csv``."""
    _check_format(fmt, layout)
    out = Path(out)
    videos = bench.videos
    rows = []
    for k, row in enumerate(videos.itertuples(index=False)):
        parts = bench.parts(row.video_id)
        name = safe_name(row.video_id)
        if fmt == "npz":
            rel = Path(MASKS) / f"{name}.npz"
            write_npz(out / rel, masks=parts.masks, src_index=parts.src_index)
        else:
            rel = Path(MASKS) / name
            pngs = parts.masks.astype(np.uint8) * 255
            _write_pngs(out / rel, pngs, MMACTION_FRAME if fmt == "mmaction" else "{:06d}.png", row.video_id)
        label = int(row.label)
        rows.append({"file": str(rel), "video_id": row.video_id, "label": label, "class": bench.classes[label],
                     "frames": len(parts.masks), "src_index": " ".join(map(str, parts.src_index.tolist()))})
        if progress:
            progress(k + 1, len(videos))
    table = pd.DataFrame(rows)
    write_csv(out / f"{MASKS}.csv", table)
    return table


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
    _check_format(fmt, layout)
    out = Path(out)
    _check_repeats(bench, set_name, repeats)
    items = list(bench.items([set_name], repeats))
    rows = []
    for k, it in enumerate(items):
        sub = Path(set_name) / (f"r{it.repeat}" if set_name in REPEATED_SETS else "")
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
    if set_name in REPEATED_SETS:
        for rep, df in table.groupby("repeat"):
            write_text(out / f"{set_name}_r{rep}_list_{layout}.txt", lines(df))
