import shutil
from pathlib import Path

import pytest

from hat.config import BuildConfig
from hat.pipeline import build
from hat.testing import SHARED  # noqa: F401 - tests import the shared data folder from here

TINY = {"num_classes": 4, "train_per_class": 6, "val_per_class": 4, "size": 48, "num_frames": 8}


def tiny_config(**kw) -> BuildConfig:
    opts = dict(TINY)
    opts.update(kw.pop("source_options", {}))
    kw.setdefault("num_frames", opts["num_frames"])
    kw.setdefault("source", "synthetic")
    return BuildConfig(source_options=opts, **kw)


@pytest.fixture(scope="session")
def tiny_bench(tmp_path_factory) -> Path:
    """One tiny synthetic benchmark shared by the read-only tests."""
    out = tmp_path_factory.mktemp("bench") / "tiny"
    build(tiny_config(), out)
    return out


@pytest.fixture()
def bench_copy(tiny_bench, tmp_path) -> Path:
    dst = tmp_path / "tiny"
    shutil.copytree(tiny_bench, dst)
    return dst
