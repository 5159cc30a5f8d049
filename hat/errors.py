"""User-facing errors: the CLI prints them as one line and exits with code 2."""

from __future__ import annotations

from typing import Iterable


class HatError(Exception):
    """A problem with the user's input or files, explained in one line."""


def unknown(kind: str, name: str, valid: Iterable[str]) -> HatError:
    choices = ", ".join(sorted(valid))
    return HatError(f"unknown {kind} '{name}' (valid: {choices})")


class VideoError(Exception):
    """A single video cannot be used (missing, corrupt, too short); recorded and skipped."""
