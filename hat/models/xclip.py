"""X-CLIP (Ni et al., ECCV 2022): cross-frame message tokens, a multi-frame integration transformer,
and text prompts conditioned on the video. Run by ``transformers``' ``XCLIPModel``.

Two layouts load into it:
- the original checkpoint (microsoft/VideoX ``X-CLIP``): ``{'model': OpenAI-CLIP names plus
  ``message_*``, ``mit.*``, ``prompts_*``, 'config': yacs}``, converted name by name (fused
  attention projections split into q/k/v, projections transposed); the architecture is read from
  the tensors' shapes, heads = width / 64 everywhere as in the original;
- a Hugging Face directory (``config.json`` + ``model.safetensors`` or ``pytorch_model.bin``,
  optionally ``preprocessor_config.json``), e.g. ``microsoft/xclip-base-patch32`` saved locally.
Scores are the video-conditioned logits of the full model (``logits_per_video``); the frame count is
fixed by the weights (MIT's positions), so ``--frames`` must agree with it.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from ..checkpoints import check_keys, clean_state_dict, file_hash, read_checkpoint
from ..constants import IMAGENET_MEAN, IMAGENET_STD
from ..errors import HatError
from . import MODELS, Layout
from .clip_common import ClipVideoModel, normalize
from .protocols import PROTOCOLS, Protocol, RunOptions, takes_run_options

#: buffers some saved Hugging Face checkpoints carry that the model recomputes
HF_IGNORED = re.compile(r".*(position_ids)$")


def _transformers():
    try:
        import transformers
    except ImportError:
        raise HatError("X-CLIP runs on transformers' XCLIPModel: pip install 'hat-bias[hf]' (transformers<5)") from None
    return transformers


# ----------------------------------------------------------------------------- original -> HF


def _count(sd: dict, prefix: str) -> int:
    pat = re.compile(re.escape(prefix) + r"(\d+)\.")
    return len({m.group(1) for k in sd if (m := pat.match(k))})


def original_config(sd: dict[str, torch.Tensor]) -> dict[str, Any]:
    """The XCLIPConfig of an original checkpoint, from its tensors' shapes."""
    try:
        w = sd["visual.conv1.weight"].shape[0]
        patch = sd["visual.conv1.weight"].shape[-1]
        grid = round((sd["visual.positional_embedding"].shape[0] - 1) ** 0.5)
        e = sd["text_projection"].shape[1]
        tw = sd["ln_final.weight"].shape[0]
        frames = sd["mit.positional_embedding"].shape[1]
        vocab, ctx = sd["token_embedding.weight"].shape[0], sd["positional_embedding"].shape[0]
    except KeyError as k:
        raise HatError(f"not an original X-CLIP state dict: no {k}") from None
    text = dict(vocab_size=vocab, hidden_size=tw, intermediate_size=4 * tw, max_position_embeddings=ctx,
                num_hidden_layers=_count(sd, "transformer.resblocks."), num_attention_heads=tw // 64)
    vision = dict(hidden_size=w, intermediate_size=4 * w, num_hidden_layers=_count(sd, "visual.transformer.resblocks."),
                  num_attention_heads=w // 64, image_size=patch * grid, patch_size=patch, num_frames=frames,
                  mit_hidden_size=e, mit_intermediate_size=4 * e, mit_num_hidden_layers=_count(sd, "mit.resblocks."),
                  mit_num_attention_heads=e // 64)
    return dict(text_config=text, vision_config=vision, projection_dim=e,
                prompt_layers=_count(sd, "prompts_generator.decoder."), prompt_num_attention_heads=e // 64)


_RENAMES = [  # applied in order to what is left after the prefix rules
    ("attn.out_proj", "self_attn.out_proj"), ("ln_1", "layer_norm1"), ("ln_2", "layer_norm2"),
    ("mlp.c_fc", "mlp.fc1"), ("mlp.c_proj", "mlp.fc2"),
]
_PREFIXES = [
    ("visual.transformer.resblocks.", "vision_model.encoder.layers."),
    ("transformer.resblocks.", "text_model.encoder.layers."),
    ("mit.resblocks.", "mit.encoder.layers."),
]
_EXACT = {
    "token_embedding.weight": "text_model.embeddings.token_embedding.weight",
    "positional_embedding": "text_model.embeddings.position_embedding.weight",
    "ln_final.weight": "text_model.final_layer_norm.weight", "ln_final.bias": "text_model.final_layer_norm.bias",
    "visual.class_embedding": "vision_model.embeddings.class_embedding",
    "visual.positional_embedding": "vision_model.embeddings.position_embedding.weight",
    "visual.conv1.weight": "vision_model.embeddings.patch_embedding.weight",
    "visual.ln_pre.weight": "vision_model.pre_layernorm.weight", "visual.ln_pre.bias": "vision_model.pre_layernorm.bias",
    "visual.ln_post.weight": "vision_model.post_layernorm.weight", "visual.ln_post.bias": "vision_model.post_layernorm.bias",
    "mit.positional_embedding": "mit.position_embedding",
    "prompts_visual_proj": "prompts_visual_projection",
    "prompts_visual_ln.weight": "prompts_visual_layernorm.weight", "prompts_visual_ln.bias": "prompts_visual_layernorm.bias",
    "prompts_generator.norm.weight": "prompts_generator.layernorm.weight",
    "prompts_generator.norm.bias": "prompts_generator.layernorm.bias",
    "logit_scale": "logit_scale",
}
_TRANSPOSED = {"visual.proj": "visual_projection.weight", "text_projection": "text_projection.weight"}


def original_to_hf(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Original X-CLIP names -> XCLIPModel names. Unknown keys are kept, so the strict check names them."""
    out: dict[str, torch.Tensor] = {}
    for k, v in sd.items():
        if k in _EXACT:
            out[_EXACT[k]] = v
        elif k in _TRANSPOSED:
            out[_TRANSPOSED[k]] = v.t().contiguous()
        elif k.startswith("prompts_generator.decoder.") or k == "prompts_generator.alpha":
            out[k] = v
        else:
            for old, new in _PREFIXES:
                if k.startswith(old):
                    rest = k[len(old):]
                    if rest.split(".", 1)[1].startswith("message_"):
                        out[new + rest.replace("message_attn.in_proj_", "message_attn.@")] = v
                        break
                    for a, b in _RENAMES:
                        rest = rest.replace(a, b)
                    out[new + rest.replace("attn.in_proj_", "self_attn.@")] = v
                    break
            else:
                out["unknown:" + k] = v
    # fused in_proj -> q, k, v
    for k in [k for k in out if "@" in k]:
        v = out.pop(k)
        head, kind = k.split("@")  # kind: weight | bias
        for name, part in zip(("q_proj", "k_proj", "v_proj"), v.chunk(3, dim=0)):
            out[f"{head}{name}.{kind}"] = part.contiguous()
    return out


# ----------------------------------------------------------------------------- the adapter


def _hf_weights(d: Path) -> dict[str, torch.Tensor]:
    for name in ("model.safetensors", "pytorch_model.bin"):
        if (d / name).is_file():
            sd = read_checkpoint(d / name)
            return {k: v for k, v in sd.items() if isinstance(v, torch.Tensor)}
    raise HatError(f"{d}: no model.safetensors or pytorch_model.bin next to config.json")


def _hf_protocol(d: Path, size: int) -> tuple[Protocol, int]:
    """The original's test protocol with a HF directory's ``preprocessor_config.json`` where it gives one,
    and the crop size (the model's input ``size`` unless the file names another)."""
    published = PROTOCOLS["xclip"]
    pre = d / "preprocessor_config.json"
    if not pre.is_file():
        return published, size
    cfg = json.loads(pre.read_text())
    crop = cfg.get("crop_size", size)
    crop = crop.get("height", size) if isinstance(crop, dict) else int(crop)
    short = cfg.get("size", crop)
    short = short.get("shortest_edge", crop) if isinstance(short, dict) else int(short)
    scale = 255.0 if cfg.get("do_rescale", True) else 1.0
    mean = tuple(float(m) * scale for m in cfg.get("image_mean", list(IMAGENET_MEAN)))
    std = tuple(float(s) * scale for s in cfg.get("image_std", list(IMAGENET_STD)))
    resample = {2: "bilinear", 3: "bicubic"}.get(int(cfg.get("resample", 2)))
    if resample is None:
        raise HatError(f"{pre}: resample {cfg.get('resample')} is not supported (valid: 2 bilinear, 3 bicubic)")
    # transformers' processors: the same PIL resize as torchvision, the short side to ``short``, crop ``crop``
    return replace(published, resize=(short, crop), mean=mean, std=std, interpolation=resample, style="hf"), crop


class XCLIP(ClipVideoModel):
    arch = "xclip"

    def __init__(self, hf_sd: dict[str, torch.Tensor], config: dict[str, Any], *, path: str, weights_hash: str,
                 layout: str, published: Protocol, size: int, options: RunOptions):
        tf = _transformers()
        cfg = tf.XCLIPConfig(**config)
        cfg._attn_implementation = "eager"
        net = tf.XCLIPModel(cfg)
        hf_sd = {k: v for k, v in hf_sd.items() if not HF_IGNORED.match(k)}
        own = {k: v for k, v in net.state_dict().items() if not HF_IGNORED.match(k)}
        check_keys(own, hf_sd, path, f"xclip ({layout} layout)")
        net.load_state_dict({k: v.float() for k, v in hf_sd.items()}, strict=False)  # only the ignored buffers left out
        self.model_frames = int(cfg.vision_config.num_frames)
        frames = options.frames
        if frames and int(frames) != self.model_frames:
            raise HatError(f"{path}: this X-CLIP was built for {self.model_frames} frames (its MIT positions and "
                           f"message tokens), --frames {frames} cannot change that")
        self.layout = layout
        super().__init__(path=path, weights_hash=weights_hash, size=size, options=replace(options, frames=None),
                         published=replace(published, frames=self.model_frames))
        self.finish_init(net)

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        out = self.net.text_model(input_ids=tokens, attention_mask=(tokens != 0).long(), return_dict=True)
        return self.net.text_projection(out.pooler_output)

    def logits(self, video: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        m = self.net
        n, t = video.shape[:2]
        vo = m.vision_model(pixel_values=video.flatten(0, 1), return_dict=True)
        cls = m.visual_projection(vo.pooler_output).view(n, t, -1)
        v = m.mit(cls, return_dict=True).pooler_output
        img = m.prompts_visual_layernorm(vo.last_hidden_state[:, 1:]) @ m.prompts_visual_projection
        img = img.view(n, t, -1, img.shape[-1]).mean(1)
        txt = text[0].unsqueeze(0).expand(n, -1, -1)  # one template: the class name itself
        txt = txt + m.prompts_generator(txt, img)
        return m.logit_scale.exp() * torch.einsum("nd,ncd->nc", normalize(v), normalize(txt))

    def set_classes(self, classes: list[str]) -> None:
        if len(self.templates) != 1:
            raise HatError("X-CLIP conditions one prompt per class on the video: give a single template")
        super().set_classes(classes)

    def describe(self) -> dict:
        return {**super().describe(), "layout": self.layout, "scores": "video-conditioned logits"}


def is_original_xclip(ckpt: dict) -> bool:
    m = ckpt.get("model")
    return isinstance(m, dict) and any(str(k).startswith("mit.") for k in m) and any(str(k).startswith("prompts_generator.") for k in m)


def is_hf_xclip(ckpt: dict) -> bool:
    return isinstance(ckpt.get("hf_config"), dict) and ckpt["hf_config"].get("model_type") == "xclip"


@MODELS.register("xclip", help="X-CLIP: original checkpoint ({'model': mit.*, prompts_generator.*}) or a Hugging Face XCLIPModel directory",
                 detect=(Layout(is_original_xclip, "X-CLIP {'model': {'mit.*', 'prompts_generator.*', 'visual.*', ...}, 'config'}",
                                markers=("model.mit.", "model.prompts_generator.", "model.prompts_visual_proj")),
                         Layout(is_hf_xclip, "Hugging Face XCLIPModel directory (config.json with model_type 'xclip')")))
@takes_run_options
def make_xclip(checkpoint: dict | None = None, path: str = "", **options) -> XCLIP:
    if checkpoint is None:
        raise HatError("xclip is built from its checkpoint: --model path/to/k400_32_8.pth or a Hugging Face directory")
    opts = RunOptions(**options)
    if is_hf_xclip(checkpoint):
        d = Path(checkpoint["hf_dir"])
        sd = _hf_weights(d)
        cfg = {k: v for k, v in checkpoint["hf_config"].items() if k not in ("architectures", "model_type", "transformers_version")}
        published, crop = _hf_protocol(d, int(cfg.get("vision_config", {}).get("image_size", 224)))
        files = [d / n for n in ("config.json", "model.safetensors", "pytorch_model.bin") if (d / n).is_file()]
        h = file_hash(files[1]) if len(files) > 1 else ""
        return XCLIP(sd, cfg, path=str(d), weights_hash=h, layout="huggingface", published=published, size=crop, options=opts)
    m = checkpoint.get("model")
    if not isinstance(m, dict):
        raise HatError(f"{path}: expected an X-CLIP checkpoint ({{'model': {{'mit.*', 'prompts_generator.*', ...}}}}) or a Hugging Face directory")
    sd = clean_state_dict(m, "each", tensors=True)
    cfg = original_config(sd)
    return XCLIP(original_to_hf(sd), cfg, path=path, weights_hash=file_hash(path), layout="original",
                 published=PROTOCOLS["xclip"], size=cfg["vision_config"]["image_size"], options=opts)
