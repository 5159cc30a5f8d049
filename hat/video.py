"""Video I/O with PyAV, and the frame-sampling rules shared by build and eval."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np

from .errors import VideoError
from .store import atomic_path


@dataclass(frozen=True)
class VideoInfo:
    n_frames: int
    height: int
    width: int
    fps: float


class ShortVideo(VideoError):
    """The stream ended (or broke) before the frame count in its header: ``n_frames`` were decoded."""

    def __init__(self, n_frames: int):
        super().__init__(f"video has only {n_frames} decodable frames")
        self.n_frames = n_frames


def is_truncated(promised: int, decoded: int) -> bool:
    """Whether a stream ends well before its header's count: by more than 2 frames and 1 %.

    Cut clips (Kinetics) often decode a frame or two fewer than their header counts (edit lists,
    encoder delay); that is not a truncated file, and is only sampled around, never flagged.
    """
    missing = promised - decoded
    return missing > 2 and missing > promised / 100


def segment_indices(n_frames: int, num: int) -> np.ndarray:
    """TSN-style sampling: ``num`` equal segments, the middle frame of each."""
    if n_frames <= 0:
        raise VideoError("video has no frames")
    return np.minimum(((np.arange(num) + 0.5) * n_frames / num).astype(np.int64), n_frames - 1)


def spread_indices(n_frames: int, num: int) -> np.ndarray:
    """``num`` frames spread evenly over the whole video, first and last included."""
    if num <= 1:
        return np.array([n_frames // 2])
    return np.unique(np.rint(np.linspace(0, n_frames - 1, min(num, n_frames))).astype(np.int64))


def resize_short_side(frames: np.ndarray, short_side: int | None) -> np.ndarray:
    if not short_side:
        return frames
    h, w = frames.shape[1:3]
    s = short_side / min(h, w)
    if abs(s - 1) < 1e-9:
        return frames
    size = (max(1, round(w * s)), max(1, round(h * s)))
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    return np.stack([cv2.resize(f, size, interpolation=interp) for f in frames])


def _open(path: str | os.PathLike):
    if not Path(path).is_file():
        raise VideoError(f"missing file: {path}")
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as e:
        raise VideoError(f"cannot open video: {type(e).__name__}: {e}") from None
    if not container.streams.video:
        container.close()
        raise VideoError("no video stream")
    return container


def probe(path: str | os.PathLike) -> VideoInfo:
    """Frame count, size and rate; counts packets (no decoding) when the header has no count."""
    container = _open(path)
    try:
        stream = container.streams.video[0]
        n = stream.frames
        if not n:
            n = sum(1 for p in container.demux(stream) if p.size)
        fps = float(stream.average_rate) if stream.average_rate else 0.0
        h, w = stream.codec_context.height, stream.codec_context.width
    except av.error.FFmpegError as e:
        raise VideoError(f"corrupt video: {e}") from None
    finally:
        container.close()
    if n <= 0 or h <= 0 or w <= 0:
        raise VideoError("video has no frames")
    return VideoInfo(int(n), int(h), int(w), fps)


def read_frames(path: str | os.PathLike, indices) -> np.ndarray:
    """Decode once, front to back, keeping only ``indices`` (RGB uint8 [N,H,W,3]).

    Headers sometimes over-count frames: a stream that ends early raises ShortVideo with the real
    count, so the caller can sample again instead of repeating the last frame.
    """
    indices = np.asarray(indices, dtype=np.int64)
    wanted = set(indices.tolist())
    last_needed = int(indices.max())
    got: dict[int, np.ndarray] = {}
    last, last_i = None, -1
    container = _open(path)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for i, frame in enumerate(container.decode(stream)):
            if i in wanted:
                got[i] = frame.to_ndarray(format="rgb24")
                if got[i].shape != next(iter(got.values())).shape:
                    raise VideoError("frame size changes within the video")
            last, last_i = frame, i
            if i >= last_needed:
                break
    except (av.error.FFmpegError, ValueError) as e:
        if last is None:
            raise VideoError(f"corrupt video: {e}") from None
    finally:
        container.close()
    if last is None:
        raise VideoError("video has no decodable frames")
    if last_i < last_needed:
        raise ShortVideo(last_i + 1)
    if last_i not in got:
        got[last_i] = last.to_ndarray(format="rgb24")
    return np.stack([got[int(j)] if j <= last_i else got[last_i] for j in indices])


def write_video(path: str | os.PathLike, frames: np.ndarray, fps: float = 25.0, lossless: bool = True) -> None:
    """H.264 in MP4. ``lossless`` uses RGB x264 at qp 0: decoding gives back the exact pixels."""
    frames = np.asarray(frames, dtype=np.uint8)
    h, w = frames.shape[1:3]
    with atomic_path(path) as tmp:
        with av.open(str(tmp), mode="w", format="mp4") as out:
            if lossless:
                stream = out.add_stream("libx264rgb", rate=round(fps))
                stream.pix_fmt = "rgb24"
                stream.options = {"qp": "0", "preset": "medium"}
            else:
                stream = out.add_stream("libx264", rate=round(fps))
                stream.pix_fmt = "yuv420p"
                stream.options = {"crf": "18"}
                h, w = h - h % 2, w - w % 2
                frames = frames[:, :h, :w]
            stream.width, stream.height = w, h
            stream.thread_count = 1
            for f in frames:
                for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")):
                    out.mux(packet)
            for packet in stream.encode():
                out.mux(packet)
