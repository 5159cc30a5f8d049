"""The neutral modules every backend may use, and the rule that backends use nothing else of each other."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
import torch

from hat.checkpoints import check_keys, clean_state_dict, mismatch_error, remap_by_order, state_dict_of
from hat.constants import CLIP_MEAN_255, CLIP_STD_255, IMAGENET_MEAN, IMAGENET_MEAN_255, IMAGENET_STD, IMAGENET_STD_255
from hat.errors import HatError

HAT = Path(__file__).resolve().parents[1] / "hat"
#: packages that hold backends behind a registry: none may import another
BACKENDS = ("models", "sources", "segmenters", "inpainters", "scene")


def imported_modules(tree: ast.AST, module: str, is_package: bool) -> list[str]:
    """Every module an AST imports, at any depth (lazy imports and TYPE_CHECKING blocks too), made absolute."""
    here = module.split(".") if is_package else module.split(".")[:-1]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = here[: len(here) - node.level + 1] if node.level else []
            name = ".".join(base + ([node.module] if node.module else []))
            out.append(name)
            if not node.module:  # `from . import x`: x may be a module
                out += [f"{name}.{a.name}" for a in node.names]
    return out


def sideways_imports(module: str, source: str, is_package: bool = False) -> list[str]:
    """The imports of ``module`` that reach into a backend package other than its own."""
    parts = module.split(".")
    own = parts[1] if len(parts) > 1 and parts[1] in BACKENDS else None
    if own is None:
        return []
    bad = []
    for name in imported_modules(ast.parse(source), module, is_package):
        p = name.split(".")
        if p[0] == "hat" and len(p) > 1 and p[1] in BACKENDS and p[1] != own:
            bad.append(name)
    return bad


def test_no_backend_package_imports_another():
    found = {}
    for f in sorted(HAT.rglob("*.py")):
        rel = f.relative_to(HAT.parent).with_suffix("")
        is_package = rel.name == "__init__"
        module = ".".join(rel.parts[:-1] if is_package else rel.parts)
        bad = sideways_imports(module, f.read_text(), is_package)
        if bad:
            found[module] = bad
    assert not found, f"backend packages import each other (move the shared part to a neutral hat/ module): {found}"


@pytest.mark.parametrize("module, source, bad", [
    ("hat.segmenters.x", "from ..sources.base import Source", ["hat.sources.base"]),
    ("hat.scene.x", "def f():\n    from ..models import clip_common\n", ["hat.models"]),
    ("hat.inpainters.x", "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import hat.models.base\n", ["hat.models.base"]),
    ("hat.models", "from ..segmenters import SEGMENTERS", ["hat.segmenters"]),
    ("hat.models.demo", "from ..dataset import Source\nfrom ..checkpoints import file_hash\nfrom . import MODELS", []),
    ("hat.pipeline", "from .segmenters import SEGMENTERS\nfrom .models import MODELS", []),  # core modules may
])
def test_the_import_rule_catches_sideways_imports(module, source, bad):
    is_package = module == "hat.models"
    assert sideways_imports(module, source, is_package) == bad


# ----------------------------------------------------------------------------- state dicts


def test_clean_state_dict_rules():
    wrapped = {"module.a": 1, "module.b.c": 2}
    mixed = {"module.a": 1, "b": 2, "model.c": 3}
    # all: only a whole model saved wrapped loses the prefix
    assert clean_state_dict(wrapped, "all") == {"a": 1, "b.c": 2}
    assert clean_state_dict(mixed, "all") == mixed
    assert clean_state_dict({}, "all") == {}
    # each: every key that has it
    assert clean_state_dict(mixed, "each") == {"a": 1, "b": 2, "model.c": 3}
    assert clean_state_dict({"module.module.x": 1}, "each") == {"module.x": 1}  # one prefix, not repeated ones
    # only: the part under the prefix
    assert clean_state_dict(mixed, "only", "model.") == {"c": 3}
    assert clean_state_dict(wrapped, "only", "model.") == {}
    with pytest.raises(ValueError, match="unknown rule 'some'"):
        clean_state_dict(wrapped, "some")


def test_clean_state_dict_keeps_tensors_when_asked():
    t = torch.zeros(1)
    sd = {"module.w": t, "module.step": 3}
    assert set(clean_state_dict(sd, "each", tensors=True)) == {"w"}
    # the rule sees only the tensors: a stray counter without the prefix does not stop the strip
    assert set(clean_state_dict({"module.w": t, "epoch": 90}, "all", tensors=True)) == {"w"}
    assert set(clean_state_dict({"module.w": t, "epoch": 90}, "all")) == {"module.w", "epoch"}


def test_state_dict_of_unwraps_then_strips():
    t = torch.zeros(1)
    assert set(state_dict_of({"state_dict": {"module.x": t, "module.y": t}, "epoch": 1})) == {"x", "y"}
    assert set(state_dict_of({"model": {"x": t, "module.y": t}})) == {"x", "module.y"}
    assert set(state_dict_of({"x": t, "cfg": "plain"})) == {"x"}


def test_one_strict_load_message():
    e = mismatch_error("w.pth", "SAM vit_b", ["a", "b", "c", "d"], ["z"], [("k", (2, 3), (3, 2))])
    assert str(e) == ("w.pth: does not fit the SAM vit_b architecture: 4 missing (e.g. a, b, c); 1 unexpected (e.g. z); "
                      "1 of another shape (e.g. k: (2, 3), expected (3, 2))")
    net = torch.nn.Linear(2, 3)
    check_keys(net, dict(net.state_dict()), "w.pth", "linear")  # a match passes
    with pytest.raises(HatError, match=r"^w.pth: does not fit the linear architecture: 1 missing \(e.g. bias\); "
                                       r"1 unexpected \(e.g. extra\)$"):
        check_keys(net, {"weight": torch.zeros(3, 2), "extra": torch.zeros(1)}, "w.pth", "linear")
    with pytest.raises(HatError, match=r"1 of another shape \(e.g. weight: \(2, 3\), expected \(3, 2\)\)"):
        check_keys(net, {"weight": torch.zeros(2, 3), "bias": torch.zeros(3)}, "w.pth", "linear")


def test_remap_by_order_renames_and_refuses_what_does_not_line_up():
    net = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Linear(3, 1))
    theirs = {f"layer{i}": v + 1 for i, v in enumerate(net.state_dict().values())}
    out = remap_by_order(theirs, net, "w.pth", "the net")
    assert list(out) == list(net.state_dict()) and all(torch.equal(a, b) for a, b in zip(out.values(), theirs.values()))
    theirs["layer0"] = torch.zeros(2, 3)
    with pytest.raises(HatError, match="w.pth: tensors do not line up with the net"):
        remap_by_order(theirs, net, "w.pth", "the net")


# ----------------------------------------------------------------------------- constants, runtime


def test_normalisation_constants_agree_across_units():
    np.testing.assert_allclose(IMAGENET_MEAN_255, np.array(IMAGENET_MEAN) * 255, rtol=1e-9)
    np.testing.assert_allclose(IMAGENET_STD_255, np.array(IMAGENET_STD) * 255, rtol=1e-9)
    # OpenAI CLIP's published 0-1 values, as its clip.py writes them
    np.testing.assert_allclose(CLIP_MEAN_255, np.array([0.48145466, 0.4578275, 0.40821073]) * 255, rtol=1e-8)
    np.testing.assert_allclose(CLIP_STD_255, np.array([0.26862954, 0.26130258, 0.27577711]) * 255, rtol=1e-8)


def test_runtime_names_and_refusals():
    from hat.runtime import autocast, autocast_dtype, check_precision, resolve_device

    assert check_precision("bf16") is torch.bfloat16 and check_precision("fp32") is torch.float32
    with pytest.raises(HatError, match=r"unknown precision 'fp8' \(valid: fp32, fp16, bf16\)"):
        check_precision("fp8")
    cpu = resolve_device("cpu")
    assert autocast_dtype("fp32", cpu) is None and autocast_dtype("bf16", cpu) is torch.bfloat16
    with pytest.raises(HatError, match="fp16 needs a CUDA device"):
        autocast_dtype("fp16", cpu)
    with autocast(cpu, torch.bfloat16):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.bfloat16
    with autocast(cpu, None):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32
    with pytest.raises(HatError, match="unknown device 'gpu0'"):
        resolve_device("gpu0")
