"""Evaluated models: anything that maps clips of frames to class scores.

``load_model(spec)`` accepts a checkpoint path (its layout picks the adapter), a registered name,
or ``python:module:function`` for any callable. Adapters register a factory together with
the checkpoint layouts it reads (``MODELS.register(name, detect=Layout(...))``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..checkpoints import read_checkpoint
from ..errors import HatError
from ..registry import Registry
from .base import CallableClassifier, VideoClassifier


@dataclass(frozen=True)
class Layout:
    """How an adapter's checkpoint files look: a test on the loaded file, and what to say when none matches."""

    match: Callable[[dict], bool]
    describe: str
    generic: bool = False  # tried after the specific layouts (e.g. a bare CLIP state dict)
    markers: tuple[str, ...] = ()  # key prefixes that hint at this layout, for "closest layout" messages


class ModelRegistry(Registry[VideoClassifier]):
    """Model factories, each registered with the checkpoint layouts it reads (``detect``)."""

    def __init__(self, kind: str, builtin_modules: tuple[str, ...] = ()):
        super().__init__(kind, builtin_modules)
        self._layouts: list[tuple[str, Layout]] = []

    def register(self, name: str, *, help: str = "", aliases: tuple[str, ...] = (),
                 detect: Layout | tuple[Layout, ...] = ()):
        add = super().register(name, help=help, aliases=aliases)
        layouts = [(name, lay) for lay in ((detect,) if isinstance(detect, Layout) else detect)]

        def deco(factory):
            made = add(factory)
            self._layouts.extend(layouts)
            return made

        return deco

    def layouts(self) -> list[tuple[str, Layout]]:
        """(adapter, layout) in registration order, the built-in adapters imported first."""
        self._load()
        return list(self._layouts)


MODELS = ModelRegistry(
    "model",
    builtin_modules=("hat.models.demo", "hat.models.clip", "hat.models.actionclip",
                     "hat.models.openvclip", "hat.models.vificlip", "hat.models.xclip"),
)


def _all_keys(ckpt: dict, depth: int = 2) -> list[str]:
    keys: list[str] = []
    for k, v in ckpt.items():
        keys.append(str(k))
        if depth > 1 and isinstance(v, dict):
            keys += [f"{k}.{kk}" for kk in _all_keys(v, depth - 1)]
    return keys


def detect_arch(ckpt: dict, path: str) -> str:
    """The adapter whose layout matches; otherwise name what was expected and the closest layout."""
    layouts = MODELS.layouts()
    for generic in (False, True):
        for arch, lay in layouts:
            if lay.generic == generic and lay.match(ckpt):
                return arch
    keys = _all_keys(ckpt)
    top = ", ".join(sorted(map(str, ckpt))[:8]) or "none"
    expected = "; ".join(f"{arch}: {lay.describe}" for arch, lay in layouts)
    def hit(marker: str) -> bool:
        return any(k.startswith(marker) or f".{marker}" in k for k in keys)

    scored = [(sum(map(hit, lay.markers)) / len(lay.markers), -i, arch) for i, (arch, lay) in enumerate(layouts) if lay.markers]
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


__all__ = ["MODELS", "Layout", "VideoClassifier", "CallableClassifier", "load_model", "detect_arch"]
