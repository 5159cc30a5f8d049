"""Reading user-supplied weight files safely, and saying in one line why they do not fit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .errors import HatError


def load_state_file(path: str | Path | None, what: str, hint: str) -> dict[str, Any]:
    """A state dict from a torch file, read with ``weights_only=True`` (no pickled code runs).

    Accepts a plain state dict or one wrapped under ``model``/``state_dict``; strips DataParallel's ``module.``.
    """
    import torch

    p = Path(path) if path else None
    if p is None or not p.is_file():
        raise HatError(f"{what} checkpoint not found: '{path or ''}' ({hint})")
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch raises many types for bad or unsafe files
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise HatError(f"{p}: cannot read as a {what} checkpoint ({first})") from None
    for wrapper in ("model", "state_dict"):
        if isinstance(obj, dict) and isinstance(obj.get(wrapper), dict):
            obj = obj[wrapper]
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise HatError(f"{p}: not a {what} checkpoint (expected a state dict of tensors)")
    return {k.removeprefix("module."): v for k, v in obj.items()}


def mismatch_error(path: str | Path, what: str, missing: list[str], unexpected: list[str]) -> HatError:
    parts = []
    if missing:
        parts.append(f"{len(missing)} weights missing (e.g. {missing[0]})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
    return HatError(f"{path}: does not fit the {what} architecture: {', '.join(parts)}")
