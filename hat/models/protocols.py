"""Each CLIP-family architecture's published evaluation protocol, as data, in one table.

As timm's pretrained configs and open_clip's ``pretrained.py``: the frames, sampling, views, crops,
resize, interpolation, normalisation, prompt templates and view reduction of each paper's own test
code, with where they come from. An adapter starts from its row, lets the checkpoint's own config
refine it (ViFi-CLIP's frame count and views, X-CLIP's frame count and ``preprocessor_config.json``)
and the user override it (:class:`RunOptions`: ``--frames``, ``--templates``, ``-M sampling=dense`` ...).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, fields
from typing import Any, Callable, TypeVar

from ..constants import CLIP_MEAN_255, CLIP_STD_255, IMAGENET_MEAN_255, IMAGENET_STD_255, RGB
from .base import Sampling


@dataclass(frozen=True)
class Protocol:
    """How one architecture's released code evaluates a video (see :class:`Sampling` and ``Preprocess``)."""

    #: where the numbers come from
    source: str
    #: frames per view, and how they are picked (``segment`` or ``dense`` every ``rate`` frames)
    frames: int
    sampling: str = "segment"
    rate: int = 1
    views: int = 1
    #: dense: ``rate`` counts frames at this frame rate (PySlowFast's TARGET_FPS)
    target_fps: float | None = None
    #: dense, several views: PySlowFast's USE_OFFSET_SAMPLING
    offset: bool = False
    #: spatial crops per view (1 centre, or 3 along the long side)
    crops: int = 1
    #: short side before cropping, as a fraction of the input size (256/224: resize 256, crop 224)
    resize: tuple[int, int] = (1, 1)
    #: three crops are cut after resizing the short side to the input size itself (mmaction ThreeCrop test configs)
    three_crops_at_size: bool = False
    interpolation: str = "bilinear"
    #: whose resize and crop rounding (``Preprocess`` styles: torchvision, hf, mmcv, slowfast)
    style: str = "torchvision"
    #: normalisation, on 0-255 pixels
    mean: RGB = CLIP_MEAN_255
    std: RGB = CLIP_STD_255
    #: prompt template set (``TEMPLATES`` in clip_common)
    templates: str = "photo"
    #: how crops and temporal views combine: "probs" (mean softmax), "logits" (mean) or "sum_logits" (added)
    view_reduce: str = "probs"

    def sampling_with(self, options: RunOptions, offset: bool | None = None) -> Sampling:
        """The frames to take, with the user's overrides."""
        from .clip_common import override_sampling

        default = Sampling(self.frames, self.sampling, rate=self.rate, views=self.views, target_fps=self.target_fps,
                           offset=self.offset)
        return override_sampling(default, options.frames, options.sampling, options.rate, options.views, offset)

    def preprocess(self, size: int, crops: int | None = None) -> Any:
        """The transform for an input of ``size`` pixels (``crops``: the user's override)."""
        from .clip_common import Preprocess

        crops = self.crops if crops is None else crops
        a, b = self.resize
        resize = size if crops == 3 and self.three_crops_at_size else size * a // b
        return Preprocess(size=size, resize=resize, mean=self.mean, std=self.std, crops=crops,
                          interpolation=self.interpolation, style=self.style)


#: architecture -> its published protocol
PROTOCOLS: dict[str, Protocol] = {
    # OpenAI CLIP's _transform: Resize(n_px, bicubic) + CenterCrop(n_px); frames averaged, 8 segments
    "clip": Protocol(source="openai/CLIP clip.py _transform", frames=8, interpolation="bicubic"),
    # ActionCLIP test.py: Resize(scale_size = input·256/224, bicubic) + CenterCrop, 8 segments, 16 text
    # augmentations, softmax per template averaged
    "actionclip": Protocol(source="sallymmx/ActionCLIP test.py, datasets/transforms_ss.py", frames=8, resize=(256, 224),
                           interpolation="bicubic", templates="actionclip"),
    # ViFi-CLIP datasets/build.py: short side 256/224 of the input then a centre crop, three crops at input
    # size; frames and views from the checkpoint's config (DATA.NUM_FRAMES, TEST.NUM_CLIP, TEST.NUM_CROP)
    "vificlip": Protocol(source="muzairkhattak/ViFi-CLIP datasets/build.py, configs", frames=32, resize=(256, 224),
                         three_crops_at_size=True, style="mmcv", mean=IMAGENET_MEAN_255, std=IMAGENET_STD_255),
    # X-CLIP (mmaction pipeline as ViFi-CLIP's); frames fixed by the weights; one template: the class name
    "xclip": Protocol(source="microsoft/VideoX X-CLIP datasets/build.py", frames=8, resize=(256, 224),
                      three_crops_at_size=True, style="mmcv", mean=IMAGENET_MEAN_255, std=IMAGENET_STD_255,
                      templates="plain"),
    # Open-VCLIP's released configs: 8 frames at rate 16 (TARGET_FPS 30), 3 views, DATA.USE_OFFSET_SAMPLING True;
    # PySlowFast's test transform (normalise, F.interpolate to short side 224, centre crop); views' logits added
    "openvclip": Protocol(source="wengzejia1/Open-VCLIP configs, slowfast/datasets", frames=8, sampling="dense", rate=16,
                          views=3, target_fps=30.0, offset=True, style="slowfast", templates="openvclip",
                          view_reduce="sum_logits"),
}


@dataclass(frozen=True)
class RunOptions:
    """What a user may set on any CLIP adapter: overrides of its protocol, and where and how it runs."""

    frames: int | None = None
    templates: str | None = None
    sampling: str | None = None
    rate: int | None = None
    views: int | None = None
    crops: int | None = None
    device: str = "cpu"
    precision: str = "fp32"
    cache_dir: str | None = None
    class_names: str | None = None


F = TypeVar("F", bound=Callable[..., Any])


def takes_run_options(factory: F) -> F:
    """Mark a factory ``f(checkpoint, path, <its own options>, **options)`` as taking every :class:`RunOptions` field.

    The fields join its signature, so the registry refuses an unknown ``-M`` option with the full list of
    valid ones, and ``accepts(..., "device")`` sees them, without each factory repeating them.
    """
    sig = inspect.signature(factory)
    own = [p for p in sig.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    extra = [inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default, annotation=f.type)
             for f in fields(RunOptions) if f.name not in sig.parameters]
    factory.__signature__ = sig.replace(parameters=own + extra)  # type: ignore[attr-defined]
    return factory
