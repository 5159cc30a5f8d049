"""Small registries of factories, so a new backend is one file plus one import line.

Third-party packages can add backends without touching hat through the entry-point group
``hat.<kind>`` (e.g. ``hat.segmenters``), each entry pointing at a module that registers itself.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Callable, Generic, TypeVar

from .errors import HatError, unknown

T = TypeVar("T")


@dataclass(frozen=True)
class Entry(Generic[T]):
    name: str
    factory: Callable[..., T]
    help: str
    aliases: tuple[str, ...]


class Registry(Generic[T]):
    def __init__(self, kind: str, builtin_modules: tuple[str, ...] = ()):
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}
        self._alias: dict[str, str] = {}
        self._builtin_modules = builtin_modules
        self._loaded = False

    def register(self, name: str, *, help: str = "", aliases: tuple[str, ...] = ()):
        def deco(factory: Callable[..., T]) -> Callable[..., T]:
            if name in self._entries or name in self._alias:
                raise ValueError(f"{self.kind} '{name}' registered twice")
            doc = help or (inspect.getdoc(factory) or "").split("\n")[0]
            self._entries[name] = Entry(name, factory, doc, tuple(aliases))
            for a in aliases:
                self._alias[a] = name
            return factory

        return deco

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        for mod in self._builtin_modules:
            importlib.import_module(mod)
        group = f"hat.{self.kind.replace(' ', '_')}s"
        for ep in metadata.entry_points(group=group):
            ep.load()

    def names(self) -> list[str]:
        self._load()
        return sorted(self._entries)

    def entries(self) -> list[Entry[T]]:
        self._load()
        return [self._entries[n] for n in sorted(self._entries)]

    def resolve(self, name: str) -> str:
        self._load()
        name = self._alias.get(name, name)
        if name not in self._entries:
            raise unknown(self.kind, name, list(self._entries) + list(self._alias))
        return name

    def create(self, name: str, **options: Any) -> T:
        """Build a backend; unknown options are refused with the list of valid ones."""
        entry = self._entries[self.resolve(name)]
        check_options(f"{self.kind} '{entry.name}'", entry.factory, options)
        return entry.factory(**options)


def accepts(registry: Registry[Any], name: str, option: str) -> bool:
    """Whether backend ``name`` takes keyword ``option`` (False for unknown names: create() will say why)."""
    try:
        factory = registry._entries[registry.resolve(name)].factory
    except HatError:
        return False
    params = inspect.signature(factory).parameters
    return option in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def check_options(what: str, fn: Callable[..., Any], options: dict[str, Any]) -> None:
    params = inspect.signature(fn).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    valid = [n for n, p in params.items() if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]
    bad = sorted(set(options) - set(valid))
    if bad:
        raise HatError(f"{what} has no option {', '.join(map(repr, bad))} (valid: {', '.join(valid) or 'none'})")
