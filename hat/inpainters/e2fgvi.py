"""``--inpainter e2fgvi``: E2FGVI video inpainting from the official checkpoints, in windows of bounded size.

As in the official ``test.py``: windows centred every ``neighbor_stride`` frames hold the consecutive
frames f-stride..f+stride (flow and feature propagation run on them) plus reference frames every
``ref_length``-th frame (attention only); a frame covered by several windows gets their outputs blended
in window order (the original's running 0.5/0.5 average); each output is ``pred*mask + frame*(1-mask)``
with the mask dilated 4x by a 3x3 cross. Differences, on purpose:

* HQ runs at the working resolution, padded by mirroring to multiples of 60 x 108 and cropped back (HAT
  resized everything to 432 x 240 and upsampled, which blurs the whole frame). The non-HQ network only
  works at 432 x 240; its prediction is resized back and pasted inside the mask only.
* Only the windows that cover the benchmark's frames run, and only their frames are decoded and
  segmented (``context``). References are the original's (``num_ref=-1``: every 10th frame of the whole
  video), capped to the ``max_ref`` (30) nearest each window: a Kinetics clip (<= 300 frames) is
  unaffected, and memory does not grow with video length.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from ..errors import HatError
from ..masks import dilate
from . import INPAINTERS, Inpainter

_MODES = ("original", "centred")
_VARIANTS = ("auto", "hq", "e2fgvi")


@dataclass(frozen=True)
class Window:
    centre: int
    local: tuple[int, ...]  # consecutive source frames, f - stride .. f + stride
    refs: tuple[int, ...]  # reference source frames (not among ``local``)


def reference_frames(f: int, local: Iterable[int], n_frames: int, ref_length: int, num_ref: int) -> list[int]:
    """The original ``get_ref_index``, including its ``> num_ref`` test (up to num_ref + 1 references)."""
    local = set(local)
    if num_ref == -1:
        return [i for i in range(0, n_frames, ref_length) if i not in local]
    half = ref_length * (num_ref // 2)
    refs: list[int] = []
    for i in range(max(0, f - half), min(n_frames, f + half) + 1, ref_length):
        if i not in local:
            if len(refs) > num_ref:
                break
            refs.append(i)
    return [i for i in refs if i < n_frames]


def nearest_refs(refs: list[int], centre: int, max_ref: int) -> list[int]:
    """At most ``max_ref`` references, those nearest the window (earlier first on ties); 0 = no cap."""
    if max_ref <= 0 or len(refs) <= max_ref:
        return refs
    return sorted(sorted(refs, key=lambda i: (abs(i - centre), i))[:max_ref])


def plan_windows(targets: Iterable[int], n_frames: int, stride: int = 5, ref_length: int = 10, num_ref: int = -1,
                 mode: str = "original", max_ref: int = 30) -> list[Window]:
    """The windows whose outputs make the frames ``targets`` (source indices), in processing order.

    ``original``: the windows of the official loop (centres 0, stride, 2*stride, ...) that contain a target,
    so each target comes out exactly as if the whole video had been processed. ``centred``: one window
    centred on each target (about half the work; no blending). References follow the original rule,
    capped to the ``max_ref`` nearest the window so that long videos cost no more than short ones.
    """
    targets = sorted({int(t) for t in targets})
    if any(t < 0 or t >= n_frames for t in targets):
        raise HatError(f"e2fgvi targets must be frames 0..{n_frames - 1} of the video (got {targets[0]}..{targets[-1]})")
    if mode == "original":
        centres = sorted({c for t in targets for c in range(((t - stride) // stride) * stride, t + stride + 1, stride)
                          if 0 <= c < n_frames and abs(c - t) <= stride})
    elif mode == "centred":
        centres = targets
    else:
        raise HatError(f"unknown e2fgvi windows mode '{mode}' (valid: {', '.join(_MODES)})")
    out = []
    for c in centres:
        local = tuple(range(max(0, c - stride), min(n_frames, c + stride + 1)))
        if num_ref == -1 and max_ref > 0:  # same result as the line below, without listing the whole video's grid
            refs = _nearest_grid_refs(c, local, n_frames, ref_length, max_ref, stride)
        else:
            refs = nearest_refs(reference_frames(c, local, n_frames, ref_length, num_ref), c, max_ref)
        out.append(Window(c, local, tuple(refs)))
    return out


def _nearest_grid_refs(c: int, local: tuple[int, ...], n_frames: int, ref_length: int, max_ref: int,
                       stride: int) -> list[int]:
    """The ``max_ref`` grid frames (multiples of ref_length) nearest ``c`` outside ``local``: only grid points
    within max_ref + (those local can hide) steps of ``c`` can be among them."""
    reach = max_ref + (2 * stride) // ref_length + 2
    k0, last = c // ref_length, (n_frames - 1) // ref_length
    grid = [k * ref_length for k in range(max(0, k0 - reach), min(last, k0 + reach) + 1)]
    return nearest_refs([i for i in grid if i not in set(local)], c, max_ref)


def needed_frames(windows: Iterable[Window]) -> np.ndarray:
    return np.array(sorted({i for w in windows for i in (*w.local, *w.refs)}), dtype=np.int64)


def mirror_pad(x, h: int, w: int):
    """Pad [..., H, W] to (h, w) by repeating the mirrored image, as the official test script does."""
    import torch

    while x.shape[-2] < h:
        x = torch.cat([x, torch.flip(x, [-2])], -2)
    while x.shape[-1] < w:
        x = torch.cat([x, torch.flip(x, [-1])], -1)
    return x[..., :h, :w]


def load_e2fgvi(path: str, variant: str = "auto"):
    """InpaintGenerator from an official checkpoint; HQ or not is read from its keys, widths from its shapes."""
    from ..checkpoints import load_state_file, mismatch_error
    from .e2fgvi_net import E2FGVIArch, InpaintGenerator

    if variant not in _VARIANTS:
        raise HatError(f"unknown e2fgvi variant '{variant}' (valid: {', '.join(_VARIANTS)})")
    sd = load_state_file(path, "E2FGVI", "give --e2fgvi-ckpt E2FGVI-HQ-CVPR22.pth or E2FGVI-CVPR22.pth")
    hq = "sc.bias_conv.weight" in sd
    if not hq and "sc.bias" not in sd:
        raise HatError(f"{path}: not an E2FGVI generator (no sc.bias_conv.weight or sc.bias; a discriminator or "
                       "optimizer file?)")
    if variant != "auto" and hq != (variant == "hq"):
        raise HatError(f"{path}: is the {'HQ' if hq else 'non-HQ'} network, not variant '{variant}'")
    try:
        depths = 1 + max(int(k.split(".")[1]) for k in sd if k.startswith("transformer."))
        arch = E2FGVIArch(hq=hq, base=int(sd["encoder.layers.0.weight"].shape[0]),
                          hidden=int(sd["ss.embedding.weight"].shape[0]), depths=depths,
                          ffn=int(sd["transformer.0.mlp.conv1.0.weight"].shape[0]))
        net = InpaintGenerator(arch)
    except (KeyError, ValueError) as e:
        raise HatError(f"{path}: does not fit the E2FGVI architecture ({e})") from None
    what = "E2FGVI" + ("-HQ" if hq else "")
    shapes = [(k, sd[k].shape, v.shape) for k, v in net.state_dict().items() if k in sd and v.shape != sd[k].shape]
    if shapes:
        raise mismatch_error(path, what, shapes=shapes)
    missing, unexpected = net.load_state_dict(sd, strict=False)
    if missing or unexpected:
        raise mismatch_error(path, what, list(missing), list(unexpected))
    return net.eval()


class E2FGVIInpainter(Inpainter):
    name = "e2fgvi"

    def __init__(self, ckpt: str = "", variant: str = "auto", neighbor_stride: int = 5, ref_length: int = 10,
                 num_ref: int = -1, max_ref: int = 30, windows: str = "original", dilation: int = 4, device: str = "cpu",
                 precision: str = "fp32", model=None):
        from ..checkpoints import file_hash
        from ..runtime import autocast_dtype, check_precision, resolve_device
        from .e2fgvi_net import InpaintGenerator

        check_precision(precision)
        if windows not in _MODES:
            raise HatError(f"unknown e2fgvi windows mode '{windows}' (valid: {', '.join(_MODES)})")
        if int(neighbor_stride) < 1 or int(ref_length) < 1 or int(num_ref) < -1 or int(max_ref) < 0:
            raise HatError(f"neighbor_stride and ref_length must be >= 1, num_ref >= -1 and max_ref >= 0 (got "
                           f"{neighbor_stride}, {ref_length}, {num_ref}, {max_ref})")
        self.device = resolve_device(device)
        self.dtype = autocast_dtype(precision, self.device)
        if model is not None and not isinstance(model, InpaintGenerator):
            raise HatError("e2fgvi model= takes an InpaintGenerator built in Python; from the command line give "
                           "--e2fgvi-ckpt (or ckpt=)")
        if model is None:
            if not ckpt:
                raise HatError("inpainter e2fgvi needs weights: give --e2fgvi-ckpt E2FGVI-HQ-CVPR22.pth "
                               "(or E2FGVI-CVPR22.pth; from the MCG-NKU/E2FGVI README)")
            model = load_e2fgvi(ckpt, variant)
        self.net = model.eval().to(self.device)
        self.hq = bool(self.net.arch.hq)
        self.stride, self.ref_length, self.num_ref, self.max_ref = int(neighbor_stride), int(ref_length), int(num_ref), int(max_ref)
        self.mode, self.dilation, self.precision = windows, int(dilation), precision
        self._options = {
            "ckpt_sha256": file_hash(ckpt) if ckpt else "in-memory", "variant": "hq" if self.hq else "e2fgvi",
            "neighbor_stride": self.stride, "ref_length": self.ref_length, "num_ref": self.num_ref,
            "max_ref": self.max_ref, "windows": self.mode, "dilation": self.dilation, "precision": precision,
        }
        self.windows_run = 0  # counters for benches and tests
        self.peak_buffer = 0

    def options(self) -> dict:
        return dict(self._options)

    def _plan(self, targets: Iterable[int], n_frames: int) -> list[Window]:
        return plan_windows(targets, n_frames, self.stride, self.ref_length, self.num_ref, self.mode, self.max_ref)

    def context(self, n_frames: int, targets: np.ndarray) -> np.ndarray:
        return needed_frames(self._plan(targets, n_frames))

    def _autocast(self):
        from ..runtime import autocast

        return autocast(self.device, self.dtype)

    # -- one window: composited uint8 outputs for its local frames
    def run_window(self, frames: np.ndarray, masks: np.ndarray, n_local: int) -> np.ndarray:
        """frames [T, H, W, 3] uint8 (local first, then references), masks [T, H, W] as segmented."""
        import torch
        import torch.nn.functional as F

        from .e2fgvi_net import HQ_MULTIPLE, NONHQ_SIZE

        t, h, w, _ = frames.shape
        holes = dilate(masks, self.dilation)
        if self.hq or (h, w) == NONHQ_SIZE:
            net_frames, net_holes = frames, holes
        else:  # the non-HQ network is fixed to 432 x 240: resize in; masks resized nearest, then dilated there
            nh, nw = NONHQ_SIZE
            net_frames = np.stack([cv2.resize(f, (nw, nh), interpolation=cv2.INTER_AREA) for f in frames])
            net_holes = dilate(np.stack([cv2.resize(m.astype(np.uint8), (nw, nh), interpolation=cv2.INTER_NEAREST)
                                         for m in masks]) > 0, self.dilation)
        x = torch.from_numpy(net_frames).to(self.device).permute(0, 3, 1, 2).float().div_(255.0).mul_(2.0).sub_(1.0)
        m = torch.from_numpy(net_holes).to(self.device)[:, None].float()
        x = x * (1 - m)
        hh, ww = x.shape[-2:]
        if self.hq:
            ph, pw = -(-hh // HQ_MULTIPLE[0]) * HQ_MULTIPLE[0], -(-ww // HQ_MULTIPLE[1]) * HQ_MULTIPLE[1]
            x = mirror_pad(x, ph, pw)
        with torch.inference_mode(), self._autocast():
            pred = self.net(x[None], n_local)[:n_local, :, :hh, :ww].float()
        pred = (pred + 1) / 2 * 255
        if (hh, ww) != (h, w):
            pred = F.interpolate(pred, size=(h, w), mode="bilinear", align_corners=False)
        pred = pred.clamp_(0, 255).permute(0, 2, 3, 1).cpu().numpy().astype(np.uint8)  # truncation, as the original
        self.windows_run += 1
        return np.where(holes[:n_local, :, :, None], pred, frames[:n_local])

    @staticmethod
    def _blend(acc: dict[int, np.ndarray], i: int, img: np.ndarray) -> None:
        acc[i] = img.astype(np.float32) if i not in acc else acc[i] * 0.5 + img.astype(np.float32) * 0.5

    # -- the pipeline's call: stored frames (targets + context), sparse in the source
    def inpaint(self, frames, masks, targets, *, src_index=None, n_frames=None):
        frames = np.asarray(frames, dtype=np.uint8)
        src = np.arange(len(frames)) if src_index is None else np.asarray(src_index, dtype=np.int64)
        n = int(n_frames) if n_frames is not None else int(src[-1]) + 1 if len(src) else 0
        pos = {int(s): k for k, s in enumerate(src)}
        want = [int(src[t]) for t in np.asarray(targets, dtype=np.int64)]
        if not want:
            return np.zeros((0, *frames.shape[1:]), np.uint8)
        windows = self._plan(want, n)
        missing = [i for i in needed_frames(windows) if int(i) not in pos]
        if missing:
            raise HatError(f"e2fgvi needs source frame {missing[0]} (and {len(missing) - 1} more) that were not "
                           "given: pass the frames that Inpainter.context() names")
        masks = np.asarray(masks, dtype=bool)
        wanted = set(want)
        acc: dict[int, np.ndarray] = {}
        for win in windows:
            ids = [pos[i] for i in (*win.local, *win.refs)]
            out = self.run_window(frames[ids], masks[ids], len(win.local))
            for k, i in enumerate(win.local):
                # centred: each target from its own window only, so it does not depend on the other targets
                if i in wanted and (self.mode == "original" or i == win.centre):
                    self._blend(acc, i, out[k])
        return np.stack([acc[i].astype(np.uint8) for i in want])

    # -- a whole video as a stream: every frame, bounded memory
    def stream(self, frames: Iterable[np.ndarray], masks: Iterable[np.ndarray], n_frames: int) -> Iterator[np.ndarray]:
        """Yield the inpainted frames of a video in order, holding only the frames the current window needs."""
        if self.num_ref == -1 and self.max_ref == 0:
            raise HatError("stream needs bounded references: set max_ref > 0 or num_ref >= 0")
        windows = plan_windows(range(n_frames), n_frames, self.stride, self.ref_length, self.num_ref, "original",
                               self.max_ref)
        src = zip(frames, masks)
        reach = [min((*w.local, *w.refs)) for w in windows]
        for k in range(len(reach) - 2, -1, -1):  # the earliest frame any window from k on needs
            reach[k] = min(reach[k], reach[k + 1])
        buf: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        acc: dict[int, np.ndarray] = {}
        read = emitted = 0
        for k, win in enumerate(windows):
            last = max((*win.local, *win.refs))
            while read <= last:
                try:
                    f, m = next(src)
                except StopIteration:
                    raise HatError(f"e2fgvi stream: frame {read} (or its mask) is missing; the video was said to "
                                   f"have {n_frames} frames") from None
                buf[read] = (np.asarray(f, dtype=np.uint8), np.asarray(m, dtype=bool))
                read += 1
            self.peak_buffer = max(self.peak_buffer, len(buf))
            ids = (*win.local, *win.refs)
            out = self.run_window(np.stack([buf[i][0] for i in ids]), np.stack([buf[i][1] for i in ids]), len(win.local))
            for j, i in enumerate(win.local):
                self._blend(acc, i, out[j])
            nxt = windows[k + 1] if k + 1 < len(windows) else None
            done_to = nxt.local[0] if nxt else n_frames  # frames before it get no more windows
            while emitted < done_to:
                yield acc.pop(emitted).astype(np.uint8)
                emitted += 1
            keep_from = reach[k + 1] if nxt else n_frames
            for i in [i for i in buf if i < keep_from]:
                del buf[i]


INPAINTERS.register("e2fgvi", help="E2FGVI(-HQ) video inpainting from the official checkpoint (ckpt=...)")(E2FGVIInpainter)
