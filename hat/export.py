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

FORMATS = ("mp4", "frames", "npz")


def export_set(
    bench: Benchmark,
    set_name: str,
    out: str | Path,
    *,
    fmt: str = "mp4",
    repeats: list[int] | None = None,
    fps: float = 25.0,
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """Write every clip of a set; returns (and saves as ``<set>.csv``) the list of files and labels.

    ``mp4`` is lossless H.264 in RGB (qp 0), so decoding it gives back exactly the composed pixels.
    """
    if fmt not in FORMATS:
        raise HatError(f"unknown export format '{fmt}' (valid: {', '.join(FORMATS)})")
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
        if fmt == "mp4":
            rel = sub / f"{name}.mp4"
            if not (out / rel).is_file():
                write_video(out / rel, clip, fps=fps, lossless=True)
        elif fmt == "npz":
            rel = sub / f"{name}.npz"
            write_npz(out / rel, frames=clip)
        else:
            rel = sub / name
            for t, f in enumerate(clip, start=1):
                ok, buf = cv2.imencode(".png", np.ascontiguousarray(f[..., ::-1]))
                if not ok:
                    raise HatError(f"cannot encode frame {t} of {it.video_id}")
                with atomic_path(out / rel / f"{t:06d}.png") as tmp:
                    tmp.write_bytes(buf.tobytes())
        rows.append({
            "file": str(rel), "video_id": it.video_id, "label": it.label, "class": bench.classes[it.label],
            "repeat": it.repeat, "bg_video": it.bg_video, "bg_label": it.bg_label, "frames": len(clip),
        })
        if progress:
            progress(k + 1, len(items))
    table = pd.DataFrame(rows)
    write_csv(out / f"{set_name}.csv", table)
    return table
