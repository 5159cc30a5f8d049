"""ViFi-CLIP (Rasheed et al., CVPR 2023): both CLIP towers fine-tuned on video, frame features averaged.

Checkpoint (muzairkhattak/ViFi-CLIP ``utils/tools.py``): ``{'model', 'optimizer', 'lr_scheduler',
'max_accuracy', 'epoch', 'config'}``; the state dict carries ``module.image_encoder.*`` (OpenAI
``visual.*`` names), ``module.text_encoder.*``, ``module.logit_scale`` and the training classes'
prompt embeddings (``module.prompt_learner.complete_text_embeddings``, unused for new classes).
The token embedding is not saved: it is the original CLIP's, so ``--clip-weights`` is needed. The
pickled yacs ``config`` is read as plain data (frame count, input size, views) without importing yacs.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch

from ..assets import CLIP_RELEASES
from ..checkpoints import clean_state_dict, file_hash
from ..errors import HatError
from . import MODELS, Layout
from .clip_common import FrameMeanCLIP, build_clip, read_clip_weights, vision_arch, weights_id
from .protocols import PROTOCOLS, RunOptions, takes_run_options

#: state-dict entries a vanilla ViFi-CLIP saves that inference does not use, and why
UNUSED = {"prompt_learner.complete_text_embeddings": "prompt token embeddings of the training classes"}
TEXT_KEYS = ("transformer.", "positional_embedding", "ln_final.", "text_projection")


def to_openai(sd: dict[str, torch.Tensor], token_embedding: torch.Tensor, path: str) -> dict[str, torch.Tensor]:
    """ViFi-CLIP's names -> OpenAI CLIP's, every key accounted for."""
    prompted = sorted(k for k in sd if k.startswith("prompt_learner.ctx") or ".VPT" in k or k.startswith("image_encoder.VPT"))
    if prompted:
        raise HatError(f"{path}: a prompt-tuned ViFi-CLIP ({prompted[0]}); only the vanilla (fully fine-tuned) variant is supported")
    out: dict[str, torch.Tensor] = {}
    unknown = []
    for k, v in sd.items():
        if k in UNUSED:
            continue
        if k.startswith("image_encoder."):
            out["visual." + k[len("image_encoder."):]] = v
        elif k.startswith("text_encoder.") and k[len("text_encoder."):].startswith(TEXT_KEYS):
            out[k[len("text_encoder."):]] = v
        elif k == "logit_scale":
            out[k] = v
        else:
            unknown.append(k)
    if unknown:
        raise HatError(f"{path}: {len(unknown)} ViFi-CLIP weights of unknown use (e.g. {', '.join(sorted(unknown)[:3])})")
    out["token_embedding.weight"] = token_embedding
    return out


def config_value(cfg: Any, *keys: str, default: Any = None) -> Any:
    for k in keys:
        if not isinstance(cfg, dict) or k not in cfg:
            return default
        cfg = cfg[k]
    return cfg


def config_template(config: Any) -> str:
    """ViFi-CLIP's prompt: its CTX_INIT words, the class name and a full stop ("a photo of a {}." by default);
    the bare class name in its ZS_EVAL mode."""
    if config_value(config, "TRAINER", "ViFi_CLIP", "ZS_EVAL", default=False):
        return "{}"
    ctx = config_value(config, "TRAINER", "ViFi_CLIP", "CTX_INIT", default="a photo of a")
    return f"{str(ctx).replace('_', ' ').strip()} {{}}." if ctx else "{}."


class ViFiCLIP(FrameMeanCLIP):
    arch = "vificlip"

    def __init__(self, sd: dict, config: dict, *, path: str, weights_hash: str, options: RunOptions):
        net = build_clip(sd, path, "vificlip")
        self.config_frames = config_value(config, "DATA", "NUM_FRAMES")
        # the checkpoint's config refines the published protocol: its frames, views, crops and prompt
        published = replace(PROTOCOLS[self.arch], frames=int(self.config_frames or 32),
                            views=int(config_value(config, "TEST", "NUM_CLIP", default=1)),
                            crops=int(config_value(config, "TEST", "NUM_CROP", default=1)))
        options = replace(options, crops=int(options.crops) if options.crops else None,
                          templates=options.templates or config_template(config))
        super().__init__(path=path, weights_hash=weights_hash, size=net.visual.image_size[0], options=options,
                         published=published)
        self.finish_init(net)

    def describe(self) -> dict:
        return {**super().describe(), "config_frames": self.config_frames}


def is_vificlip(ckpt: dict) -> bool:
    m = ckpt.get("model")
    return isinstance(m, dict) and any(str(k).startswith(("module.image_encoder.", "image_encoder.")) for k in m)


@MODELS.register("vificlip", help="ViFi-CLIP (model: module.image_encoder.*, module.text_encoder.*; needs --clip-weights)",
                 detect=Layout(is_vificlip, "ViFi-CLIP {'model': {'module.image_encoder.*', 'module.text_encoder.*'}, 'config'}",
                               markers=("model.module.image_encoder.", "model.module.text_encoder.",
                                        "model.module.prompt_learner.")))
@takes_run_options
def make_vificlip(checkpoint: dict | None = None, path: str = "", clip_weights: str | None = None, **options) -> ViFiCLIP:
    if checkpoint is None or not isinstance(checkpoint.get("model"), dict):
        raise HatError(f"{path or 'vificlip'}: expected a ViFi-CLIP checkpoint ({{'model': {{'module.image_encoder.*': ...}}}})")
    sd = clean_state_dict(checkpoint["model"], "all")
    arch = config_value(checkpoint.get("config"), "MODEL", "ARCH")
    base, base_hash = read_clip_weights(
        clip_weights, "ViFi-CLIP checkpoints do not store the token embedding (it is the original CLIP's); pass the "
        "OpenAI CLIP file it was trained from (ViT-B-16.pt for the released models)",
        arch=arch if isinstance(arch, str) and arch in CLIP_RELEASES else vision_arch(sd, "image_encoder."))
    tok = base["token_embedding.weight"]
    width = sd.get("text_encoder.ln_final.weight")
    if width is not None and tok.shape[1] != width.shape[0]:
        raise HatError(f"--clip-weights token embedding is {tuple(tok.shape)}, the checkpoint's text width is {width.shape[0]}: another CLIP")
    return ViFiCLIP(to_openai(sd, tok, path), checkpoint.get("config") or {}, path=path,
                    weights_hash=weights_id(file_hash(path), base_hash), options=RunOptions(**options))
