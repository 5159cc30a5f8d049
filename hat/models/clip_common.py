"""What the CLIP video adapters share: towers built by open_clip, preprocessing, prompts, text cache.

Each adapter (one file each) turns its released checkpoint into OpenAI-layout CLIP weights plus its
own extras, and says how it samples frames, preprocesses them, writes prompts and scores. The
towers are open_clip's ``CLIP``; the only hand-written network parts are the ones the papers add.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
from abc import abstractmethod
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ..assets import CLIP_RELEASES, cache_root, clip_arch, find_clip_weights, weights_dirs
from ..checkpoints import check_keys, file_hash, read_checkpoint, state_dict_of
from ..constants import CLIP_MEAN_255, CLIP_STD_255
from ..errors import HatError
from ..runtime import check_precision, resolve_device
from ..store import atomic_path
from .base import Sampling, VideoClassifier
from .protocols import PROTOCOLS, Protocol, RunOptions

#: Prompt template sets (``{}`` is the class name); adapters pick their default, ``--templates`` overrides.
TEMPLATES: dict[str, tuple[str, ...]] = {
    "photo": ("a photo of a {}.",),
    "plain": ("{}",),
    # ActionCLIP's 16 text augmentations (utils/Text_Prompt.py), in its order
    "actionclip": (
        "a photo of action {}", "a picture of action {}", "Human action of {}", "{}, an action",
        "{} this is an action", "{}, a video of action", "Playing action of {}", "{}",
        "Playing a kind of action, {}", "Doing a kind of action, {}", "Look, the human is {}",
        "Can you recognize the action of {}?", "Video classification of {}", "A video of {}",
        "The man is {}", "The woman is {}",
    ),
    # Open-VCLIP's 28 templates (temporalclip_video_model.py), in its order and spelling
    "openvclip": tuple(
        f"{head} of {body}{{}}."
        for head in ("a photo", "a video", "a example", "a demonstration")
        for body in ("", "a person ", "a person using ", "a person doing ", "a person during ", "a person performing ",
                     "a person practicing ")
    ),
}


def resolve_templates(spec: str | Iterable[str] | None, default: str) -> tuple[str, ...]:
    """A built-in set name, a file (one template per line), or a literal template with ``{}``."""
    if spec is None:
        spec = default
    if not isinstance(spec, str):
        out = tuple(spec)
    elif spec in TEMPLATES:
        out = TEMPLATES[spec]
    elif "{}" in spec:
        out = (spec,)
    elif Path(spec).is_file():
        out = tuple(line.rstrip("\n") for line in Path(spec).read_text().splitlines() if line.strip())
    else:
        raise HatError(f"templates '{spec}' is not a set ({', '.join(TEMPLATES)}), a file, or a template with '{{}}'")
    bad = [t for t in out if t.count("{}") != 1]
    if not out or bad:
        raise HatError(f"every template needs exactly one '{{}}' for the class name (bad: {bad[:3] or 'none given'})")
    return out


def prompt_name(name: str) -> str:
    """Class names as the papers write them in prompts: underscores as spaces, SSv2's placeholders generic."""
    name = name.replace("_", " ").replace("[something]", "something").replace("[Something]", "Something")
    return " ".join(name.split())


def read_class_names(path: str | Path, expected: int) -> list[str]:
    names = [line.strip() for line in Path(path).read_text().splitlines() if line.strip()]
    if len(names) != expected:
        raise HatError(f"{path}: {len(names)} class names, the benchmark has {expected} classes")
    return names


# ----------------------------------------------------------------------------- weights


def vision_arch(sd: dict[str, Any], prefix: str = "visual.") -> str | None:
    """OpenAI's name (``ViT-B/16`` ...) of the ViT vision tower under ``prefix``, when it is a released one."""
    conv, pos = sd.get(prefix + "conv1.weight"), sd.get(prefix + "positional_embedding")
    if conv is None or pos is None:
        return None
    blocks = prefix + "transformer.resblocks."
    layers = len({k[len(blocks):].split(".")[0] for k in sd if k.startswith(blocks)})
    patch = int(conv.shape[-1])
    return clip_arch(int(conv.shape[0]), layers, patch, patch * round((pos.shape[0] - 1) ** 0.5))


def read_clip_weights(path: str | None, why: str, arch: str | None = None) -> tuple[dict[str, torch.Tensor], str]:
    """The base OpenAI CLIP weights some formats need; the error says why when they are missing.

    Without ``path``, the released file of ``arch`` is taken from the weights folders (the choice is
    said on stderr, since it decides the results).
    """
    if not path:
        found = find_clip_weights(arch) if arch else None
        if found is None:
            where = ""
            if arch in CLIP_RELEASES:
                where = f"; or put OpenAI's {CLIP_RELEASES[arch][0]} in {' or '.join(map(str, weights_dirs()))}"
            raise HatError(f"--clip-weights is required: {why}{where}")
        print(f"hat: --clip-weights not given: using {found} (OpenAI CLIP {arch})", file=sys.stderr)
        path = str(found)
    if not Path(path).is_file():
        raise HatError(f"--clip-weights file not found: {path}")
    sd = state_dict_of(read_checkpoint(path))
    if "token_embedding.weight" not in sd or "visual.conv1.weight" not in sd:
        raise HatError(f"{path}: not OpenAI-layout CLIP weights (no token_embedding.weight / visual.conv1.weight)")
    return sd, file_hash(path)


def clip_config(sd: dict[str, torch.Tensor], what: str = "weights") -> dict[str, Any]:
    """Architecture of an OpenAI-layout CLIP state dict, read from its shapes."""
    from open_clip.model import CLIPTextCfg, CLIPVisionCfg

    need = ("text_projection", "positional_embedding", "token_embedding.weight", "ln_final.weight")
    missing = [k for k in need if k not in sd]
    if missing:
        raise HatError(f"{what}: not a CLIP state dict: missing {', '.join(missing)}")
    if "visual.proj" in sd:
        width = sd["visual.conv1.weight"].shape[0]
        patch = sd["visual.conv1.weight"].shape[-1]
        grid = round((sd["visual.positional_embedding"].shape[0] - 1) ** 0.5)
        layers = len({k.split(".")[3] for k in sd if k.startswith("visual.transformer.resblocks.")})
        vision = CLIPVisionCfg(layers=layers, width=width, patch_size=patch, image_size=patch * grid)
    elif "visual.attnpool.positional_embedding" in sd:
        counts = tuple(len({k.split(".")[2] for k in sd if k.startswith(f"visual.layer{b}.")}) for b in (1, 2, 3, 4))
        grid = round((sd["visual.attnpool.positional_embedding"].shape[0] - 1) ** 0.5)
        vision = CLIPVisionCfg(layers=counts, width=sd["visual.layer1.0.conv1.weight"].shape[0], image_size=grid * 32)
    else:
        raise HatError(f"{what}: not a CLIP state dict: no visual.proj (ViT) or visual.attnpool (ResNet) weights")
    tw = sd["ln_final.weight"].shape[0]
    text = CLIPTextCfg(
        context_length=sd["positional_embedding"].shape[0], vocab_size=sd["token_embedding.weight"].shape[0],
        width=tw, heads=tw // 64, layers=len({k.split(".")[2] for k in sd if k.startswith("transformer.resblocks.")}),
    )
    return {"embed_dim": sd["text_projection"].shape[1], "vision_cfg": vision, "text_cfg": text}


def build_clip(sd: dict[str, torch.Tensor], path: str, what: str, quick_gelu: bool = True) -> torch.nn.Module:
    """An open_clip ``CLIP`` holding exactly these weights (fp32; every key used, none missing)."""
    from open_clip.model import CLIP

    sd = {k: v for k, v in sd.items() if k not in ("input_resolution", "context_length", "vocab_size")}
    model = CLIP(**clip_config(sd, f"{path} ({what})"), quick_gelu=quick_gelu)
    check_keys(model, sd, path, what)
    model.load_state_dict({k: v.float() for k, v in sd.items()}, strict=True)
    return model.eval()


# ----------------------------------------------------------------------------- frames


#: How the original codes resize and crop, named after the library that does it:
#: ``torchvision``: ``Resize(S)`` + ``CenterCrop`` on PIL images (OpenAI CLIP, ActionCLIP): PIL's filter
#:   (antialiased when shrinking), long side ``int(S*long/short)``, crop offset ``int(round(d/2))``;
#: ``hf``: transformers' image processors (X-CLIP directories): the same PIL resize, crop offset ``d//2``;
#: ``mmcv``: mmaction's ``Resize(-1, S)`` + ``CenterCrop``/``ThreeCrop`` (ViFi-CLIP, X-CLIP originals):
#:   ``cv2.resize`` (no antialiasing), long side ``int(long*S/short + 0.5)``, offset ``d//2``, three crops
#:   at 0, d//2 and 2·(d//2);
#: ``slowfast``: PySlowFast (Open-VCLIP): normalise, then ``F.interpolate`` bilinear (no antialiasing)
#:   unless the short side is already S, long side ``floor(long/short*S)``, offset ``ceil(d/2)``, three
#:   crops at 0, ceil(d/2) and d.
RESIZE_STYLES = ("torchvision", "hf", "mmcv", "slowfast")


@dataclass(frozen=True)
class Preprocess:
    """Resize the short side, crop square(s), normalise: the transform belongs to the model."""

    size: int = 224
    resize: int = 256
    mean: tuple[float, float, float] = CLIP_MEAN_255
    std: tuple[float, float, float] = CLIP_STD_255
    crops: int = 1
    interpolation: str = "bilinear"
    style: str = "torchvision"

    def __post_init__(self) -> None:
        if self.crops not in (1, 3):
            raise HatError(f"crops must be 1 (centre) or 3 (both ends and centre of the long side), got {self.crops}")
        if self.interpolation not in ("bilinear", "bicubic"):
            raise HatError(f"unknown interpolation '{self.interpolation}' (valid: bilinear, bicubic)")
        if self.style not in RESIZE_STYLES:
            raise HatError(f"unknown resize style '{self.style}' (valid: {', '.join(RESIZE_STYLES)})")
        if self.style == "slowfast" and self.interpolation != "bilinear":
            raise HatError("resize style slowfast is bilinear only")

    def resized_size(self, h: int, w: int) -> tuple[int, int]:
        """(height, width) after the short side is brought to ``resize``, rounded as the style's library does."""
        s = self.resize
        short, long = min(h, w), max(h, w)
        if self.style in ("torchvision", "hf"):
            new_long = int(s * long / short)
        elif self.style == "mmcv":
            new_long, s = int(long * (s / short) + 0.5), int(short * (s / short) + 0.5)
        else:
            if short == s:
                return h, w
            new_long = int(math.floor(long / short * s))
        return (s, new_long) if h <= w else (new_long, s)

    def crop_boxes(self, h: int, w: int) -> list[tuple[int, int]]:
        """Top-left corners of the crops on a frame of h×w (after resizing)."""
        c, dy, dx = self.size, h - self.size, w - self.size
        half = {"torchvision": lambda d: int(round(d / 2.0)), "slowfast": lambda d: -(-d // 2)}.get(self.style, lambda d: d // 2)
        cy, cx = half(dy), half(dx)
        if self.crops == 1:
            return [(cy, cx)]
        if self.style == "mmcv":  # ThreeCrop: the far crop at 2·(d//2), not flush when d is odd
            return [(cy, 0), (cy, 2 * (dx // 2)), (cy, cx)] if w >= h else [(0, cx), (2 * (dy // 2), cx), (cy, cx)]
        if w >= h:
            return [(cy, 0), (cy, cx), (cy, w - c)]
        return [(0, cx), (cy, cx), (h - c, cx)]

    def __call__(self, clips: np.ndarray) -> torch.Tensor:
        """uint8 [B,T,H,W,3] RGB -> float [B*crops, T, 3, size, size], crops of a clip adjacent."""
        clips = np.asarray(clips, dtype=np.uint8)
        b, t, h, w = clips.shape[:4]
        nh, nw = self.resized_size(h, w)
        mean = torch.tensor(self.mean).view(1, 1, 3, 1, 1)
        std = torch.tensor(self.std).view(1, 1, 3, 1, 1)
        if self.style == "slowfast":  # normalised float frames are resized, as PySlowFast's test transform
            x = (torch.from_numpy(clips).permute(0, 1, 4, 2, 3).float() - mean) / std
            if (nh, nw) != (h, w):
                x = F.interpolate(x.flatten(0, 1), size=(nh, nw), mode="bilinear", align_corners=False).view(b, t, 3, nh, nw)
            views = [x[..., y : y + self.size, xx : xx + self.size] for y, xx in self.crop_boxes(nh, nw)]
            return torch.stack(views, dim=1).flatten(0, 1).contiguous()
        if (nh, nw) != (h, w):
            flat = clips.reshape(b * t, h, w, 3)
            clips = np.stack([self._resize(f, nh, nw) for f in flat]).reshape(b, t, nh, nw, 3)
        views = [clips[:, :, y : y + self.size, x : x + self.size] for y, x in self.crop_boxes(nh, nw)]
        x = torch.from_numpy(np.ascontiguousarray(np.stack(views, axis=1))).flatten(0, 1)
        x = x.permute(0, 1, 4, 2, 3).float()
        return (x - mean) / std

    def _resize(self, frame: np.ndarray, h: int, w: int) -> np.ndarray:
        if self.style == "mmcv":
            interp = {"bilinear": cv2.INTER_LINEAR, "bicubic": cv2.INTER_CUBIC}[self.interpolation]
            return cv2.resize(frame, (w, h), interpolation=interp)
        from PIL import Image

        resample = {"bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC}[self.interpolation]
        return np.asarray(Image.fromarray(frame).resize((w, h), resample))


# ----------------------------------------------------------------------------- the adapter base


class ClipVideoModel(VideoClassifier):
    """A CLIP-based video classifier: zero-shot over any class list through its text tower.

    Subclasses build ``self.net`` and implement :meth:`encode_text` (prompts -> features) and
    :meth:`logits` (preprocessed clips and the class features -> scores). Text features are
    computed once per (weights, templates, class names, precision) and kept in memory and on disk.
    """

    arch = "clip"
    #: the adapter's own scoring ends in probabilities (ActionCLIP) rather than logits
    native_probs = False

    def __init__(self, *, path: str, weights_hash: str, size: int, options: RunOptions,
                 published: Protocol | None = None, offset: bool | None = None):
        """``published``: the architecture's protocol (its row in ``PROTOCOLS`` unless the checkpoint refines it);
        ``options``: the user's overrides and run settings; ``size``: the input size the weights take."""
        self.published = published or PROTOCOLS[self.arch]
        self.preprocess = self.published.preprocess(size, options.crops)
        self._sampling = self.published.sampling_with(options, offset)
        check_precision(options.precision)
        self.path = path
        self.name = Path(path).stem if path else self.arch
        self.weights_hash = weights_hash
        self.num_frames = self._sampling.num_frames
        self.templates = resolve_templates(options.templates, self.default_templates)
        self.device = resolve_device(options.device)
        self.precision = options.precision
        self.dtype = check_precision(options.precision)
        self.cache = cache_root(options.cache_dir)
        self.class_names_file = options.class_names
        self.classes: list[str] = []
        self.text: torch.Tensor | None = None
        self._text_memo: dict[str, torch.Tensor] = {}

    @property
    def default_templates(self) -> str:
        """The template set of the architecture's protocol (a checkpoint's own prompt comes as an option)."""
        return PROTOCOLS[self.arch].templates

    @property
    def view_reduce(self) -> str:  # type: ignore[override]
        """How views (crops here, temporal views in the harness) are combined: the protocol's rule."""
        return self.published.view_reduce

    @property
    def sampling(self) -> Sampling:
        return self._sampling

    @property
    def score_kind(self) -> str:  # several crops combined as mean probabilities are probabilities
        if self.native_probs:
            return "probs"
        return "probs" if self.preprocess.crops > 1 and self.view_reduce == "probs" else "logits"

    def finish_init(self, net: torch.nn.Module) -> None:
        self.net = net.eval().to(self.device, self.dtype)
        for p in self.net.parameters():
            p.requires_grad_(False)

    # -- text
    def tokenize(self, texts: list[str]) -> torch.Tensor:
        import open_clip

        return open_clip.tokenize(texts)

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        """int [P, L] -> float [P, D] (unnormalised); an open_clip CLIP's text tower unless overridden."""
        return self.net.encode_text(tokens)

    def prompts(self, classes: list[str]) -> list[str]:
        """Template-major order: all classes of the first template, then the second, ..."""
        return [t.format(c) for t in self.templates for c in classes]

    def set_classes(self, classes: list[str]) -> None:
        names = read_class_names(self.class_names_file, len(classes)) if self.class_names_file else list(classes)
        names = [prompt_name(c) for c in names]
        self.classes = list(classes)
        self.text = self.class_features(names)

    def set_candidates(self, classes: list[str], candidates: list[int]) -> bool:
        """The text classifier over the candidate classes only (the zero-shot protocols' restricted label space)."""
        names = read_class_names(self.class_names_file, len(classes)) if self.class_names_file else list(classes)
        self.classes = [classes[i] for i in candidates]
        self.text = self.class_features([prompt_name(names[i]) for i in candidates])
        return True

    def _cache_key(self, names: list[str]) -> str:
        blob = json.dumps([self.arch, self.weights_hash, self.precision, list(self.templates), names])
        return hashlib.sha256(blob.encode()).hexdigest()[:24]

    @torch.no_grad()
    def class_features(self, names: list[str]) -> torch.Tensor:
        """[K templates, C, D] text features, cached per (weights, templates, names, precision)."""
        key = self._cache_key(names)
        if key in self._text_memo:
            return self._text_memo[key]
        path = self.cache / "text" / f"{key}.npy" if self.cache else None
        if path is not None and path.is_file():
            feats = torch.from_numpy(np.load(path, allow_pickle=False))
        else:
            prompts = self.prompts(names)
            chunks = []
            for i in range(0, len(prompts), 256):
                tokens = self.tokenize(prompts[i : i + 256]).to(self.device)
                chunks.append(self.encode_text(tokens).float().cpu())
            feats = torch.cat(chunks).view(len(self.templates), len(names), -1)
            if path is not None:
                try:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    with atomic_path(path) as tmp:
                        with open(tmp, "wb") as f:
                            np.save(f, feats.numpy(), allow_pickle=False)
                except OSError:
                    pass  # a read-only cache is no reason to fail an evaluation
        feats = feats.to(self.device, self.dtype)
        self._text_memo[key] = feats
        return feats

    # -- video
    @abstractmethod
    def logits(self, video: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """[N,T,3,S,S] normalised clips, [K,C,D] class features -> [N,C] scores."""

    def predict(self, clips: np.ndarray) -> np.ndarray:
        return self.forward(self.prepare(clips))

    def prepare(self, clips: np.ndarray) -> torch.Tensor:
        """The model's own transform, per clip: clips of any size come out as [N*crops, T, 3, S, S]."""
        return self.preprocess(clips)

    @torch.no_grad()
    def forward(self, inputs: torch.Tensor) -> np.ndarray:
        if self.text is None:
            raise HatError(f"model {self.name}: no class list set (call set_classes first)")
        x = inputs.to(self.device, self.dtype)
        out = self.logits(x, self.text).float()
        crops = self.preprocess.crops
        if crops > 1:
            out = out.view(-1, crops, out.shape[-1])
            if self.view_reduce == "sum_logits" and not self.native_probs:
                out = out.sum(1)
            else:
                out = (out if self.native_probs or self.view_reduce == "logits" else out.softmax(-1)).mean(1)
        return out.cpu().numpy().astype(np.float64)

    def protocol(self) -> str:
        """How this run evaluates the weights, short: two runs of one checkpoint differ here or nowhere."""
        s = self.sampling
        frames = f"{s.num_frames}f {s.mode}" + (f"/{s.rate}" if s.mode == "dense" else "")
        names = f", names {Path(self.class_names_file).name}" if self.class_names_file else ""
        tpl = hashlib.sha256("\n".join(self.templates).encode()).hexdigest()[:6]
        return (f"{frames} x{s.views} views x{self.preprocess.crops} crops, {len(self.templates)} templates ({tpl}), "
                f"{self.precision}{names}")

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name, "arch": self.arch, "checkpoint": self.path, "hash": self.weights_hash,
            "protocol": self.protocol(),
            "num_frames": self.num_frames, "input_size": self.preprocess.size,
            "sampling": self.sampling.to_dict(), "preprocess": asdict(self.preprocess),
            "templates": list(self.templates), "precision": self.precision, "device": str(self.device),
            "class_names": self.class_names_file or "benchmark",
        }


def weights_id(*hashes: str) -> str:
    return "+".join(h for h in hashes if h)


def override_sampling(default: Sampling, frames: int | None, sampling: str | None, rate: int | None, views: int | None,
                      offset: bool | None = None) -> Sampling:
    """The adapter's protocol with the user's overrides (``--frames``, ``-M sampling=dense`` ...)."""
    return Sampling(
        num_frames=int(frames) if frames else default.num_frames,
        mode=sampling or default.mode,
        rate=int(rate) if rate else default.rate,
        views=int(views) if views else default.views,
        target_fps=default.target_fps,
        offset=default.offset if offset is None else bool(offset),
    )


def normalize(x: torch.Tensor) -> torch.Tensor:
    return x / x.norm(dim=-1, keepdim=True)


def mean_template_features(text: torch.Tensor) -> torch.Tensor:
    """[K,C,D] -> [C,D]: each prompt normalised, averaged over templates, renormalised (CLIP's ensembling)."""
    return normalize(normalize(text).mean(0))


class FrameMeanCLIP(ClipVideoModel):
    """Scores of CLIP with frame features averaged (plain CLIP, ViFi-CLIP): mean, normalise, cosine × scale."""

    def logits(self, video: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        n, t = video.shape[:2]
        frames = self.net.encode_image(video.flatten(0, 1)).view(n, t, -1)
        return self.net.logit_scale.exp() * normalize(frames.mean(1)) @ mean_template_features(text).T
