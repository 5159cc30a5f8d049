"""Small random CLIPs in the released layouts, and reference computations written apart from hat's adapters.

The references use open_clip's model object for the CLIP towers and plain torch for everything the
papers add, following each official repository's test code; frames are given at the models' input
size so no resizing library enters the comparison.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

EMBED, WIDTH, PATCH, IMAGE = 32, 64, 8, 32
XCLIP_EMBED = 64  # X-CLIP's MIT and prompt generator use embed / 64 heads

CLASSES = ["abseiling", "archery", "bending back", "pull_ups"]


def tiny_clip(seed: int = 0, embed: int = EMBED):
    from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg

    torch.manual_seed(seed)
    m = CLIP(embed, CLIPVisionCfg(layers=2, width=WIDTH, patch_size=PATCH, image_size=IMAGE),
             CLIPTextCfg(width=WIDTH, heads=1, layers=2), quick_gelu=True)
    with torch.no_grad():  # random init leaves some tensors at zero/one; make every weight matter
        for name, p in m.named_parameters():
            if "ln" in name or name.endswith("bias"):
                p.add_(0.05 * torch.randn_like(p))
        m.logit_scale.fill_(math.log(1 / 0.07))
    return m.eval().requires_grad_(False)


def openai_dtypes(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """What OpenAI's convert_weights leaves: conv/linear/attention weights and projections in fp16."""
    out = {}
    for k, v in sd.items():
        half = (k.endswith(("in_proj_weight", "in_proj_bias")) or ".c_fc." in k or ".c_proj." in k
                or ".out_proj." in k or k in ("text_projection", "visual.proj", "visual.conv1.weight"))
        out[k] = v.detach().clone().half() if half else v.detach().clone()
    return out


def as_float_model(sd16: dict[str, torch.Tensor], seed: int = 0):
    """The reference net holds exactly the (fp16-rounded) weights that were saved."""
    m = tiny_clip(seed)
    m.load_state_dict({k: v.float() for k, v in sd16.items()})
    return m.eval().requires_grad_(False)


def frames(n: int, t: int, h: int = 36, w: int = 48, seed: int = 0) -> np.ndarray:
    """uint8 clips at the tiny models' resize size (short side 36 = 32·256/224), a real centre crop left to do."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (n, 1, h, w, 3))
    drift = rng.integers(-30, 30, (n, t, h, w, 3))
    return np.clip(base + drift, 0, 255).astype(np.uint8)


def centre_crop_normalise(clips: np.ndarray, size: int, mean, std) -> torch.Tensor:
    h, w = clips.shape[2:4]
    y, x = (h - size) // 2, (w - size) // 2
    c = torch.tensor(clips[:, :, y : y + size, x : x + size], dtype=torch.float64).permute(0, 1, 4, 2, 3)
    m = torch.tensor(mean, dtype=torch.float64).view(1, 1, 3, 1, 1)
    s = torch.tensor(std, dtype=torch.float64).view(1, 1, 3, 1, 1)
    return ((c - m) / s).float()


CLIP_MEAN = [255 * v for v in (0.48145466, 0.4578275, 0.40821073)]
CLIP_STD = [255 * v for v in (0.26862954, 0.26130258, 0.27577711)]
IMAGENET_MEAN = [123.675, 116.28, 103.53]
IMAGENET_STD = [58.395, 57.12, 57.375]


def text_features(model, prompts: list[str]) -> torch.Tensor:
    import open_clip

    with torch.no_grad():
        return model.encode_text(open_clip.tokenize(prompts))


def image_features(model, x: torch.Tensor) -> torch.Tensor:
    n, t = x.shape[:2]
    with torch.no_grad():
        return model.encode_image(x.flatten(0, 1)).view(n, t, -1)


def layer_norm(x, w, b, eps):
    return F.layer_norm(x, (x.shape[-1],), w.float(), b.float(), eps)


def attention(x_q, x_kv, p: dict, prefix: str, heads: int) -> torch.Tensor:
    """nn.MultiheadAttention's maths from its packed weights, batch-first."""
    w, b = p[prefix + "in_proj_weight"].float(), p[prefix + "in_proj_bias"].float()
    d = x_q.shape[-1]
    q = x_q @ w[:d].T + b[:d]
    k = x_kv @ w[d : 2 * d].T + b[d : 2 * d]
    v = x_kv @ w[2 * d :].T + b[2 * d :]

    def split(z):
        return z.view(*z.shape[:-1], heads, d // heads).transpose(-2, -3)

    att = (split(q) @ split(k).transpose(-1, -2)) / math.sqrt(d // heads)
    o = (att.softmax(-1) @ split(v)).transpose(-2, -3).reshape(*x_q.shape)
    return o @ p[prefix + "out_proj.weight"].float().T + p[prefix + "out_proj.bias"].float()


def quick_gelu(x):
    return x * torch.sigmoid(1.702 * x)


def residual_block(x, p: dict, prefix: str, heads: int, eps: float = 1e-5) -> torch.Tensor:
    h = layer_norm(x, p[prefix + "ln_1.weight"], p[prefix + "ln_1.bias"], eps)
    x = x + attention(h, h, p, prefix + "attn.", heads)
    h = layer_norm(x, p[prefix + "ln_2.weight"], p[prefix + "ln_2.bias"], eps)
    h = quick_gelu(h @ p[prefix + "mlp.c_fc.weight"].float().T + p[prefix + "mlp.c_fc.bias"].float())
    return x + h @ p[prefix + "mlp.c_proj.weight"].float().T + p[prefix + "mlp.c_proj.bias"].float()


#: ActionCLIP's text augmentations, copied here from its paper's code listing so the test does not read hat's
ACTIONCLIP_TEMPLATES = [
    "a photo of action {}", "a picture of action {}", "Human action of {}", "{}, an action", "{} this is an action",
    "{}, a video of action", "Playing action of {}", "{}", "Playing a kind of action, {}",
    "Doing a kind of action, {}", "Look, the human is {}", "Can you recognize the action of {}?",
    "Video classification of {}", "A video of {}", "The man is {}", "The woman is {}",
]

#: Open-VCLIP's 28 templates, written out in its order
OPENVCLIP_TEMPLATES = [
    "a photo of {}.", "a photo of a person {}.", "a photo of a person using {}.", "a photo of a person doing {}.",
    "a photo of a person during {}.", "a photo of a person performing {}.", "a photo of a person practicing {}.",
    "a video of {}.", "a video of a person {}.", "a video of a person using {}.", "a video of a person doing {}.",
    "a video of a person during {}.", "a video of a person performing {}.", "a video of a person practicing {}.",
    "a example of {}.", "a example of a person {}.", "a example of a person using {}.",
    "a example of a person doing {}.", "a example of a person during {}.", "a example of a person performing {}.",
    "a example of a person practicing {}.", "a demonstration of {}.", "a demonstration of a person {}.",
    "a demonstration of a person using {}.", "a demonstration of a person doing {}.",
    "a demonstration of a person during {}.", "a demonstration of a person performing {}.",
    "a demonstration of a person practicing {}.",
]


def vit_tokens(sd: dict, x: torch.Tensor, prefix: str = "visual.") -> torch.Tensor:
    """ViT stem by hand: patches, class token, positions, ln_pre. x [M,3,S,S] -> [M, L, W]."""
    w = sd[prefix + "conv1.weight"].float()
    p = F.conv2d(x, w, stride=w.shape[-1]).flatten(2).transpose(1, 2)
    cls = sd[prefix + "class_embedding"].float().expand(len(x), 1, -1)
    h = torch.cat([cls, p], 1) + sd[prefix + "positional_embedding"].float()
    return layer_norm(h, sd[prefix + "ln_pre.weight"], sd[prefix + "ln_pre.bias"], 1e-5)


def vit_head(sd: dict, h: torch.Tensor, prefix: str = "visual.") -> torch.Tensor:
    return layer_norm(h[:, 0], sd[prefix + "ln_post.weight"], sd[prefix + "ln_post.bias"], 1e-5) @ sd[prefix + "proj"].float()


def neighbour_block(h: torch.Tensor, p: dict, prefix: str, heads: int, t: int) -> torch.Tensor:
    """Open-VCLIP's block: frame i's queries attend to [frame i+1 | frame i-1 | frame i] keys, zero past the ends."""
    x = layer_norm(h, p[prefix + "ln_1.weight"], p[prefix + "ln_1.bias"], 1e-5)
    w, b = p[prefix + "attn.in_proj_weight"].float(), p[prefix + "attn.in_proj_bias"].float()
    d = x.shape[-1]
    q, k, v = (x @ w[i * d : (i + 1) * d].T + b[i * d : (i + 1) * d] for i in range(3))
    n = len(x) // t
    outs = []
    for c in range(n):
        for i in range(t):
            f = c * t + i
            zero = torch.zeros_like(k[f])
            kk = torch.cat([k[f + 1] if i + 1 < t else zero, k[f - 1] if i > 0 else zero, k[f]])
            vv = torch.cat([v[f + 1] if i + 1 < t else zero, v[f - 1] if i > 0 else zero, v[f]])
            hd = d // heads
            o = []
            for hh in range(heads):
                s = slice(hh * hd, (hh + 1) * hd)
                a = (q[f][:, s] @ kk[:, s].T / math.sqrt(hd)).softmax(-1)
                o.append(a @ vv[:, s])
            outs.append(torch.cat(o, -1))
    att = torch.stack(outs) @ p[prefix + "attn.out_proj.weight"].float().T + p[prefix + "attn.out_proj.bias"].float()
    h = h + att
    y = layer_norm(h, p[prefix + "ln_2.weight"], p[prefix + "ln_2.bias"], 1e-5)
    y = quick_gelu(y @ p[prefix + "mlp.c_fc.weight"].float().T + p[prefix + "mlp.c_fc.bias"].float())
    return h + y @ p[prefix + "mlp.c_proj.weight"].float().T + p[prefix + "mlp.c_proj.bias"].float()


# ----------------------------------------------------------------------------- X-CLIP (original layout)


def xclip_original_state_dict(seed: int, frames: int = 4, mit_layers: int = 1, prompt_layers: int = 2) -> dict:
    """A tiny X-CLIP in the original key layout: CLIP's keys plus message tokens, MIT and the prompt generator."""
    clip = tiny_clip(seed, embed=XCLIP_EMBED)
    sd = {k: v.clone() for k, v in clip.state_dict().items()}
    g = torch.Generator().manual_seed(seed + 1000)

    def rnd(*shape, scale=0.1, one=False):
        return (1.0 if one else 0.0) + scale * torch.randn(*shape, generator=g)

    w, e = WIDTH, XCLIP_EMBED
    for i in range(2):  # vision blocks: message tokens
        p = f"visual.transformer.resblocks.{i}."
        sd.update({p + "message_fc.weight": rnd(w, w), p + "message_fc.bias": rnd(w),
                   p + "message_ln.weight": rnd(w, one=True), p + "message_ln.bias": rnd(w),
                   p + "message_attn.in_proj_weight": rnd(3 * w, w), p + "message_attn.in_proj_bias": rnd(3 * w),
                   p + "message_attn.out_proj.weight": rnd(w, w), p + "message_attn.out_proj.bias": rnd(w)})
    sd["mit.positional_embedding"] = rnd(1, frames, e)
    for i in range(mit_layers):
        p = f"mit.resblocks.{i}."
        sd.update({p + "attn.in_proj_weight": rnd(3 * e, e), p + "attn.in_proj_bias": rnd(3 * e),
                   p + "attn.out_proj.weight": rnd(e, e), p + "attn.out_proj.bias": rnd(e),
                   p + "ln_1.weight": rnd(e, one=True), p + "ln_1.bias": rnd(e),
                   p + "mlp.c_fc.weight": rnd(4 * e, e), p + "mlp.c_fc.bias": rnd(4 * e),
                   p + "mlp.c_proj.weight": rnd(e, 4 * e), p + "mlp.c_proj.bias": rnd(e),
                   p + "ln_2.weight": rnd(e, one=True), p + "ln_2.bias": rnd(e)})
    sd.update({"prompts_visual_ln.weight": rnd(w, one=True), "prompts_visual_ln.bias": rnd(w),
               "prompts_visual_proj": rnd(w, e), "prompts_generator.norm.weight": rnd(e, one=True),
               "prompts_generator.norm.bias": rnd(e), "prompts_generator.alpha": rnd(e, scale=0.5)})
    for i in range(prompt_layers):
        p = f"prompts_generator.decoder.{i}."
        sd.update({p + "cross_attn.q_proj.weight": rnd(e, e), p + "cross_attn.k_proj.weight": rnd(e, e),
                   p + "cross_attn.v_proj.weight": rnd(e, e), p + "cross_attn.proj.weight": rnd(e, e),
                   p + "cross_attn.proj.bias": rnd(e), p + "norm1.weight": rnd(e, one=True), p + "norm1.bias": rnd(e),
                   p + "norm3.weight": rnd(e, one=True), p + "norm3.bias": rnd(e),
                   p + "mlp.0.weight": rnd(4 * e, e), p + "mlp.0.bias": rnd(4 * e),
                   p + "mlp.3.weight": rnd(e, 4 * e), p + "mlp.3.bias": rnd(e)})
    return sd


def xclip_reference(sd: dict, x: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
    """X-CLIP's inference as its paper and code describe it, by hand. x [B,T,3,S,S]; text [C,E] projected EOT features."""
    b, t = x.shape[:2]
    w, e = sd["visual.conv1.weight"].shape[0], sd["text_projection"].shape[1]
    h = vit_tokens(sd, x.flatten(0, 1))  # [BT, L, W]
    length = h.shape[1]
    n_layers = len({k.split(".")[3] for k in sd if k.startswith("visual.transformer.resblocks.")})
    for i in range(n_layers):
        p = f"visual.transformer.resblocks.{i}."
        # cross-frame communication: each frame's raw class token becomes a message, the messages of a clip attend
        msg = (h[:, 0] @ sd[p + "message_fc.weight"].T + sd[p + "message_fc.bias"]).view(b, t, w)
        m_in = layer_norm(msg, sd[p + "message_ln.weight"], sd[p + "message_ln.bias"], 1e-5)
        msg = msg + attention(m_in, m_in, sd, p + "message_attn.", heads=w // 64)
        y = torch.cat([h, msg.reshape(b * t, 1, w)], dim=1)  # the message token goes last
        z = layer_norm(y, sd[p + "ln_1.weight"], sd[p + "ln_1.bias"], 1e-5)
        y = y + attention(z, z, sd, p + "attn.", heads=w // 64)
        h = y[:, :length]  # message dropped before the MLP
        z = layer_norm(h, sd[p + "ln_2.weight"], sd[p + "ln_2.bias"], 1e-5)
        z = quick_gelu(z @ sd[p + "mlp.c_fc.weight"].T + sd[p + "mlp.c_fc.bias"])
        h = h + z @ sd[p + "mlp.c_proj.weight"].T + sd[p + "mlp.c_proj.bias"]
    cls = vit_head(sd, h).view(b, t, e)
    img = layer_norm(h[:, 1:], sd["prompts_visual_ln.weight"], sd["prompts_visual_ln.bias"], 1e-5) @ sd["prompts_visual_proj"]
    img = img.view(b, t, -1, e).mean(1)
    # multi-frame integration transformer
    v = cls + sd["mit.positional_embedding"]
    for i in range(len({k.split(".")[2] for k in sd if k.startswith("mit.resblocks.")})):
        v = residual_block(v, sd, f"mit.resblocks.{i}.", heads=e // 64)
    video = (v + cls).mean(1)
    # video-specific prompting: the class features attend to the clip's patch tokens
    vis = layer_norm(img, sd["prompts_generator.norm.weight"], sd["prompts_generator.norm.bias"], 1e-5)
    q = text.unsqueeze(0).expand(b, -1, -1)
    y = q
    for i in range(len({k.split(".")[2] for k in sd if k.startswith("prompts_generator.decoder.")})):
        p = f"prompts_generator.decoder.{i}.cross_attn."
        z = layer_norm(y, sd[f"prompts_generator.decoder.{i}.norm1.weight"], sd[f"prompts_generator.decoder.{i}.norm1.bias"], 1e-5)
        hd = e // (e // 64)
        qq = (z @ sd[p + "q_proj.weight"].T).view(b, -1, e // 64, hd).transpose(1, 2)
        kk = (vis @ sd[p + "k_proj.weight"].T).view(b, -1, e // 64, hd).transpose(1, 2)
        vv = (vis @ sd[p + "v_proj.weight"].T).view(b, -1, e // 64, hd).transpose(1, 2)
        att = ((qq @ kk.transpose(-1, -2)) * hd ** -0.5).softmax(-1) @ vv
        att = att.transpose(1, 2).reshape(b, -1, e)
        y = y + att @ sd[p + "proj.weight"].T + sd[p + "proj.bias"]
        pre = f"prompts_generator.decoder.{i}."
        z = layer_norm(y, sd[pre + "norm3.weight"], sd[pre + "norm3.bias"], 1e-5)
        z = quick_gelu(z @ sd[pre + "mlp.0.weight"].T + sd[pre + "mlp.0.bias"])
        y = y + z @ sd[pre + "mlp.3.weight"].T + sd[pre + "mlp.3.bias"]
    txt = q + sd["prompts_generator.alpha"] * y
    video = video / video.norm(dim=-1, keepdim=True)
    txt = txt / txt.norm(dim=-1, keepdim=True)
    return torch.einsum("bd,bcd->bc", video, sd["logit_scale"].exp() * txt)
