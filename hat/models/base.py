"""The evaluation interface every model adapter implements."""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import HatError


class VideoClassifier(ABC):
    """Clips in, class scores out. Adapters own their preprocessing (frames, size, normalisation)."""

    name: str = "model"
    #: frames per clip the model wants; eval resamples the benchmark's frames by relative position
    num_frames: int | None = None

    def set_classes(self, classes: list[str]) -> None:
        """Closed-set models check the class list; zero-shot models embed it."""

    @abstractmethod
    def predict(self, clips: np.ndarray) -> np.ndarray:
        """uint8 [B,T,H,W,3] RGB -> float [B,C] scores (logits or probabilities)."""

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


def file_hash(path: str | Path, length: int = 16) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:length]


def read_checkpoint(path: str | Path, trust: bool = False) -> dict:
    """Load tensors and plain data only; full unpickling only when the user vouches for the file."""
    import torch

    try:
        obj = torch.load(path, map_location="cpu", weights_only=not trust)
    except Exception as e:  # noqa: BLE001 - torch raises many types for bad or unsafe files
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if not trust and "weights_only" in str(e):
            raise HatError(f"{path}: holds pickled objects beyond tensors; load it only if you trust it (--trust-checkpoint)") from None
        raise HatError(f"{path}: cannot read checkpoint ({first})") from None
    if not isinstance(obj, dict):
        raise HatError(f"{path}: checkpoint is a {type(obj).__name__}, expected a dict")
    return obj
