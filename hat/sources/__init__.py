"""Benchmark sources. A new one is a module that registers a factory, plus one line below."""

from ..registry import Registry
from .base import Source, VideoRecord

SOURCES: Registry[Source] = Registry(
    "source",
    builtin_modules=(
        "hat.sources.synthetic",
        "hat.sources.csvfile",
        "hat.sources.kinetics",
        "hat.sources.ucf101",
        "hat.sources.hmdb51",
        "hat.sources.ssv2",
    ),
)


def create_source(name: str, **options) -> Source:
    return SOURCES.create(name, **options)


__all__ = ["SOURCES", "Source", "VideoRecord", "create_source"]
