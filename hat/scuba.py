"""SCUBA / SCUFO (Li et al., ICCV 2023): the person of a video on a still background, and its frozen twin.

Backgrounds come from three sources: ``places`` (a folder of scene images the user gives; SCUBA used
the Places365 test images), ``stripes`` (procedural sinusoidal stripes drawn from a seed, so the set
exists on any machine) and ``still`` (one frame of another class's Background-Only video: our own
inpainted scenes). Each (source, repeat, foreground video) gets its background from its own seed, so
the draw does not depend on processing order; the draws are the rows of ``scuba.csv``, the only file
these sets add to a benchmark: the clips themselves are composed on the fly (:mod:`hat.compose`).
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from .compose import to_rgb8
from .errors import HatError
from .layout import SCUBA_CSV
from .store import stable_seed

SCUBA_SOURCES = ("places", "stripes", "still")
#: what a build makes unless told otherwise: nothing external needed
DEFAULT_SCUBA = ("stripes", "still")
SCUBA_FILE = SCUBA_CSV  # kept for importers; hat.layout owns the name
SCUBA_COLUMNS = ["set", "repeat", "fg_video", "fg_label", "fg_class", "source", "background", "bg_label", "bg_class",
                 "bg_frame", "image_sha256", "seed"]
#: SCUBA's own foreground filter: at least this share of the evaluation frames with at least this person coverage
SCUBA_MIN_FRAMES, SCUBA_MIN_COVERAGE = 0.90, 0.10
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".jp2", ".pgm", ".ppm", ".pnm")
NO_OTHER_CLASS = "no background video of another class"


def scuba_set(src: str) -> str:
    return f"scuba_{src}"


def scufo_set(src: str) -> str:
    return f"scufo_{src}"


#: every SCUBA/SCUFO set name, each source's pair together
SCUBA_SETS = tuple(s for src in SCUBA_SOURCES for s in (scuba_set(src), scufo_set(src)))


def set_source(set_name: str) -> str:
    """``scuba_stripes`` / ``scufo_stripes`` -> ``stripes``."""
    return set_name.split("_", 1)[1]


def passes_scuba_filter(eval_coverage: np.ndarray) -> bool:
    """SCUBA's rule: >= 90 % of the evaluation frames show >= 10 % person (no upper bound)."""
    cov = np.asarray(eval_coverage, dtype=np.float64)
    return bool(len(cov)) and float((cov >= SCUBA_MIN_COVERAGE).mean()) >= SCUBA_MIN_FRAMES


# ----------------------------------------------------------------------------- images


@dataclass
class ImageScan:
    """A folder's image files (relative POSIX paths, sorted) and the files skipped, with why."""

    folder: Path
    usable: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def notes(self, k: int = 5) -> list[str]:
        if not self.skipped:
            return []
        why = Counter(r for _, r in self.skipped)
        named = ", ".join(f"{n} ({r})" for n, r in self.skipped[:k]) + (f" and {len(self.skipped) - k} more" if len(self.skipped) > k else "")
        return [f"scuba images: {len(self.usable)} usable in {self.folder}, {len(self.skipped)} skipped "
                f"({', '.join(f'{v} {r}' for r, v in sorted(why.items()))}): {named}"]


def scan_images(folder: str | os.PathLike) -> ImageScan:
    """Every file under ``folder``: image files whose header OpenCV can read are usable, the others skipped.

    Only headers are read here (a Places365 folder holds 328k images); a usable file that still fails to
    decode is found when it is drawn (:func:`sample_scuba`).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise HatError(f"scuba images folder not found: {folder} (give a folder of scene images with --scuba-images)")
    scan = ImageScan(folder)
    for p in sorted(q for q in folder.rglob("*") if q.is_file()):
        rel = p.relative_to(folder).as_posix()
        if p.name.startswith("."):
            continue
        if p.suffix.lower() not in IMAGE_EXTENSIONS:
            scan.skipped.append((rel, "not an image"))
        elif not cv2.haveImageReader(str(p)):
            scan.skipped.append((rel, "unreadable"))
        else:
            scan.usable.append(rel)
    return scan


def check_images(scan: ImageScan, needed: int) -> None:
    """Fewer usable images than one video's repeats need (each repeat its own image) is an error."""
    if len(scan.usable) < needed:
        skipped = f", {len(scan.skipped)} skipped (e.g. {scan.skipped[0][0]}: {scan.skipped[0][1]})" if scan.skipped else ""
        raise HatError(f"scuba images: {len(scan.usable)} usable images in {scan.folder}{skipped}; "
                       f"need at least {needed} (one per repeat, --repeats {needed})")


def read_image(path: str | os.PathLike) -> np.ndarray:
    """[H,W,3] uint8 RGB from any image file (grayscale, RGBA, 16-bit, float: see :func:`hat.compose.to_rgb8`)."""
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None or img.size == 0:
        raise HatError(f"cannot decode image {path}")
    try:
        return to_rgb8(img)
    except ValueError as e:
        raise HatError(f"image {path}: {e}") from None


def image_hash(path: str | os.PathLike) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


# ----------------------------------------------------------------------------- sampling


@dataclass
class ScubaReport:
    made: Counter = field(default_factory=Counter)
    missing: Counter = field(default_factory=Counter)  # (set, reason) -> count
    undecodable: list[str] = field(default_factory=list)

    def notes(self) -> list[str]:
        out = [f"{s}: {k} backgrounds not drawn ({r})" for (s, r), k in sorted(self.missing.items())]
        if self.undecodable:
            out.append(f"scuba images: {len(self.undecodable)} drawn images failed to decode and were skipped: "
                       f"{', '.join(self.undecodable[:5])}" + (f" and {len(self.undecodable) - 5} more" if len(self.undecodable) > 5 else ""))
        return out


def sample_scuba(
    foregrounds: pd.DataFrame,
    backgrounds: pd.DataFrame,
    classes: list[str],
    *,
    sources: list[str],
    repeats: int,
    num_frames: int,
    seed: int,
    images: ImageScan | None = None,
) -> tuple[pd.DataFrame, ScubaReport]:
    """One row per (source, repeat, foreground): which image, stripes seed or still frame is its background.

    ``foregrounds`` / ``backgrounds`` have columns video_id, label. ``still``: a class other than the
    foreground's (as swap_random draws it), then one of its videos, then one of its T frames. ``places``:
    the repeats of one video get different images; drawn images are decoded, and one that fails is
    dropped from the pool and the draw redone, so the table depends only on the folder's content.
    """
    report = ScubaReport()
    bg_by_class: dict[int, list[str]] = {}
    for row in backgrounds.itertuples(index=False):
        bg_by_class.setdefault(int(row.label), []).append(str(row.video_id))
    for c in bg_by_class:
        bg_by_class[c].sort()
    bg_classes = sorted(bg_by_class)
    pool = list(images.usable) if images is not None else []
    hashes: dict[str, str] = {}
    fg = list(foregrounds[["video_id", "label"]].itertuples(index=False))
    while True:
        rows, bad, picks = [], [], {}
        report.made.clear()
        report.missing.clear()
        for src in sources:
            for rep in range(repeats):
                for row in fg:
                    vid, la = str(row.video_id), int(row.label)
                    s = stable_seed("scuba", seed, src, rep, vid)
                    r = {"set": scuba_set(src), "repeat": rep, "fg_video": vid, "fg_label": la, "fg_class": classes[la],
                         "source": src, "background": "", "bg_label": -1, "bg_class": "", "bg_frame": -1,
                         "image_sha256": "", "seed": s}
                    if src == "still":
                        rng = np.random.default_rng(s)
                        others = [c for c in bg_classes if c != la]
                        if not others:
                            report.missing[(scuba_set(src), NO_OTHER_CLASS)] += 1
                            continue
                        lb = others[rng.integers(len(others))]
                        r.update(background=bg_by_class[lb][rng.integers(len(bg_by_class[lb]))], bg_label=lb,
                                 bg_class=classes[lb], bg_frame=int(rng.integers(num_frames)))
                    elif src == "places":
                        # the repeats of one video: distinct images drawn from the video's own seed
                        if vid not in picks:
                            rng = np.random.default_rng(stable_seed("scuba-places", seed, vid))
                            picks[vid] = rng.choice(len(pool), size=min(repeats, len(pool)), replace=False)
                        name = pool[int(picks[vid][rep % len(picks[vid])])]
                        if name not in hashes:
                            try:
                                read_image(images.folder / name)
                                hashes[name] = image_hash(images.folder / name)
                            except (HatError, OSError):
                                bad.append(name)
                                continue
                        r.update(background=name, image_sha256=hashes[name])
                    elif src != "stripes":
                        raise HatError(f"unknown scuba source '{src}' (valid: {', '.join(SCUBA_SOURCES)})")
                    rows.append(r)
                    report.made[scuba_set(src)] += 1
        if not bad:
            break
        report.undecodable += sorted(set(bad))
        pool = [p for p in pool if p not in set(bad)]
        if images is not None and len(pool) < repeats:
            check_images(ImageScan(images.folder, pool, images.skipped + [(b, "undecodable") for b in report.undecodable]), repeats)
    return pd.DataFrame(rows, columns=SCUBA_COLUMNS), report
