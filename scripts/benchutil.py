"""What the bench scripts share."""

from __future__ import annotations

import resource


def peak_mib(device=None) -> float:
    """Peak memory of this process in MiB: GPU memory allocated on CUDA, resident set size otherwise."""
    if device is not None and device.type == "cuda":
        import torch

        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
