"""ActionCLIP (Wang et al. 2021): CLIP frames fused by a small temporal transformer, 16 prompt templates.

Checkpoint (sallymmx/ActionCLIP ``train.py``): ``model_state_dict`` holds OpenAI CLIP keys without a
prefix (linear and conv weights fp16, the rest fp32), ``fusion_model_state_dict`` the "Transf" head
with a ``module.`` prefix. Scoring follows its ``test.py``: normalised features, a fixed scale of 100,
softmax per template, probabilities averaged over the 16 templates.
"""

from __future__ import annotations

import functools

import torch
from torch import nn

from ..checkpoints import check_keys, clean_state_dict, file_hash
from ..errors import HatError
from . import MODELS, Layout
from .clip_common import ClipVideoModel, build_clip, normalize
from .protocols import RunOptions, takes_run_options

FUSION_LAYERS = 6


class TemporalTransformer(nn.Module):
    """ActionCLIP's "Transf" fusion: positions added, 6 pre-LN blocks, input added back, mean over time."""

    def __init__(self, width: int, context: int, heads: int, layers: int = FUSION_LAYERS):
        super().__init__()
        from open_clip.transformer import LayerNorm, QuickGELU, Transformer

        self.frame_position_embeddings = nn.Embedding(context, width)
        self.transformer = Transformer(width, layers, heads, act_layer=QuickGELU,
                                       norm_layer=functools.partial(LayerNorm, eps=1e-12))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B,T,D]
        t = x.shape[1]
        if t > self.frame_position_embeddings.num_embeddings:
            raise HatError(f"ActionCLIP's fusion has {self.frame_position_embeddings.num_embeddings} frame positions, asked for {t} frames")
        y = x + self.frame_position_embeddings.weight[:t].to(x.dtype)
        return (self.transformer(y) + x).mean(1)


class MeanPool(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(1)


def fusion_type(fsd: dict) -> str:
    if any(k.startswith("transformer.resblocks.") for k in fsd):
        return "Transf"
    if any(k.startswith("lstm_visual.") for k in fsd):
        return "LSTM"
    if "shift.weight" in fsd:
        return "Conv_1D"
    if any(k.startswith("transformer.cls_token") or k.startswith("transformer.transformer_enc.") for k in fsd):
        return "Transf_cls"
    return "meanP"


class ActionCLIP(ClipVideoModel):
    arch = "actionclip"
    native_probs = True

    def __init__(self, ckpt: dict, *, path: str, weights_hash: str, options: RunOptions, scale: float = 100.0):
        sd = clean_state_dict(ckpt["model_state_dict"], "all")
        clip = build_clip(sd, path, "actionclip model_state_dict")
        fsd = clean_state_dict(ckpt.get("fusion_model_state_dict") or {}, "all")
        kind = fusion_type(fsd)
        if kind == "Transf":
            # heads as in ActionCLIP's visual_prompt: the text transformer's width // 64
            fusion: nn.Module = TemporalTransformer(clip.text_projection.shape[1], fsd["frame_position_embeddings.weight"].shape[0],
                                                    heads=clip.ln_final.weight.shape[0] // 64)
            check_keys(fusion, fsd, path, "actionclip fusion_model_state_dict")
            fusion.load_state_dict({k: v.float() for k, v in fsd.items()}, strict=True)
        elif kind == "meanP" and not fsd:
            fusion = MeanPool()
        else:
            raise HatError(f"{path}: ActionCLIP fusion head '{kind}' is not supported (supported: Transf, meanP)")
        self.fusion_type = kind
        self.scale = float(scale)
        super().__init__(path=path, weights_hash=weights_hash, size=clip.visual.image_size[0], options=options)
        net = nn.Module()
        net.clip, net.fusion = clip, fusion
        self.finish_init(net)

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.net.clip.encode_text(tokens)

    def logits(self, video: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        n, t = video.shape[:2]
        frames = self.net.clip.encode_image(video.flatten(0, 1)).view(n, t, -1)
        v = normalize(self.net.fusion(frames))
        sim = self.scale * torch.einsum("nd,kcd->nkc", v, normalize(text))
        # test.py: softmax over classes for each template, then the mean over templates
        probs = sim.float().softmax(-1).mean(1)
        return probs

    def describe(self) -> dict:
        return {**super().describe(), "fusion": self.fusion_type, "scale": self.scale, "scores": "probabilities"}


def is_actionclip(ckpt: dict) -> bool:
    return isinstance(ckpt.get("model_state_dict"), dict) and "fusion_model_state_dict" in ckpt


@MODELS.register("actionclip", help="ActionCLIP (model_state_dict + fusion_model_state_dict)",
                 detect=Layout(is_actionclip, "ActionCLIP {model_state_dict, fusion_model_state_dict}",
                               markers=("model_state_dict.visual.", "fusion_model_state_dict", "frame_position_embeddings")))
@takes_run_options
def make_actionclip(checkpoint: dict | None = None, path: str = "", scale: float = 100.0, **options) -> ActionCLIP:
    if checkpoint is None:
        raise HatError("actionclip is built from its checkpoint: --model path/to/actionclip.pt")
    if not isinstance(checkpoint.get("model_state_dict"), dict):
        raise HatError(f"{path}: not an ActionCLIP checkpoint (expected model_state_dict and fusion_model_state_dict)")
    return ActionCLIP(checkpoint, path=path, weights_hash=file_hash(path), options=RunOptions(**options), scale=scale)
