"""The evaluation interface every model adapter implements."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from typing import Any, Callable

import numpy as np

from ..checkpoints import file_hash, read_checkpoint  # noqa: F401 - adapters and plugins import them from here
from ..errors import HatError


SAMPLING_MODES = ("segment", "dense")


@dataclass(frozen=True)
class Sampling:
    """Which frames of the source video a model wants, per temporal view.

    ``segment``: ``num_frames`` equal segments, one frame from each (the middle one for a single view,
    evenly spread offsets for several views: TSN / MMAction test mode). ``dense``: ``num_frames``
    frames ``rate`` apart; view v of V starts at v/V of the slack (PySlowFast's test views; one
    view starts at the first frame). The harness maps these source indices onto the frames a
    benchmark stored and reports how far it had to move them.
    """

    num_frames: int | None = None
    mode: str = "segment"
    rate: int = 1
    views: int = 1
    #: dense: ``rate`` counts frames at this frame rate (PySlowFast's TARGET_FPS); None counts source frames
    target_fps: float | None = None
    #: dense, several views: PySlowFast's ``USE_OFFSET_SAMPLING``: view v starts at v·⌊Δ/(V−1)⌋ (one view:
    #: ⌊Δ/2⌋), so the first and last views touch both ends of the video, instead of Δ·v/V
    offset: bool = False

    def __post_init__(self) -> None:
        if self.mode not in SAMPLING_MODES:
            raise HatError(f"unknown sampling '{self.mode}' (valid: {', '.join(SAMPLING_MODES)})")
        for key in ("rate", "views"):
            if int(getattr(self, key)) < 1:
                raise HatError(f"sampling {key} must be at least 1 (got {getattr(self, key)})")
        if self.num_frames is not None and self.num_frames < 1:
            raise HatError(f"frames must be at least 1 (got {self.num_frames})")

    def source_indices(self, n_frames: int, fps: float | None = None) -> np.ndarray:
        """int [views, num_frames] frame indices into a video of ``n_frames`` frames at ``fps``."""
        t, v = int(self.num_frames or 1), int(self.views)
        if self.mode == "segment":
            offsets = (np.arange(v) + 0.5) / v
            idx = (np.arange(t)[None, :] + offsets[:, None]) * (n_frames / t)
        else:
            span = t * self.rate
            if self.target_fps and fps and fps > 0:
                span = span * fps / self.target_fps
            delta = max(n_frames - span, 0)
            if not self.offset:
                starts = delta * np.arange(v) / v
            elif v == 1:
                starts = np.array([math.floor(delta / 2)], dtype=np.float64)
            else:
                starts = np.arange(v) * math.floor(delta / (v - 1))
            idx = starts[:, None] + np.linspace(0, span - 1, t)[None, :]
        return np.clip(np.floor(idx), 0, n_frames - 1).astype(np.int64)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if not self.offset:  # as results written before offset sampling existed
            del d["offset"]
        return d


class VideoClassifier(ABC):
    """Clips in, class scores out. Adapters own their preprocessing (frames, size, normalisation)."""

    name: str = "model"
    #: frames per clip the model wants; eval resamples the benchmark's frames by relative position
    num_frames: int | None = None
    #: "logits" or "probs": what predict returns
    score_kind: str = "logits"
    #: how several views of a clip are combined: "probs" (mean softmax, most codes), "logits" (mean logits)
    #: or "sum_logits" (raw logits added, PySlowFast's sum ensemble: Open-VCLIP)
    view_reduce: str = "probs"

    @property
    def sampling(self) -> Sampling:
        """Frames the model wants from each video; ``num_frames=None`` takes the stored frames as they are."""
        return Sampling(self.num_frames)

    def set_classes(self, classes: list[str]) -> None:
        """Closed-set models check the class list; zero-shot models embed it."""

    def set_candidates(self, classes: list[str], candidates: list[int]) -> bool:
        """Score only among ``candidates`` (indices into ``classes``). Zero-shot models rebuild their text
        classifier over them and return True (scores then have one column per candidate); the default
        returns False and eval masks the full scores to the candidates."""
        return False

    @abstractmethod
    def predict(self, clips: np.ndarray) -> np.ndarray:
        """uint8 [B,T,H,W,3] RGB -> float [B,C] scores (logits or probabilities)."""

    def prepare(self, clips: np.ndarray) -> Any:
        """uint8 [N,T,H,W,3] clips of one size -> the model's input for them, rows in clip order.

        Real benchmarks hold videos of many sizes. An adapter that brings every clip to one input size
        (resize, crop, normalise) does it here, clip by clip, so eval can batch clips of any size
        together; :meth:`forward` then scores a concatenation of prepared inputs. The default keeps the
        pixels: eval then batches only clips of the same size (a model gets one size per call).
        """
        return clips

    def forward(self, inputs: Any) -> np.ndarray:
        """Scores of prepared inputs (several :meth:`prepare` outputs concatenated on their first axis)."""
        return self.predict(inputs)

    def describe(self) -> dict[str, Any]:
        """Name, architecture, checkpoint and its hash: recorded in every results file."""
        return {"name": self.name}


class CallableClassifier(VideoClassifier):
    """Wraps any function ``f(clips uint8 [B,T,H,W,3]) -> scores [B,C]``."""

    def __init__(self, fn: Callable[[np.ndarray], Any], name: str, fingerprint: str = ""):
        self.fn, self.name, self.fingerprint = fn, name, fingerprint
        self.num_frames = getattr(fn, "num_frames", None)

    def predict(self, clips: np.ndarray) -> np.ndarray:
        out = self.fn(clips)
        if hasattr(out, "detach"):
            out = out.detach().float().cpu().numpy()
        out = np.asarray(out, dtype=np.float64)
        if out.ndim != 2 or len(out) != len(clips):
            raise HatError(f"model {self.name} returned scores of shape {out.shape}; expected [{len(clips)}, num_classes]")
        return out

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "arch": "callable", "hash": self.fingerprint}
