"""Evaluated models: anything that maps clips of frames to class scores.

``load_model(spec)`` accepts a checkpoint path (its layout picks the adapter), a registered name,
or ``python:module:function`` for any callable. Adapters register a factory and, for checkpoint
files, a detector that recognises their layout from the keys.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..errors import HatError
from ..registry import Registry
from .base import CallableClassifier, VideoClassifier, read_checkpoint

MODELS: Registry[VideoClassifier] = Registry(
    "model",
    builtin_modules=("hat.models.demo", "hat.models.clip", "hat.models.actionclip",
                     "hat.models.openvclip", "hat.models.vificlip", "hat.models.xclip"),
)


@dataclass(frozen=True)
class Layout:
    arch: str
    match: Callable[[dict], bool]
    describe: str
    generic: bool = False  # tried after the specific layouts (e.g. a bare CLIP state dict)
    markers: tuple[str, ...] = ()  # key prefixes that hint at this layout, for "closest layout" messages


_DETECTORS: list[Layout] = []


def register_layout(arch: str, describe: str, generic: bool = False, markers: tuple[str, ...] = ()):
    def deco(fn: Callable[[dict], bool]) -> Callable[[dict], bool]:
        _DETECTORS.append(Layout(arch, fn, describe, generic, markers))
        return fn

    return deco


def _all_keys(ckpt: dict, depth: int = 2) -> list[str]:
    keys: list[str] = []
    for k, v in ckpt.items():
        keys.append(str(k))
        if depth > 1 and isinstance(v, dict):
            keys += [f"{k}.{kk}" for kk in _all_keys(v, depth - 1)]
    return keys


def detect_arch(ckpt: dict, path: str) -> str:
    """The adapter whose layout matches; otherwise name what was expected and the closest layout."""
    MODELS.names()  # import the built-in adapters and their detectors
    for generic in (False, True):
        for lay in _DETECTORS:
            if lay.generic == generic and lay.match(ckpt):
                return lay.arch
    keys = _all_keys(ckpt)
    top = ", ".join(sorted(map(str, ckpt))[:8]) or "none"
    expected = "; ".join(f"{lay.arch}: {lay.describe}" for lay in _DETECTORS)
    def hit(marker: str) -> bool:
        return any(k.startswith(marker) or f".{marker}" in k for k in keys)

    scored = [(sum(map(hit, lay.markers)) / len(lay.markers), -i, lay.arch) for i, lay in enumerate(_DETECTORS) if lay.markers]
    best = max(scored, default=(0, 0, ""))
    closest = f"; closest: {best[2]} (use --arch {best[2]} to see what it lacks)" if best[0] else ""
    raise HatError(f"{path}: checkpoint layout not recognised (top-level keys: {top}){closest}; expected one of: {expected}")


def read_model_file(spec: str, trust: bool = False) -> dict:
    """A checkpoint file, or a Hugging Face model directory (its config.json; weights read by the adapter)."""
    p = Path(spec)
    if p.is_dir():
        cfg = p / "config.json"
        if not cfg.is_file():
            raise HatError(f"{spec}: a directory without config.json (expected a checkpoint file or a Hugging Face model directory)")
        return {"hf_config": json.loads(cfg.read_text()), "hf_dir": str(p)}
    return read_checkpoint(p, trust=trust)


def load_model(spec: str, *, arch: str | None = None, classes: list[str] | None = None, **options: Any) -> VideoClassifier:
    if spec.startswith("python:"):
        from .plugin import load_plugin

        model = load_plugin(spec, classes=classes)
    elif Path(spec).exists():
        ckpt = read_model_file(spec, trust=bool(options.pop("trust_checkpoint", False)))
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
