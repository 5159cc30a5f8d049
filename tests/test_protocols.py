"""The CLIP-family protocols as data: one row per architecture, factories that take the shared run options."""

from __future__ import annotations

import inspect

import pytest

from hat.errors import HatError
from hat.models import MODELS, Layout, ModelRegistry
from hat.models.base import Sampling
from hat.models.clip_common import TEMPLATES, resolve_templates
from hat.models.protocols import PROTOCOLS, RunOptions, takes_run_options
from hat.registry import accepts

RUN = ("frames", "templates", "sampling", "rate", "views", "crops", "device", "precision", "cache_dir", "class_names")
#: each factory's own options beside the shared ones (what each accepted before the table)
OWN = {"clip": ("quick_gelu", "clip_weights"), "actionclip": ("scale",), "openvclip": ("clip_weights", "patch_ratio", "offset"),
       "vificlip": ("clip_weights",), "xclip": ()}


def test_every_clip_adapter_has_a_protocol_row():
    MODELS.names()
    clip_family = {name for name in MODELS.names() if not name.startswith("demo-")}
    assert clip_family == set(PROTOCOLS) == set(OWN)
    for arch, p in PROTOCOLS.items():
        assert p.templates in TEMPLATES and resolve_templates(None, p.templates), arch
        assert p.view_reduce in ("probs", "logits", "sum_logits"), arch
        p.preprocess(224)  # every row is a valid transform
        p.sampling_with(RunOptions())


@pytest.mark.parametrize("arch, crops, resize, interpolation, style", [
    ("clip", 1, 224, "bicubic", "torchvision"),
    ("actionclip", 1, 256, "bicubic", "torchvision"),
    ("actionclip", 3, 256, "bicubic", "torchvision"),
    ("vificlip", 1, 256, "bilinear", "mmcv"),
    ("vificlip", 3, 224, "bilinear", "mmcv"),  # three crops at the input size
    ("xclip", 3, 224, "bilinear", "mmcv"),
    ("openvclip", 1, 224, "bilinear", "slowfast"),
])
def test_rows_give_each_papers_transform(arch, crops, resize, interpolation, style):
    pre = PROTOCOLS[arch].preprocess(224, crops)
    assert (pre.size, pre.resize, pre.crops, pre.interpolation, pre.style) == (224, resize, crops, interpolation, style)
    assert PROTOCOLS[arch].preprocess(336).resize == (384 if PROTOCOLS[arch].resize == (256, 224) else 336)


def test_sampling_from_the_row_with_overrides():
    ov = PROTOCOLS["openvclip"]
    assert ov.sampling_with(RunOptions()) == Sampling(8, "dense", rate=16, views=3, target_fps=30.0, offset=True)
    assert ov.sampling_with(RunOptions(views=1), offset=False) == Sampling(8, "dense", rate=16, views=1, target_fps=30.0)
    assert PROTOCOLS["clip"].sampling_with(RunOptions(frames=16, sampling="dense", rate=4)) == Sampling(16, "dense", rate=4)
    with pytest.raises(HatError, match="unknown sampling 'sparse'"):
        PROTOCOLS["clip"].sampling_with(RunOptions(sampling="sparse"))


@pytest.mark.parametrize("arch", sorted(OWN))
def test_factories_take_their_own_and_the_shared_options(arch):
    params = inspect.signature(MODELS._entries[MODELS.resolve(arch)].factory).parameters
    assert set(params) == {"checkpoint", "path", *OWN[arch], *RUN}
    assert accepts(MODELS, arch, "device") and accepts(MODELS, arch, "templates")
    assert accepts(MODELS, arch, "clip_weights") == ("clip_weights" in OWN[arch])
    with pytest.raises(HatError, match=rf"model '{arch}' has no option 'colour' \(valid: checkpoint, path, .*frames, "):
        MODELS.create(arch, colour=1)


def test_takes_run_options_keeps_the_factory_callable_as_written():
    @takes_run_options
    def make(checkpoint=None, path="", extra=1, **options):
        return extra, RunOptions(**options)

    assert list(inspect.signature(make).parameters)[:3] == ["checkpoint", "path", "extra"]
    assert make(extra=2, frames=4, device="cpu") == (2, RunOptions(frames=4))


def test_layouts_are_registered_with_the_model_in_order():
    reg = ModelRegistry("model")
    a, b, c = (Layout(lambda ck, k=k: k in ck, f"has {k}") for k in "abc")
    reg.register("one", detect=a)(lambda: None)
    reg.register("two", detect=(b, c))(lambda: None)
    reg.register("three")(lambda: None)
    assert reg.layouts() == [("one", a), ("two", b), ("two", c)]
    with pytest.raises(ValueError, match="registered twice"):
        reg.register("one", detect=c)(lambda: None)
    assert len(reg.layouts()) == 3  # a refused registration adds no layout
