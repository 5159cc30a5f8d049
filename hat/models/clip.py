"""Plain CLIP zero-shot: every frame through the image tower, features averaged over time.

The baseline every CLIP video paper compares against. Takes OpenAI's released ``.pt`` files
(TorchScript archives: only their state dict is read) or any OpenAI-layout state dict
(open_clip ``.bin`` / ``.safetensors`` of the same architecture).
"""

from __future__ import annotations

import torch

from . import MODELS, register_layout
from .base import Sampling, file_hash
from .clip_common import (
    CLIP_MEAN, CLIP_STD, FrameMeanCLIP, Preprocess, build_clip, override_sampling, state_dict_of,
)


class ClipZeroShot(FrameMeanCLIP):
    arch = "clip"
    default_templates = "photo"

    def __init__(self, sd: dict[str, torch.Tensor], *, path: str, weights_hash: str, quick_gelu: bool = True,
                 frames: int | None = None, sampling: str | None = None, rate: int | None = None,
                 views: int | None = None, crops: int = 1, **kw):
        net = build_clip(sd, f"{path} (clip)", quick_gelu=quick_gelu)
        size = net.visual.image_size[0] if isinstance(net.visual.image_size, tuple) else net.visual.image_size
        super().__init__(
            path=path, weights_hash=weights_hash,
            preprocess=Preprocess(size=size, resize=size, mean=CLIP_MEAN, std=CLIP_STD, crops=crops, interpolation="bicubic"),
            sampling=override_sampling(Sampling(8, "segment"), frames, sampling, rate, views), **kw,
        )
        self.finish_init(net)



def is_openai_clip(ckpt: dict) -> bool:
    sd = state_dict_of(ckpt)
    return "token_embedding.weight" in sd and ("visual.proj" in sd or "visual.attnpool.positional_embedding" in sd) \
        and not any(k.startswith(("mit.", "prompts_generator.")) for k in sd)


@MODELS.register("clip", help="plain CLIP zero-shot, frame features averaged (OpenAI .pt or state dict)")
def make_clip(checkpoint: dict | None = None, path: str = "", device: str = "cpu", precision: str = "fp32",
              frames: int | None = None, templates: str | None = None, sampling: str | None = None,
              rate: int | None = None, views: int | None = None, crops: int = 1, quick_gelu: bool = True,
              cache_dir: str | None = None, class_names: str | None = None, clip_weights: str | None = None) -> ClipZeroShot:
    from .clip_common import read_clip_weights

    if checkpoint is None:  # `--model clip --clip-weights ViT-B-16.pt`
        sd, h = read_clip_weights(clip_weights, "the plain CLIP baseline is the base CLIP weights themselves")
        path = clip_weights
    else:
        sd, h = state_dict_of(checkpoint), file_hash(path)
    return ClipZeroShot(sd, path=path, weights_hash=h, quick_gelu=quick_gelu, frames=frames, sampling=sampling,
                        rate=rate, views=views, crops=crops, device=device, precision=precision,
                        templates=templates, cache_dir=cache_dir, class_names=class_names)


register_layout("clip", "OpenAI-layout CLIP state dict (visual.*, token_embedding.weight, transformer.*)", generic=True)(is_openai_clip)
