"""Plain CLIP zero-shot: every frame through the image tower, features averaged over time.

The baseline every CLIP video paper compares against. Takes OpenAI's released ``.pt`` files
(TorchScript archives: only their state dict is read) or any OpenAI-layout state dict
(open_clip ``.bin`` / ``.safetensors`` of the same architecture).
"""

from __future__ import annotations

import torch

from ..checkpoints import file_hash, state_dict_of
from . import MODELS, Layout
from .clip_common import FrameMeanCLIP, build_clip
from .protocols import RunOptions, takes_run_options


class ClipZeroShot(FrameMeanCLIP):
    arch = "clip"

    def __init__(self, sd: dict[str, torch.Tensor], *, path: str, weights_hash: str, options: RunOptions,
                 quick_gelu: bool = True):
        net = build_clip(sd, path, "clip", quick_gelu=quick_gelu)
        size = net.visual.image_size[0] if isinstance(net.visual.image_size, tuple) else net.visual.image_size
        super().__init__(path=path, weights_hash=weights_hash, size=size, options=options)
        self.finish_init(net)


def is_openai_clip(ckpt: dict) -> bool:
    sd = state_dict_of(ckpt)
    return "token_embedding.weight" in sd and ("visual.proj" in sd or "visual.attnpool.positional_embedding" in sd) \
        and not any(k.startswith(("mit.", "prompts_generator.")) for k in sd)


@MODELS.register("clip", help="plain CLIP zero-shot, frame features averaged (OpenAI .pt or state dict)",
                 detect=Layout(is_openai_clip, "OpenAI-layout CLIP state dict (visual.*, token_embedding.weight, transformer.*)",
                               generic=True))
@takes_run_options
def make_clip(checkpoint: dict | None = None, path: str = "", quick_gelu: bool = True, clip_weights: str | None = None,
              **options) -> ClipZeroShot:
    from .clip_common import read_clip_weights

    if checkpoint is None:  # `--model clip --clip-weights ViT-B-16.pt`
        sd, h = read_clip_weights(clip_weights, "the plain CLIP baseline is the base CLIP weights themselves")
        path = clip_weights
    else:
        sd, h = state_dict_of(checkpoint), file_hash(path)
    return ClipZeroShot(sd, path=path, weights_hash=h, options=RunOptions(**options), quick_gelu=quick_gelu)
