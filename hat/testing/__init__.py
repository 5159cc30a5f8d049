"""Helpers shared by the test suite and the bench scripts (never imported by hat itself).

``SHARED`` is the shared data folder beside a checkout (``../shared``: real footage, label lists,
published pairs); tests skip, and benches leave out, what it does not hold.
"""

from __future__ import annotations

from pathlib import Path

#: the checkout's ``../shared`` (only meaningful when hat runs from a checkout, as tests and benches do)
SHARED = Path(__file__).resolve().parents[2].parent / "shared"
