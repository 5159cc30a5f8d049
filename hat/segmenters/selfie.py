"""MediaPipe Selfie Segmentation: an offline person segmenter with real pretrained weights.

Why this one: its weights install from PyPI (they ship inside the ``mediapipe`` wheel, read here
straight out of the wheel, so mediapipe itself need not be importable), it runs on CPU in a few
milliseconds a frame through the TFLite runtime (``ai-edge-litert``), and it gives good masks of the
people in close and mid shots, which is most of an action-recognition clip. It was trained for
video calls: people who fill only a small part of the frame (far away, a crowd seen from above)
are often missed or only partly masked, so coverage filters and B-top1 boxes are weaker on such
footage than with a detector-driven segmenter.

Two models: ``general`` (256x256 input) and ``landscape`` (144x256); ``variant=auto`` picks per clip
the one whose input shape is closer to the frame's in log aspect ratio (landscape when wider than
4:3). Frames are stretched to the model's input, the person probability is upsampled back to the
frame (bilinear) and thresholded once. Person boxes for the B-top1 set are the mask's connected
components. ``threads`` does not change the output (checked bit for bit), so it is not in options().

The models are Google's MediaPipe Selfie Segmentation, Apache License 2.0
(https://github.com/google-ai-edge/mediapipe); this module only runs them.
"""

from __future__ import annotations

import hashlib
import os

import cv2
import numpy as np

from ..errors import HatError
from ..masks import binarize, component_boxes
from . import SEGMENTERS, Segmentation, Segmenter
from .mediapipe_files import MEDIAPIPE_VERSION, ModelFiles, interpreter_class, load_interpreter

VARIANTS = ("auto", "general", "landscape")
MODEL_FILES = {"general": "selfie_segmentation.tflite", "landscape": "selfie_segmentation_landscape.tflite"}
MODULE_DIR = "mediapipe/modules/selfie_segmentation"
NOT_FOUND = (f"MediaPipe's selfie segmentation model not found; get it with: pip download --no-deps "
             f"mediapipe=={MEDIAPIPE_VERSION} -d ~/.cache/hat (or give --segmenter-opt model=PATH)")
FILES = ModelFiles("mediapipe-selfie", "selfie segmentation model",
                   {v: f"modules/selfie_segmentation/{f}" for v, f in MODEL_FILES.items()}, NOT_FOUND)


def find_models(model: str = "") -> dict[str, tuple[str, bytes]]:
    """``{variant: (where it was read, model bytes)}``; the variant is ``""`` for a single .tflite given."""
    return FILES.find(model)


class SelfieSegmenter(Segmenter):
    """MediaPipe Selfie Segmentation (TFLite, CPU): person masks from real pretrained weights, offline."""

    name = "mediapipe-selfie"

    def __init__(self, model: str = "", variant: str = "auto", threshold: float = 0.5, min_area: float = 0.002,
                 threads: int = 0):
        if variant not in VARIANTS:
            raise HatError(f"unknown mediapipe-selfie variant '{variant}' (valid: {', '.join(VARIANTS)})")
        self.threshold = _number("threshold", threshold, "a number in (0, 1), e.g. 0.5")
        if not 0 < self.threshold < 1:
            raise HatError(f"mediapipe-selfie threshold must be in (0, 1), e.g. 0.5 (got {threshold})")
        self.min_area = _number("min_area", min_area, "a frame fraction in [0, 1), e.g. 0.002")
        if not 0 <= self.min_area < 1:
            raise HatError(f"mediapipe-selfie min_area must be a frame fraction in [0, 1), e.g. 0.002 (got {min_area})")
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 0:
            raise HatError(f"mediapipe-selfie threads must be a whole number >= 0, 0 = all cores (got {threads!r})")
        self.variant = variant
        self.threads = threads or os.cpu_count() or 1
        self._Interpreter = interpreter_class("mediapipe-selfie")
        found = find_models(str(model) if model else "")
        self._models: dict[str, tuple[str, bytes]] = {}
        self._shapes: dict[str, tuple[int, int]] = {}
        for v, (where, content) in found.items():
            h, w = self._check(where, content)
            v = v or ("general" if h == w else "landscape")
            if v in self._models:
                continue
            self._models[v], self._shapes[v] = (where, content), (h, w)
        if variant != "auto" and variant not in self._models:
            raise HatError(f"mediapipe-selfie variant '{variant}' asked for, but {found[next(iter(found))][0]} "
                           f"holds only: {', '.join(self._models)}")
        self._interpreters: dict[str, object] = {}

    def _check(self, where: str, content: bytes) -> tuple[int, int]:
        """Load once to refuse a file that is not the expected model; returns its input (height, width)."""
        it = load_interpreter(self._Interpreter, where, content)
        ins, outs = it.get_input_details(), it.get_output_details()
        shape_in = [int(x) for x in ins[0]["shape"]] if len(ins) == 1 else []
        shape_out = [int(x) for x in outs[0]["shape"]] if outs else []
        if len(shape_in) != 4 or shape_in[0] != 1 or shape_in[3] != 3 or shape_out[:3] != shape_in[:3]:
            raise HatError(f"{where} is not a selfie segmentation model (input {shape_in}, output {shape_out}; "
                           f"expected [1,H,W,3] -> [1,H,W,1])")
        return shape_in[1], shape_in[2]

    def options(self) -> dict:
        used = list(self._models) if self.variant == "auto" else [self.variant]
        return {
            "variant": self.variant,
            "threshold": self.threshold,
            "min_area": self.min_area,
            "model_sha256": {v: hashlib.sha256(self._models[v][1]).hexdigest()[:16] for v in sorted(used)},
        }

    def pick_variant(self, height: int, width: int) -> str:
        if self.variant != "auto":
            return self.variant
        if len(self._models) == 1:
            return next(iter(self._models))
        # closer to 256/144 = 16/9 than to 1 in log ratio <=> width/height > sqrt(16/9) = 4/3 (4:3 -> general)
        return "landscape" if 3 * width > 4 * height else "general"

    def _interpreter(self, variant: str):
        it = self._interpreters.get(variant)
        if it is None:
            it = self._Interpreter(model_content=self._models[variant][1], num_threads=self.threads)
            it.allocate_tensors()
            self._interpreters[variant] = it
        return it

    def probabilities(self, frames: np.ndarray) -> np.ndarray:
        """Person probability [N,H,W] float32 in [0, 1], upsampled to the frames' size."""
        frames = np.asarray(frames)
        n, h, w = frames.shape[:3]
        variant = self.pick_variant(h, w)
        ih, iw = self._shapes[variant]
        it = self._interpreter(variant)
        i_in, i_out = it.get_input_details()[0]["index"], it.get_output_details()[0]["index"]
        out = np.empty((n, h, w), np.float32)
        for k in range(n):
            x = cv2.resize(frames[k], (iw, ih), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
            it.set_tensor(i_in, x[None])
            it.invoke()
            prob = it.get_tensor(i_out)[0, :, :, 0]
            out[k] = cv2.resize(prob, (w, h), interpolation=cv2.INTER_LINEAR)
        return np.clip(out, 0.0, 1.0, out=out)

    def segment(self, frames, record, source, indices) -> Segmentation:
        prob = self.probabilities(frames)
        masks = binarize(prob, self.threshold)
        boxes = [component_boxes(m, self.min_area, score=p) for m, p in zip(masks, prob)]
        return Segmentation(masks, boxes)


def _number(name: str, value, what: str) -> float:
    if isinstance(value, bool):
        raise HatError(f"mediapipe-selfie {name} must be {what} (got {value!r})")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise HatError(f"mediapipe-selfie {name} must be {what} (got {value!r})") from None


SEGMENTERS.register(
    "mediapipe-selfie", aliases=("selfie",),
    help="MediaPipe Selfie Segmentation (TFLite, CPU, offline): good on close/mid shots, misses tiny far people",
)(SelfieSegmenter)
