"""What a benchmark source provides: labelled videos, their frames, and optional ground truth."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..dataset import Source, VideoRecord  # noqa: F401 - the interface every source implements, re-exported
from ..video import VideoInfo


class VideoFileSource(Source):
    """Sources whose records point at video files decoded with PyAV; a missing file is a per-video failure.

    With ``frame_folders`` set, a record whose path is a folder is read as rawframes (see :class:`FrameFolder`).
    """

    #: filename patterns of a folder of frames this source accepts (empty: video files only)
    frame_folders: tuple[str, ...] = ()

    def probe(self, record: VideoRecord) -> VideoInfo:
        from ..errors import VideoError
        from ..video import probe

        if self.frame_folders and record.path and Path(record.path).is_dir():
            return FrameFolder.find(record.path, self.frame_folders).probe()
        if not record.path or not Path(record.path).is_file():
            raise VideoError("missing video file")
        return probe(record.path)

    def read(self, record: VideoRecord, indices: np.ndarray) -> np.ndarray:
        from ..errors import VideoError
        from ..video import read_frames

        if self.frame_folders and record.path and Path(record.path).is_dir():
            return FrameFolder.find(record.path, self.frame_folders).read(indices)
        if not record.path or not Path(record.path).is_file():
            raise VideoError("missing video file")
        return read_frames(record.path, indices)


#: MMAction-style rawframes names, 1-indexed (what Kinetics rawframes use)
JPEG_FRAMES = ("{:06d}.jpg", "img_{:05d}.jpg", "{:05d}.jpg", "image_{:05d}.jpg", "frame_{:06d}.jpg")
#: the same names as PNG (what ``hat export --format frames`` writes)
PNG_FRAMES = tuple(p.replace(".jpg", ".png") for p in JPEG_FRAMES)


@dataclass(frozen=True)
class FrameFolder:
    """A video stored as one image per frame, ``pattern.format(i + 1)`` for frame ``i``; fps unknown (0)."""

    folder: Path
    pattern: str

    @classmethod
    def find(cls, folder: str | Path, patterns: tuple[str, ...] = JPEG_FRAMES) -> "FrameFolder":
        from ..errors import VideoError

        d = Path(folder)
        if not d.is_dir():
            raise VideoError("missing frame folder")
        for pat in patterns:
            if (d / pat.format(1)).is_file():
                return cls(d, pat)
        kinds = " or ".join(dict.fromkeys(p.rsplit(".", 1)[-1].upper().replace("JPG", "JPEG") for p in patterns))
        raise VideoError(f"no {kinds} frames (expected {patterns[0].format(1)} or {patterns[1].format(1)})")

    def probe(self, n_frames: int | None = None) -> VideoInfo:
        """``n_frames``: a count from a list file, checked against the files (lists over-count); None counts them."""
        import cv2

        from ..errors import VideoError

        if n_frames is not None:
            n = int(n_frames)
        else:  # frames are numbered from 1 without gaps
            n = 1
            while (self.folder / self.pattern.format(n + 1)).is_file():
                n += 1
        while n > 0 and not (self.folder / self.pattern.format(n)).is_file():
            n -= 1  # the list over-counts: trust the files
        img = cv2.imread(str(self.folder / self.pattern.format(1)), cv2.IMREAD_COLOR)
        if img is None:
            raise VideoError("unreadable first frame")
        return VideoInfo(n_frames=n, height=img.shape[0], width=img.shape[1], fps=0.0)

    def read(self, indices: np.ndarray) -> np.ndarray:
        import cv2

        from ..errors import VideoError

        out = []
        for i in np.asarray(indices, dtype=np.int64):
            img = cv2.imread(str(self.folder / self.pattern.format(int(i) + 1)), cv2.IMREAD_COLOR)
            if img is None:
                raise VideoError(f"unreadable frame {int(i) + 1}")
            out.append(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
        if len({f.shape for f in out}) > 1:
            raise VideoError("frame size changes within the video")
        return np.stack(out)


def require_file(path: str | None, what: str, hint: str) -> Path:
    from ..errors import HatError

    if not path:
        raise HatError(f"{what} is required: {hint}")
    p = Path(path)
    if not p.exists():
        raise HatError(f"{what} not found: {path}")
    return p


def bool_option(value: Any, what: str) -> bool:
    """A true/false ``-S`` option (the command line gives YAML booleans); anything else is refused."""
    from ..errors import HatError

    if not isinstance(value, bool):
        raise HatError(f"{what} must be true or false (got '{value}')")
    return value
