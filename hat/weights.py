"""Reading user-supplied weight files safely, and saying in one line why they do not fit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .errors import HatError

#: What a weights file can be, for the one line that says what a bad file is not.
CHECKPOINT_KINDS = "a torch.save zip archive, a legacy torch.save pickle, a TorchScript archive or .safetensors"


def not_a_checkpoint(path: str | Path, what: str = "") -> str | None:
    """Why ``path`` cannot be a ``what`` checkpoint, from its first bytes, as one line (None when it may be one).

    Said before torch reads it: torch's own errors name an internal byte ("(101)") or miniz, not the file.
    """
    import zipfile

    p = Path(path)
    with open(p, "rb") as f:
        head = f.read(512)
    kind = f"not a {what} checkpoint" if what else "not a checkpoint"
    if not head:
        return f"an empty file, {kind}"
    if head.startswith(b"PK"):
        if not zipfile.is_zipfile(p):
            return f"a truncated or damaged zip archive (its end is missing), {kind}; fetch the file again"
        return None
    if head[0] == 0x80 or p.suffix == ".safetensors":  # pickle protocol 2+ (legacy torch.save); safetensors checked by its reader
        return None
    if _is_text(head):
        first = (head.decode("utf-8", "replace").strip().splitlines() or [""])[0][:40]
        is_html = first.lower().startswith(("<!doctype html", "<html"))
        return f"{'an HTML page' if is_html else f'a text file (starts {first!r})'}, {kind} ({CHECKPOINT_KINDS})"
    return f"neither a zip archive nor a pickle, {kind} ({CHECKPOINT_KINDS})"


def _is_text(head: bytes) -> bool:
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as e:
        if e.start < len(head) - 3:  # not just a character cut at the end of the sample
            return False
        text = head[: e.start].decode("utf-8")
    return all(c.isprintable() or c in "\t\r\n" for c in text)


def torch_error_line(e: BaseException) -> str:
    """The first line of a torch loading error, without its boilerplate."""
    first = (str(e).strip().splitlines() or [type(e).__name__])[0]
    return first.split("  (Could this error message be improved?")[0].strip() or type(e).__name__


def load_state_file(path: str | Path | None, what: str, hint: str) -> dict[str, Any]:
    """A state dict from a torch file, read with ``weights_only=True`` (no pickled code runs).

    Accepts a plain state dict or one wrapped under ``model``/``state_dict``; strips DataParallel's ``module.``.
    """
    import torch

    p = Path(path) if path else None
    if p is None or not p.is_file():
        raise HatError(f"{what} checkpoint not found: '{path or ''}' ({hint})")
    bad = not_a_checkpoint(p, what)
    if bad:
        raise HatError(f"{p}: {bad}")
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch raises many types for bad or unsafe files
        raise HatError(f"{p}: cannot read as a {what} checkpoint ({torch_error_line(e)})") from None
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
