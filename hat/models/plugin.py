"""``--model python:module:function`` (or ``python:path/to/file.py:function``): any callable.

The function is called with ``classes=[...]`` if it takes that argument, else with none, and
returns a VideoClassifier or a callable mapping uint8 clips [B,T,H,W,3] to scores [B,C].
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import sys
from pathlib import Path

from ..errors import HatError
from .base import CallableClassifier, VideoClassifier


def load_plugin(spec: str, classes: list[str] | None = None) -> VideoClassifier:
    body = spec[len("python:"):]
    mod_name, _, fn_name = body.rpartition(":")
    if not mod_name or not fn_name:
        raise HatError(f"plugin model must be python:module:function or python:file.py:function (got '{spec}')")
    try:
        if mod_name.endswith(".py"):
            path = Path(mod_name)
            if not path.is_file():
                raise HatError(f"plugin file not found: {mod_name}")
            modspec = importlib.util.spec_from_file_location(f"hat_plugin_{path.stem}", path)
            module = importlib.util.module_from_spec(modspec)
            modspec.loader.exec_module(module)
        else:
            module = _import_from_cwd(mod_name)
    except ImportError as e:
        raise HatError(f"cannot import plugin module '{mod_name}': {e}") from None
    fn = getattr(module, fn_name, None)
    if fn is None:
        public = [n for n, v in vars(module).items() if callable(v) and not n.startswith("_")]
        raise HatError(f"module '{mod_name}' has no '{fn_name}' (callables there: {', '.join(sorted(public)) or 'none'})")
    params = inspect.signature(fn).parameters
    made = fn(classes=classes) if "classes" in params else fn()
    src = getattr(module, "__file__", None)
    fingerprint = hashlib.sha256(Path(src).read_bytes()).hexdigest()[:16] if src else ""
    if isinstance(made, VideoClassifier):
        return made
    if not callable(made):
        raise HatError(f"{spec} returned a {type(made).__name__}; expected a VideoClassifier or a callable")
    label = Path(mod_name).stem if mod_name.endswith(".py") else mod_name
    return CallableClassifier(made, name=f"{label}:{fn_name}", fingerprint=fingerprint)


def _import_from_cwd(name: str):
    """Import as ``python -m`` would: modules in the current directory are found first."""
    cwd = str(Path.cwd())
    added = cwd not in sys.path
    if added:
        sys.path.insert(0, cwd)
    try:
        return importlib.import_module(name)
    finally:
        if added and cwd in sys.path:
            sys.path.remove(cwd)
