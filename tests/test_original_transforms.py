"""Each adapter's resize, crop and sampling equal the original code's, on non-square frames.

References are written here from each original's rules (torchvision's own transforms where the
original used them; mmcv's and PySlowFast's arithmetic written out), apart from hat's Preprocess.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from hat.constants import CLIP_MEAN_255, CLIP_STD_255, IMAGENET_MEAN_255, IMAGENET_STD_255
from hat.evaluate import combine_views
from hat.models.base import Sampling
from hat.models.clip_common import Preprocess


def textured(h: int = 256, w: int = 340, t: int = 2, seed: int = 0) -> np.ndarray:
    """Fine texture plus edges: resampling filters and one-pixel crop shifts both show."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (t, h, w, 3)).astype(np.float64)
    yy, xx = np.mgrid[0:h, 0:w]
    stripes = 127 * (np.sin(xx / 3.0) + np.cos(yy / 5.0))[None, :, :, None]
    return np.clip(0.5 * base + stripes + 64, 0, 255).astype(np.uint8)


def to_pixels(x: torch.Tensor, mean, std) -> np.ndarray:
    """Normalised [N,T,3,S,S] back to 0-255 grey levels."""
    m = torch.tensor(mean).view(1, 1, 3, 1, 1)
    s = torch.tensor(std).view(1, 1, 3, 1, 1)
    return (x * s + m).numpy()


def torchvision_reference(clip: np.ndarray, resize: int, crop: int, interpolation) -> np.ndarray:
    """OpenAI CLIP's / ActionCLIP's test transform: torchvision Resize + CenterCrop on PIL images."""
    from PIL import Image
    from torchvision import transforms as T

    tf = T.Compose([T.Resize(resize, interpolation=interpolation), T.CenterCrop(crop), T.PILToTensor()])
    return np.stack([tf(Image.fromarray(f)).numpy().astype(np.float64) for f in clip])


@pytest.mark.parametrize("h,w", [(256, 340), (240, 320), (341, 257)])
def test_clip_and_actionclip_resize_equal_torchvision(h, w):
    from torchvision.transforms import InterpolationMode

    clip = textured(h, w)
    for resize in (224, 256):  # plain CLIP (224), ActionCLIP (224·256//224)
        pre = Preprocess(size=224, resize=resize, mean=CLIP_MEAN_255, std=CLIP_STD_255, interpolation="bicubic")
        got = to_pixels(pre(clip[None]), CLIP_MEAN_255, CLIP_STD_255)[0]
        want = torchvision_reference(clip, resize, 224, InterpolationMode.BICUBIC)
        assert np.abs(got - want).max() <= 1.0 + 1e-3, (h, w, resize)  # the issue's bar: ≤ 1 grey level
        assert np.abs(got - want).max() < 1e-3  # in fact the same PIL filter: equal


def test_torchvision_sizes_and_offsets_as_the_issue_measured():
    pre = Preprocess(size=224, resize=224, interpolation="bicubic")
    assert pre.resized_size(256, 340) == (224, 297)  # long side truncated, not rounded (298)
    assert pre.crop_boxes(224, 297) == [(0, 36)]  # int(round(36.5)) = 36
    assert Preprocess(size=224, resize=256, interpolation="bicubic").resized_size(240, 320) == (256, 341)


def mmcv_reference(clip: np.ndarray, short: int, crop: int, three: bool = False) -> np.ndarray:
    """mmaction's Resize(scale=(-1, short)) + CenterCrop / ThreeCrop, as ViFi-CLIP's and X-CLIP's datasets/pipeline.py."""
    import cv2

    h, w = clip.shape[1:3]
    sf = min(math.inf / max(h, w), short / min(h, w))
    nw, nh = int(w * sf + 0.5), int(h * sf + 0.5)
    frames = np.stack([cv2.resize(f, (nw, nh), interpolation=cv2.INTER_LINEAR) for f in clip])
    if not three:
        x0, y0 = (nw - crop) // 2, (nh - crop) // 2
        return frames[None, :, y0 : y0 + crop, x0 : x0 + crop].transpose(0, 1, 4, 2, 3).astype(np.float64)
    step = (nw - crop) // 2
    offsets = [(0, 0), (2 * step, 0), (step, 0)]
    return np.stack([frames[:, y : y + crop, x : x + crop] for x, y in offsets]).transpose(0, 1, 4, 2, 3).astype(np.float64)


@pytest.mark.parametrize("h,w", [(256, 340), (240, 321)])
def test_vificlip_and_xclip_resize_equal_mmcv(h, w):
    clip = textured(h, w)
    pre = Preprocess(size=224, resize=256, mean=IMAGENET_MEAN_255, std=IMAGENET_STD_255, style="mmcv")
    got = to_pixels(pre(clip[None]), IMAGENET_MEAN_255, IMAGENET_STD_255)
    assert np.abs(got - mmcv_reference(clip, 256, 224)).max() < 1e-3
    three = Preprocess(size=224, resize=224, mean=IMAGENET_MEAN_255, std=IMAGENET_STD_255, crops=3, style="mmcv")
    got3 = to_pixels(three(clip[None]), IMAGENET_MEAN_255, IMAGENET_STD_255)
    want3 = mmcv_reference(clip, 224, 224, three=True)
    assert np.abs(np.sort(got3.reshape(3, -1), 0) - np.sort(want3.reshape(3, -1), 0)).max() < 1e-3
    assert sorted(x for _, x in three.crop_boxes(224, 299)) == [0, 37, 74]  # not flush: 2·(75//2)


def slowfast_reference(clip: np.ndarray, size: int, spatial_idx: int = 1) -> torch.Tensor:
    """PySlowFast's test path: /255, normalise, random_short_side_scale_jitter(size, size), uniform_crop."""
    x = torch.from_numpy(clip).float() / 255.0
    x = (x - torch.tensor(CLIP_MEAN_255) / 255) / (torch.tensor(CLIP_STD_255) / 255)
    x = x.permute(3, 0, 1, 2)  # C,T,H,W
    h, w = x.shape[2:]
    if min(h, w) != size:
        if w < h:
            nh, nw = int(math.floor(h / w * size)), size
        else:
            nh, nw = size, int(math.floor(w / h * size))
        x = F.interpolate(x, size=(nh, nw), mode="bilinear", align_corners=False)
    h, w = x.shape[2:]
    y0, x0 = int(math.ceil((h - size) / 2)), int(math.ceil((w - size) / 2))
    if spatial_idx != 1:
        if h > w:
            y0 = 0 if spatial_idx == 0 else h - size
        else:
            x0 = 0 if spatial_idx == 0 else w - size
    return x[:, :, y0 : y0 + size, x0 : x0 + size].permute(1, 0, 2, 3)  # T,C,S,S


@pytest.mark.parametrize("h,w", [(256, 340), (240, 320), (360, 241)])
def test_openvclip_resize_equals_pyslowfast(h, w):
    clip = textured(h, w)
    pre = Preprocess(size=224, resize=224, mean=CLIP_MEAN_255, std=CLIP_STD_255, style="slowfast")
    got = pre(clip[None])[0]
    want = slowfast_reference(clip, 224)
    assert torch.allclose(got, want, atol=1e-4)
    three = Preprocess(size=224, resize=224, mean=CLIP_MEAN_255, std=CLIP_STD_255, crops=3, style="slowfast")(clip[None])
    for i in range(3):
        assert torch.allclose(three[i], slowfast_reference(clip, 224, i), atol=1e-4)
    # offset ceil(d/2): 320x240 -> 298x224, x0 = 37 (torchvision and mmcv would give 37 and 37, 36.5 -> 36 for 297)
    assert pre.resized_size(240, 320) == (224, 298) and pre.crop_boxes(224, 297) == [(0, 37)]


def test_openvclip_offset_sampling_starts_as_the_original():
    """300 frames at 30 fps, 8 frames at rate 16, 3 views: Δ = 172, starts 0/86/172 (offset) vs 0/57.3/114.7."""
    on = Sampling(8, "dense", rate=16, views=3, target_fps=30.0, offset=True).source_indices(300, 30.0)
    assert on[:, 0].tolist() == [0, 86, 172]
    assert on[0].tolist() == [0, 18, 36, 54, 72, 90, 108, 127]
    assert on[2].tolist() == [172, 190, 208, 226, 244, 262, 280, 299]
    off = Sampling(8, "dense", rate=16, views=3, target_fps=30.0).source_indices(300, 30.0)
    assert off[:, 0].tolist() == [0, 57, 114]
    one = Sampling(8, "dense", rate=16, views=1, target_fps=30.0, offset=True).source_indices(300, 30.0)
    assert one[0, 0] == 86  # floor(Δ/2)
    assert "offset" not in Sampling(8).to_dict() and Sampling(8, offset=True).to_dict()["offset"] is True


def test_openvclip_views_add_raw_logits():
    logits = np.array([[1.0, 3.0], [2.0, 0.0], [0.5, 0.5]])
    assert combine_views(logits, 3, "logits", "sum_logits").tolist() == [[3.5, 3.5]]
    assert combine_views(logits, 3, "logits", "logits").tolist() == [[3.5 / 3, 3.5 / 3]]


def test_openvclip_adapter_protocol(tmp_path, monkeypatch):
    import clip_refs as R
    from hat.models import load_model

    monkeypatch.setenv("HAT_CACHE_DIR", str(tmp_path / "cache"))
    base = R.tiny_clip(0)
    sd = {f"model.{k}": v for k, v in R.openai_dtypes(R.tiny_clip(5).state_dict()).items()}
    torch.save({"model_state": sd}, tmp_path / "swa.pth")
    torch.save(R.openai_dtypes(base.state_dict()), tmp_path / "base.pt")
    m = load_model(str(tmp_path / "swa.pth"), classes=R.CLASSES, clip_weights=str(tmp_path / "base.pt"))
    assert m.sampling.offset and m.view_reduce == "sum_logits" and m.preprocess.style == "slowfast"
    assert not load_model(str(tmp_path / "swa.pth"), classes=R.CLASSES, clip_weights=str(tmp_path / "base.pt"),
                          offset=False).sampling.offset
    clips = R.frames(1, 8, 40, 52)
    three = load_model(str(tmp_path / "swa.pth"), classes=R.CLASSES, clip_weights=str(tmp_path / "base.pt"), crops=3)
    x = three.prepare(clips)
    per_crop = [three.logits(x[i : i + 1], three.text).numpy() for i in range(3)]
    assert np.allclose(three.forward(x), np.sum(per_crop, 0), atol=1e-5)  # crops add logits too
