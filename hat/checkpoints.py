"""Reading user-supplied weight files safely, cleaning their key names, and saying in one line why they do not fit.

Every backend reads weights through :func:`read_checkpoint` (tensors and plain data only, unless the
user vouches for the file), strips wrapper prefixes with :func:`clean_state_dict`, and reports a
strict-load failure with :func:`mismatch_error`.
"""

from __future__ import annotations

import collections
from pathlib import Path
from typing import Any, Iterable

from .errors import HatError

#: What a weights file can be, for the one line that says what a bad file is not.
CHECKPOINT_KINDS = "a torch.save zip archive, a legacy torch.save pickle, a TorchScript archive or .safetensors"

#: Classes some released checkpoints pickle next to their tensors, read as plain data (never imported):
#: yacs ``CfgNode`` (ViFi-CLIP, X-CLIP configs) is a dict subclass whose state is its items and a few flags.
_PLAIN_ALIASES = {"yacs.config.CfgNode": "OrderedDict"}


def file_hash(path: str | Path, length: int = 16) -> str:
    """A weights file's short identity (sha256 prefix), as recorded in results and build settings."""
    from .store import sha256_file

    return sha256_file(path)[:length]


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


def _is_torchscript(path: Path) -> bool:
    import zipfile

    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as z:
        return any(n.endswith("/constants.pkl") for n in z.namelist())


def read_checkpoint(path: str | Path, trust: bool = False, what: str = "") -> dict:
    """Load tensors and plain data only; full unpickling only when the user vouches for the file.

    Reads torch pickles with ``weights_only=True`` (configs pickled as yacs nodes come back as plain
    dicts), ``.safetensors`` files, and TorchScript archives (OpenAI's CLIP ``.pt`` files: their
    state dict only; no code is run). ``what`` names the backend in messages (``not a SAM checkpoint``).
    """
    import warnings

    import torch

    path = Path(path)
    bad = not_a_checkpoint(path, what)
    if bad:
        raise HatError(f"{path}: {bad}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return dict(load_file(str(path)))
        except Exception as e:  # noqa: BLE001
            raise HatError(f"{path}: not a readable safetensors file ({torch_error_line(e)})") from None
    if _is_torchscript(path):
        try:
            with warnings.catch_warnings():  # torch.jit.load's deprecation notice is not the user's concern
                warnings.simplefilter("ignore", FutureWarning)
                return dict(torch.jit.load(str(path), map_location="cpu").state_dict())
        except Exception as e:  # noqa: BLE001
            raise HatError(f"{path}: a zip archive with TorchScript parts, but not a TorchScript archive torch can load "
                           f"({torch_error_line(e)})") from None
    try:
        aliases = [(getattr(collections, cls), name) for name, cls in _PLAIN_ALIASES.items()]
        with torch.serialization.safe_globals(aliases):
            obj = torch.load(path, map_location="cpu", weights_only=not trust)
    except Exception as e:  # noqa: BLE001 - torch raises many types for bad or unsafe files
        if what:
            raise HatError(f"{path}: cannot read as a {what} checkpoint ({torch_error_line(e)})") from None
        if not trust and ("weights_only" in str(e).lower() or "weights only" in str(e).lower()):
            raise HatError(f"{path}: holds pickled objects beyond tensors and plain data; load it only if you trust it (--trust-checkpoint)") from None
        raise HatError(f"{path}: cannot read checkpoint ({torch_error_line(e)})") from None
    if not isinstance(obj, dict):
        if what:
            raise HatError(f"{path}: not a {what} checkpoint (expected a state dict of tensors)")
        raise HatError(f"{path}: checkpoint is a {type(obj).__name__}, expected a dict")
    return obj


#: how :func:`clean_state_dict` treats a prefix
CLEAN_RULES = ("all", "each", "only")


def clean_state_dict(sd: dict[str, Any], rule: str, prefix: str = "module.", tensors: bool = False) -> dict[str, Any]:
    """Key names without a wrapper's prefix (DataParallel's ``module.``, a training wrapper's ``model.``).

    ``rule``: ``all`` strips the prefix only when every key carries it (a whole model saved wrapped;
    a dict that merely has some such keys is left alone); ``each`` strips it from every key that
    carries it (timm's ``clean_state_dict`` rule); ``only`` keeps just the keys under the prefix, stripped
    (one part of a bigger dict). ``tensors``: drop values that are not tensors first.
    """
    if rule not in CLEAN_RULES:
        raise ValueError(f"unknown rule '{rule}' (valid: {', '.join(CLEAN_RULES)})")
    if tensors:
        import torch

        sd = {k: v for k, v in sd.items() if isinstance(v, torch.Tensor)}
    if rule == "all":
        if not sd or not all(str(k).startswith(prefix) for k in sd):
            return dict(sd)
        rule = "only"
    if rule == "only":
        return {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}
    return {k.removeprefix(prefix): v for k, v in sd.items()}


def state_dict_of(obj: dict[str, Any]) -> dict[str, Any]:
    """The tensors of a weights file that may wrap them (``state_dict``, ``model``), ``module.`` stripped."""
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    return clean_state_dict(obj, "all", tensors=True)


def load_state_file(path: str | Path | None, what: str, hint: str) -> dict[str, Any]:
    """A state dict from a torch file, read by :func:`read_checkpoint` (no pickled code runs).

    Accepts a plain state dict or one wrapped under ``model``/``state_dict``; strips DataParallel's ``module.``.
    """
    import torch

    p = Path(path) if path else None
    if p is None or not p.is_file():
        raise HatError(f"{what} checkpoint not found: '{path or ''}' ({hint})")
    obj = read_checkpoint(p, what=what)
    for wrapper in ("model", "state_dict"):
        if isinstance(obj, dict) and isinstance(obj.get(wrapper), dict):
            obj = obj[wrapper]
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise HatError(f"{p}: not a {what} checkpoint (expected a state dict of tensors)")
    return clean_state_dict(obj, "each")


def _examples(keys: list[str]) -> str:
    return ", ".join(keys[:3])


def mismatch_error(path: str | Path, what: str, missing: Iterable[str] = (), unexpected: Iterable[str] = (),
                   shapes: Iterable[tuple[str, tuple, tuple]] = ()) -> HatError:
    """The one strict-load message: ``<file>: does not fit the <what> architecture: N missing (e.g. ...); ...``.

    ``shapes``: (key, shape in the file, shape the network wants) of weights of another shape.
    """
    missing, unexpected, shapes = list(missing), list(unexpected), list(shapes)
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing (e.g. {_examples(missing)})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected (e.g. {_examples(unexpected)})")
    if shapes:
        k, got, want = shapes[0]
        parts.append(f"{len(shapes)} of another shape (e.g. {k}: {tuple(got)}, expected {tuple(want)})")
    return HatError(f"{path}: does not fit the {what} architecture: {'; '.join(parts)}")


def check_keys(module: Any, sd: dict[str, Any], path: str | Path, what: str) -> None:
    """Strict loading checked first, with :func:`mismatch_error` naming the keys instead of torch's wall of text.

    ``module``: a torch module, or the state dict it would have.
    """
    own = dict(module.state_dict()) if hasattr(module, "state_dict") else module
    missing = sorted(set(own) - set(sd))
    extra = sorted(set(sd) - set(own))
    shapes = [(k, tuple(sd[k].shape), tuple(own[k].shape)) for k in sorted(set(own) & set(sd))
              if tuple(own[k].shape) != tuple(sd[k].shape)]
    if missing or extra or shapes:
        raise mismatch_error(path, what, missing, extra, shapes)


def remap_by_order(sd: dict[str, Any], module: Any, path: str | Path, what: str) -> dict[str, Any]:
    """A file whose tensors are the network's in the same order and shapes under other names, renamed.

    timm's ``remap_state_dict`` does the renaming; the count and every shape are checked here first,
    so a file that does not line up is one line naming it rather than an assertion.
    """
    from timm.models import remap_state_dict

    own = module.state_dict()
    if len(own) != len(sd) or any(a.shape != b.shape for a, b in zip(own.values(), sd.values())):
        raise HatError(f"{path}: tensors do not line up with {what} ({len(sd)} vs {len(own)})")
    return remap_state_dict(sd, module, allow_reshape=False)
