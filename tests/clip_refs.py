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

CLASSES = ["abseiling", "archery", "bending back", "pull_ups"]


def tiny_clip(seed: int = 0):
    from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg

    torch.manual_seed(seed)
    m = CLIP(EMBED, CLIPVisionCfg(layers=2, width=WIDTH, patch_size=PATCH, image_size=IMAGE),
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
