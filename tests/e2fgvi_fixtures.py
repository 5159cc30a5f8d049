"""Deterministic random E2FGVI weights in the official layout, and a small network for fast tests."""

from __future__ import annotations

import json
from pathlib import Path

import torch

KEYS_FILE = Path(__file__).parent / "data" / "e2fgvi_state_dict_keys.json"
REF_FILE = Path(__file__).parent / "data" / "e2fgvi_reference_outputs.json"
TINY = dict(base=8, hidden=32, depths=2, heads=4, ffn=98)


def official_keys(variant: str) -> dict[str, tuple[list[int], str]]:
    """name -> (shape, dtype) of the official InpaintGenerator's state dict (e2fgvi or e2fgvi_hq)."""
    return json.loads(KEYS_FILE.read_text())[variant]


def seeded_state_dict(template: dict[str, torch.Tensor], seed: int = 1) -> dict[str, torch.Tensor]:
    """Random floats scaled by fan-in, generated in key order (so any implementation gets the same values);
    integer buffers and SPyNet's normalisation constants are kept from ``template``."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for k, v in template.items():
        if v.dtype.is_floating_point and not k.endswith(("spynet.mean", "spynet.std")):
            fan = max(1, v[0].numel()) if v.dim() else 1
            out[k] = torch.randn(v.shape, generator=g) * (0.5 / fan**0.5)
        else:
            out[k] = v.clone()
    return out


def reference_input(shape: tuple[int, ...], seed: int = 2) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(shape, generator=g) * 2 - 1
