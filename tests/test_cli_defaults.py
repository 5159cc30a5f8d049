"""The first commands work as typed: default --out, data-option usage per source, --segmenter auto,
default --bench, and base CLIP weights found by their released file name."""

from __future__ import annotations

import shutil

import pytest

from hat.cli import main
from hat.config import BuildConfig
from hat.errors import HatError
from hat.segmenters import OFFLINE_DEFAULT
from hat.sources import SOURCES

TINY_OPTS = ["-S", "num_classes=4", "-S", "train_per_class=1", "-S", "val_per_class=3", "-S", "size=48",
             "-S", "num_frames=8", "--frames", "8"]

PLUGIN = '''
import numpy as np

def constant(classes):
    return lambda clips: np.tile(np.arange(len(classes), dtype=float), (len(clips), 1))
'''


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0, err
    return err


@pytest.mark.parametrize("name", [n for n in SOURCES.names() if n != "synthetic"])
def test_sources_without_data_show_their_usage(name, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["build", "--source", name]) == 2
    err = one_line_error(capsys)
    usage = next(e.factory for e in SOURCES.entries() if e.name == name).usage
    assert usage and "-S " in usage and f"source '{name}' needs its data: {usage}" in err
    assert not (tmp_path / "benchmarks").exists()  # refused before anything is written


def test_every_source_owns_its_usage():
    for e in SOURCES.entries():
        assert e.factory.usage, e.name
    usages = [e.factory.usage for e in SOURCES.entries()]
    assert len(set(usages)) == len(usages)  # each source says its own


def test_build_defaults_out_and_auto_segmenter_is_byte_identical(tmp_path, monkeypatch, capsys):
    """No --out, no --segmenter: benchmarks/<source>, gt for a source with masks, same bytes as --segmenter gt."""
    monkeypatch.chdir(tmp_path)
    assert main(["build", "--source", "demo", *TINY_OPTS]) == 0  # an alias names the folder by the source
    auto = tmp_path / "benchmarks" / "synthetic"
    assert (auto / "benchmark.yaml").is_file()
    assert "segmenter: gt (--segmenter auto)" in capsys.readouterr().err
    explicit = tmp_path / "other" / "synthetic"
    assert main(["build", "--source", "synthetic", *TINY_OPTS, "--segmenter", "gt", "--out", str(explicit)]) == 0
    for name in ("build.yaml", "benchmark.yaml", "manifest.csv", "pairs.csv", "mask_quality.csv"):
        assert (auto / name).read_bytes() == (explicit / name).read_bytes(), name
    # a resume with the explicit name is the same benchmark
    assert main(["build", "--source", "synthetic", *TINY_OPTS, "--segmenter", "gt"]) == 0


def test_auto_segmenter_resolved_in_one_place():
    assert BuildConfig().segmenter == "auto"
    assert BuildConfig().resolved({}, source_masks=True).segmenter == "gt"
    assert BuildConfig().resolved({}, source_masks=False).segmenter == OFFLINE_DEFAULT
    assert BuildConfig(segmenter="grounded-sam").resolved({}, source_masks=True).segmenter == "grounded-sam"


def test_sources_say_whether_they_provide_masks(tmp_path):
    from hat.sources import create_source

    (tmp_path / "l.csv").write_text("path,label\na.mp4,x\n")
    assert create_source("synthetic").provides_masks
    assert not create_source("csv", list=str(tmp_path / "l.csv")).provides_masks


def test_eval_defaults_to_the_only_benchmark(tiny_bench, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "plug.py").write_text(PLUGIN)
    args = ["eval", "--model", f"python:{tmp_path / 'plug.py'}:constant", "--sets", "original", "--out", "run"]
    assert main(args) == 2
    assert "no --bench given and no finished benchmark under benchmarks/" in one_line_error(capsys)
    shutil.copytree(tiny_bench, tmp_path / "benchmarks" / "tiny")
    (tmp_path / "benchmarks" / "half").mkdir()  # no benchmark.yaml: not a benchmark
    assert main(args) == 0
    assert "benchmark: benchmarks/tiny" in capsys.readouterr().err
    assert (tmp_path / "run" / "results.json").is_file()
    shutil.copytree(tiny_bench, tmp_path / "benchmarks" / "again")
    assert main(args) == 2
    err = one_line_error(capsys)
    assert "2 benchmarks under benchmarks/: benchmarks/again, benchmarks/tiny; choose one with --bench" in err


# ----------------------------------------------------------------------------- base CLIP weights


def test_released_clip_architectures_from_shapes():
    """The vision tower's shape names OpenAI's release (shapes only: meta tensors)."""
    import torch

    from hat.assets import CLIP_RELEASES
    from hat.models.clip_common import vision_arch

    def tower(width, layers, patch, size, prefix="visual."):
        sd = {prefix + "conv1.weight": torch.empty(width, 3, patch, patch, device="meta"),
              prefix + "positional_embedding": torch.empty((size // patch) ** 2 + 1, width, device="meta")}
        for i in range(layers):
            sd[f"{prefix}transformer.resblocks.{i}.ln_1.weight"] = torch.empty(width, device="meta")
        return sd

    assert vision_arch(tower(768, 12, 16, 224)) == "ViT-B/16"
    assert vision_arch(tower(768, 12, 32, 224, "image_encoder."), "image_encoder.") == "ViT-B/32"
    assert vision_arch(tower(1024, 24, 14, 336)) == "ViT-L/14@336px"
    assert vision_arch(tower(64, 2, 8, 32)) is None
    assert {f for f, _ in CLIP_RELEASES.values()} >= {"ViT-B-16.pt", "ViT-B-32.pt", "ViT-L-14.pt"}


@pytest.fixture()
def weights_env(tmp_path, monkeypatch):
    monkeypatch.setenv("HAT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("HAT_WEIGHTS", raising=False)
    return tmp_path


def test_vificlip_finds_base_weights_by_released_name(weights_env, monkeypatch, capsys):
    pytest.importorskip("open_clip")
    import numpy as np
    import torch

    import clip_refs as R
    from test_clip_models import vificlip_files

    from hat.models import load_model

    tmp = weights_env
    base_path, ck_path, _ = vificlip_files(tmp)  # its config says MODEL.ARCH ViT-B/16
    with pytest.raises(HatError, match=r"--clip-weights is required: .*or put OpenAI's ViT-B-16.pt in .*cache/weights"):
        load_model(str(ck_path), classes=R.CLASSES)
    cache = tmp / "cache" / "weights"
    cache.mkdir(parents=True)
    shutil.copy(base_path, cache / "ViT-B-16.pt")
    model = load_model(str(ck_path), classes=R.CLASSES)
    assert f"using {cache / 'ViT-B-16.pt'} (OpenAI CLIP ViT-B/16)" in capsys.readouterr().err
    given = load_model(str(ck_path), classes=R.CLASSES, clip_weights=str(base_path))
    assert model.weights_hash == given.weights_hash
    clips = R.frames(1, 6, R.IMAGE, R.IMAGE)
    assert np.allclose(model.predict(clips), given.predict(clips))
    # $HAT_WEIGHTS comes first
    env = tmp / "env"
    env.mkdir()
    torch.save(R.openai_dtypes(R.tiny_clip(99).state_dict()), env / "ViT-B-16.pt")
    monkeypatch.setenv("HAT_WEIGHTS", str(env))
    other = load_model(str(ck_path), classes=R.CLASSES)
    assert f"using {env / 'ViT-B-16.pt'}" in capsys.readouterr().err
    assert other.weights_hash != model.weights_hash


def test_openvclip_finds_base_weights_by_tower_shape(weights_env, monkeypatch, capsys):
    """Open-VCLIP stores no config: the architecture comes from the checkpoint's vision tower."""
    pytest.importorskip("open_clip")
    import clip_refs as R
    from test_clip_models import openvclip_files

    from hat import assets
    from hat.models import load_model

    tmp = weights_env
    base_path, ck_path = openvclip_files(tmp)
    with pytest.raises(HatError, match="--clip-weights is required"):
        load_model(str(ck_path), classes=R.CLASSES)  # a tiny tower is no released architecture
    monkeypatch.setitem(assets.CLIP_RELEASES, "ViT-B/16", ("ViT-B-16.pt", (R.WIDTH, 2, R.PATCH, R.IMAGE)))
    monkeypatch.setenv("HAT_WEIGHTS", str(tmp / "w"))
    (tmp / "w").mkdir()
    shutil.copy(base_path, tmp / "w" / "ViT-B-16.pt")
    model = load_model(str(ck_path), classes=R.CLASSES)
    assert f"using {tmp / 'w' / 'ViT-B-16.pt'} (OpenAI CLIP ViT-B/16)" in capsys.readouterr().err
    assert model.weights_hash == load_model(str(ck_path), classes=R.CLASSES, clip_weights=str(base_path)).weights_hash
