"""Open-VCLIP (Weng et al., ICML 2023): CLIP whose image attention also sees the neighbouring frames.

Checkpoint (wengzejia1/Open-VCLIP ``weight_average_tool.py``): ``{'model_state': {'model.<OpenAI CLIP key>'}}``.
Its test code patches the weights with the original CLIP, w = r·w_CLIP + (1−r)·w_ckpt (r = 0.5 for
B/32 and B/16, 0.6 for L/14), so the base weights are needed (``--clip-weights``); the class text
features come from the original CLIP's text tower. Every image block attends, for frame t, to the
tokens of frames t−1, t and t+1 (zero keys and values past the clip's ends). Frame logits are
averaged; views (temporal, and spatial crops) add their raw logits, no softmax (PySlowFast's
``TestMeter`` with ``ENSEMBLE_METHOD: sum``). Views start as ``get_start_end_idx`` with the
released configs' ``USE_OFFSET_SAMPLING: True`` (``-M offset=false`` for PySlowFast's default).
Frames are normalised, then resized with ``F.interpolate`` (bilinear, no antialiasing) to short side
224 and centre-cropped at ``ceil(d/2)``, as PySlowFast's test transform.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..checkpoints import clean_state_dict, file_hash
from ..errors import HatError
from . import MODELS, Layout
from .clip_common import ClipVideoModel, build_clip, mean_template_features, normalize, read_clip_weights, vision_arch, weights_id
from .protocols import RunOptions, takes_run_options


def neighbour_attention(block: torch.nn.Module, x: torch.Tensor, t: int) -> torch.Tensor:
    """Self-attention of one ViT block where frame i's queries meet the keys of frames i+1, i−1 and i.

    x: [N*T, L, D] tokens of N clips of T frames (clip-major), after ``ln_1``.
    """
    attn = block.attn
    nt, length, d = x.shape
    heads = attn.num_heads
    q, k, v = F.linear(x, attn.in_proj_weight, attn.in_proj_bias).chunk(3, dim=-1)

    def split(z: torch.Tensor) -> torch.Tensor:  # -> [N, T, heads, L, hd]
        return z.view(nt // t, t, length, heads, d // heads).transpose(2, 3)

    q, k, v = split(q), split(k), split(v)

    def with_neighbours(z: torch.Tensor) -> torch.Tensor:
        nxt = torch.cat([z[:, 1:], torch.zeros_like(z[:, :1])], dim=1)
        prv = torch.cat([torch.zeros_like(z[:, :1]), z[:, :-1]], dim=1)
        return torch.cat([nxt, prv, z], dim=3)  # [N, T, heads, 3L, hd]

    out = F.scaled_dot_product_attention(q, with_neighbours(k), with_neighbours(v))
    out = out.transpose(2, 3).reshape(nt, length, d)
    return attn.out_proj(out)


def temporal_encode_image(visual: torch.nn.Module, x: torch.Tensor, t: int) -> torch.Tensor:
    """open_clip's ViT forward with every block's attention made temporal. x: [N*T,3,S,S] -> [N*T, D]."""
    x = visual.conv1(x)
    x = x.reshape(x.shape[0], x.shape[1], -1).permute(0, 2, 1)
    cls = visual.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
    x = torch.cat([cls, x], dim=1) + visual.positional_embedding.to(x.dtype)
    x = visual.ln_pre(x)
    for blk in visual.transformer.resblocks:
        x = x + blk.ls_1(neighbour_attention(blk, blk.ln_1(x), t))
        x = x + blk.ls_2(blk.mlp(blk.ln_2(x)))
    return visual.ln_post(x[:, 0]) @ visual.proj


class OpenVCLIP(ClipVideoModel):
    arch = "openvclip"

    def __init__(self, ckpt_sd: dict, base_sd: dict, *, path: str, weights_hash: str, options: RunOptions,
                 patch_ratio: float | None = None, offset: bool | None = None):
        missing = sorted(set(base_sd) - set(ckpt_sd) - {"input_resolution", "context_length", "vocab_size"})
        if missing:
            raise HatError(f"{path}: lacks {len(missing)} CLIP weights that --clip-weights has (e.g. {', '.join(missing[:3])}); "
                           "is it an Open-VCLIP checkpoint of the same architecture?")
        wide = base_sd["visual.conv1.weight"].shape[0] >= 1024
        r = float(patch_ratio if patch_ratio is not None else (0.6 if wide else 0.5))
        if not 0.0 <= r <= 1.0:
            raise HatError(f"patch_ratio must be within [0, 1] (got {r})")
        mixed = {}
        for k, v in ckpt_sd.items():
            if k not in base_sd:
                mixed[k] = v  # an unexpected key: build_clip names it
            elif tuple(v.shape) != tuple(base_sd[k].shape):
                raise HatError(f"{path}: {k} is {tuple(v.shape)} but --clip-weights has {tuple(base_sd[k].shape)}: another CLIP architecture")
            elif k.startswith("visual.") or k == "logit_scale":
                mixed[k] = r * base_sd[k].float() + (1 - r) * v.float()
            else:  # the reference computes its text classifier with the original CLIP
                mixed[k] = base_sd[k].float()
        net = build_clip(mixed, path, "openvclip")
        if not hasattr(net.visual, "proj") or net.visual.proj is None:
            raise HatError(f"{path}: Open-VCLIP needs a ViT CLIP")
        self.patch_ratio = r
        super().__init__(path=path, weights_hash=weights_hash, size=net.visual.image_size[0], options=options, offset=offset)
        self.finish_init(net)

    def logits(self, video: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        n, t = video.shape[:2]
        f = normalize(temporal_encode_image(self.net.visual, video.flatten(0, 1), t)).view(n, t, -1)
        # logits of every frame, averaged over the frames
        return (self.net.logit_scale.exp() * f @ mean_template_features(text).T).mean(1)

    def describe(self) -> dict:
        return {**super().describe(), "patch_ratio": self.patch_ratio, "views_combined": "mean logits"}


def is_openvclip(ckpt: dict) -> bool:
    ms = ckpt.get("model_state")
    return isinstance(ms, dict) and any(str(k).startswith("model.visual.") for k in ms)


@MODELS.register("openvclip", help="Open-VCLIP ({'model_state': model.*}; needs --clip-weights)",
                 detect=Layout(is_openvclip, "Open-VCLIP {'model_state': {'model.visual.*', 'model.token_embedding.weight', ...}}",
                               markers=("model_state.model.visual.", "model_state.model.token_embedding")))
@takes_run_options
def make_openvclip(checkpoint: dict | None = None, path: str = "", clip_weights: str | None = None,
                   patch_ratio: float | None = None, offset: bool | None = None, **options) -> OpenVCLIP:
    if checkpoint is None or not isinstance(checkpoint.get("model_state"), dict):
        raise HatError(f"{path or 'openvclip'}: expected an Open-VCLIP checkpoint ({{'model_state': {{'model.*': ...}}}})")
    sd = clean_state_dict(checkpoint["model_state"], "only", "model.")
    base, base_hash = read_clip_weights(
        clip_weights, "Open-VCLIP's test code mixes its weights with the original CLIP's (0.5/0.5) and takes the "
        "class text features from the original CLIP; pass the OpenAI file of the same architecture (e.g. ViT-B-16.pt)",
        arch=vision_arch(sd))
    return OpenVCLIP(sd, base, path=path, weights_hash=weights_id(file_hash(path), base_hash), options=RunOptions(**options),
                     patch_ratio=patch_ratio, offset=offset)
