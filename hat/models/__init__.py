"""Evaluated models: anything that maps clips of frames to class scores.

``load_model(spec)`` accepts a checkpoint path (its layout picks the adapter), a registered name,
or ``python:module:function`` for any callable. Adapters register a factory and, for checkpoint
files, a detector that recognises their layout from the keys.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from ..errors import HatError
from ..registry import Registry
from .base import CallableClassifier, VideoClassifier, read_checkpoint

MODELS: Registry[VideoClassifier] = Registry("model", builtin_modules=("hat.models.demo",))

#: (arch name, predicate on a loaded checkpoint dict, description of the layout)
_DETECTORS: list[tuple[str, Callable[[dict], bool], str]] = []


def register_layout(arch: str, describe: str):
    def deco(fn: Callable[[dict], bool]) -> Callable[[dict], bool]:
        _DETECTORS.append((arch, fn, describe))
        return fn

    return deco


def detect_arch(ckpt: dict, path: str) -> str:
    MODELS.names()  # import the built-in adapters and their detectors
    hits = [arch for arch, fn, _ in _DETECTORS if fn(ckpt)]
    if hits:
        return hits[0]
    keys = ", ".join(sorted(map(str, ckpt))[:8]) or "none"
    expected = "; ".join(f"{a}: {d}" for a, _, d in _DETECTORS)
    raise HatError(f"{path}: checkpoint layout not recognised (top-level keys: {keys}); expected one of: {expected}")


def load_model(spec: str, *, arch: str | None = None, classes: list[str] | None = None, **options: Any) -> VideoClassifier:
    if spec.startswith("python:"):
        from .plugin import load_plugin

        model = load_plugin(spec, classes=classes)
    elif Path(spec).exists():
        ckpt = read_checkpoint(spec, trust=bool(options.pop("trust_checkpoint", False)))
        name = MODELS.resolve(arch) if arch else detect_arch(ckpt, spec)
        model = MODELS.create(name, checkpoint=ckpt, path=spec, **options)
    elif spec in MODELS.names() or arch:
        model = MODELS.create(arch or spec, **options)
    else:
        raise HatError(
            f"model '{spec}' is not a checkpoint file, a registered model ({', '.join(MODELS.names())}) or python:module:function"
        )
    if classes is not None:
        model.set_classes(classes)
    return model


__all__ = ["MODELS", "VideoClassifier", "CallableClassifier", "load_model", "register_layout", "detect_arch"]
