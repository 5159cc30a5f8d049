"""Atomic file writes and the per-video artifact store of a benchmark directory.

Every artifact is written to a temporary name and renamed into place, so a file that exists is
complete: resuming a killed build just skips the artifacts already there.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from .errors import HatError
from .layout import ARTIFACTS


def check_out_dir(out: str | os.PathLike, what: str = "results") -> None:
    """Refuse, before any work, a directory that neither exists nor can be made under its nearest existing folder.

    Tries a file there (removed at once): permissions alone miss read-only mounts and /proc, where root may
    "write" but nothing can be created.
    """
    out = Path(out)
    p = out
    while not p.exists() and p != p.parent:
        p = p.parent
    if not p.is_dir():
        raise HatError(f"cannot write {what} to {out}: {p} is not a directory")
    try:
        fd, probe = tempfile.mkstemp(prefix=".hat-probe.tmp-", dir=p)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        why = "no permission to write in" if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS) else "cannot create files in"
        raise HatError(f"cannot write {what} to {out}: {why} {p} ({e.strerror})") from None


def check_out_file(out: str | os.PathLike, what: str) -> None:
    """:func:`check_out_dir` for a file to write: not a directory, and its folder writable or creatable."""
    out = Path(out)
    if out.is_dir():
        raise HatError(f"cannot write {what} to {out}: it is a directory (give a file name)")
    check_out_dir(out.parent, what)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary sibling path; rename it onto ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


#: A temporary file untouched this long is a leftover whatever wrote it (a writer on another machine included).
STALE_TMP_S = 3600.0
#: ... and one whose writer process is gone from this machine, once untouched this long (writes take seconds).
DEAD_WRITER_TMP_S = 60.0
_TMP_PID = re.compile(r"\.tmp-(\d+)$")


def remove_stale_tmp(root: str | os.PathLike, started: float) -> int:
    """Remove the ``*.tmp-<pid>`` files killed writers left under ``root``; returns how many.

    Only files last written before ``started`` (this run's start), and of those only ones whose writer is
    gone from this machine (untouched for :data:`DEAD_WRITER_TMP_S`) or that are untouched for
    :data:`STALE_TMP_S`: shards of the same build writing here at the same time keep their files.
    """
    removed = 0
    for p in Path(root).rglob("*.tmp-*"):
        try:
            age = started - p.stat().st_mtime
        except FileNotFoundError:  # renamed into place meanwhile
            continue
        m = _TMP_PID.search(p.name)
        gone = m is not None and not _process_alive(int(m.group(1)))
        if age > STALE_TMP_S or (gone and age > DEAD_WRITER_TMP_S):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
                removed += 1
    return removed


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())


def write_text(path: str | os.PathLike, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def write_npz(path: str | os.PathLike, **arrays: np.ndarray) -> None:
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    write_bytes(path, buf.getvalue())


def read_npz(path: str | os.PathLike, keys: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
    """The arrays of an .npz (only ``keys`` if given: the others are never decompressed)."""
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in (z.files if keys is None else keys) if k in z.files}


def write_csv(path: str | os.PathLike, df) -> None:
    """Deterministic CSV (fixed float format, LF line ends) so equal tables give equal bytes."""
    write_text(path, df.to_csv(index=False, lineterminator="\n", float_format="%.6g"))


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sha256_tree(root: str | os.PathLike) -> str:
    """One hash over every file under ``root`` (relative names and contents), order-independent."""
    root = Path(root)
    h = hashlib.sha256()
    for p in sorted(q for q in root.rglob("*") if q.is_file() and ".tmp-" not in q.name):
        h.update(str(p.relative_to(root)).encode() + b"\0" + sha256_file(p).encode() + b"\n")
    return h.hexdigest()


_SAFE = re.compile(r"[^A-Za-z0-9._-]")


def safe_name(video_id: str) -> str:
    """A file name for a video id; ids with odd characters get a short hash so names stay unique."""
    clean = _SAFE.sub("_", video_id)
    if clean != video_id or clean.startswith("."):
        clean = f"{clean.lstrip('.')}-{hashlib.sha1(video_id.encode()).hexdigest()[:8]}"
    return clean


def stable_seed(*parts: Any) -> int:
    """A 63-bit seed from any parts; independent of process, order of work and sharding."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


class ArtifactStore:
    """``<bench>/artifacts/<stage>/<safe video id>.<ext>``: one file per video per stage."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root) / ARTIFACTS

    def path(self, stage: str, video_id: str, ext: str) -> Path:
        return self.root / stage / f"{safe_name(video_id)}.{ext}"

    def exists(self, stage: str, video_id: str, ext: str) -> bool:
        return self.path(stage, video_id, ext).is_file()


def first_difference(a: Any, b: Any, prefix: str = "") -> str:
    """The first setting in which two nested dicts differ, as ``key.sub: old then, new now``."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if a.get(k) != b.get(k):
                return first_difference(a.get(k), b.get(k), f"{prefix}{k}.")
    return f"{prefix.rstrip('.')}: {a!r} then, {b!r} now"
