"""Where and in what precision a network runs: device choice, precision names, autocast.

Every backend that runs a network (evaluated models, segmenters, inpainters, scene models) takes
``device`` and ``precision`` through these, so the names and refusals are the same everywhere.
torch is imported on first use: backends that only register themselves stay light.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from .errors import HatError

if TYPE_CHECKING:
    import torch

#: precision name -> torch dtype name, in the order messages list them
PRECISIONS: dict[str, str] = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}


def check_precision(precision: str) -> torch.dtype:
    """The dtype of a precision name; a one-line error naming the valid ones."""
    if precision not in PRECISIONS:
        raise HatError(f"unknown precision '{precision}' (valid: {', '.join(PRECISIONS)})")
    import torch

    return getattr(torch, PRECISIONS[precision])


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """For backends that keep float32 weights and run under autocast: the autocast dtype (None: plain fp32)."""
    dtype = check_precision(precision)
    if precision == "fp16" and device.type != "cuda":
        raise HatError("precision fp16 needs a CUDA device (valid on cpu: fp32, bf16)")
    return None if precision == "fp32" else dtype


def autocast(device: torch.device, dtype: torch.dtype | None):
    """torch.autocast for ``dtype`` on ``device``; nothing for plain fp32."""
    if dtype is None:
        return contextlib.nullcontext()
    import torch

    return torch.autocast(device_type=device.type, dtype=dtype)


def resolve_device(device: str) -> torch.device:
    """A torch device that exists here, or a one-line error saying what is available."""
    import torch

    try:
        dev = torch.device(device)
    except RuntimeError:
        raise HatError(f"unknown device '{device}' (valid: cpu, cuda, cuda:N, mps)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise HatError("--device cuda: no CUDA device is available here (valid: cpu)")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise HatError("--device mps: MPS is not available here (valid: cpu)")
    return dev
