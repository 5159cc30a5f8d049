"""MediaPipe BlazePose as a multi-person segmenter: detect every person, segment each one's crop, union.

Why: the selfie model (``mediapipe-selfie``) was made for video calls and misses heads, raised arms,
bent-over legs and far pedestrians. The same mediapipe wheel ships BlazePose's person detector
(``pose_detection.tflite``, 224x224, SSD anchors, several people per frame) and its landmark model
(``pose_landmark_full.tflite``, a 256x256 crop around one person, which also outputs that person's
segmentation mask). MediaPipe's own graph follows one person; here every detection is followed.

The steps and constants are those of MediaPipe 0.10.21's graphs (PoseDetectionCpu, PoseDetectionToRoi,
PoseLandmarkByRoiCpu, TensorsToPoseLandmarksAndSegmentation, read out of the wheel's binary): the frame
letterboxed to 224x224 (black bars, values in [-1, 1]); 2254 anchors (strides 8, 16, 32, 32, 32,
fixed size); boxes and 4 keypoints decoded per anchor, sigmoid score >= 0.5; weighted NMS at IoU 0.3;
the person's ROI centred on keypoint 0 (hips), its side twice the distance to keypoint 1, times 1.25,
rotated so that keypoint 0 -> 1 points up; the crop warped to 256x256 (edge pixels repeated, values
in [0, 1]); the person kept when the model's presence score is >= 0.5; the mask logits through a
sigmoid and warped back into the frame (zero outside the crop). Per frame, no tracking: each frame is
segmented on its own, so results do not depend on which frames are asked for.

Additions (measured with ``scripts/bench_offline_segmenters``, figures in the README):
- ``tiles=N`` (default 3) also runs the detector on overlapping square tiles (N along the short
  side, half-overlapping), so that people too small for a 224x224 view of the whole frame are found
  (vtest's pedestrians). A tile keeps only people whose crop is at most 3/4 of the tile: bigger
  ones are seen in the whole view, and zoomed-in texture (blurred cars, a bicycle hub) otherwise
  gives large phantom people. ``tiles=0`` is the whole frame only, 5-10x faster.
- The people's probabilities are merged by maximum and thresholded once; a person whose mask mostly
  repeats a better-scored person's is dropped, so there is one box per person (its mask's extent,
  with the detection score) for B-top1.
- ``fallback=selfie`` (default): a frame where the pose models find nobody gets the selfie model's
  mask and blob boxes. BlazePose was trained on whole bodies and misses some close shots (a bare
  back cut at the waist, a back bend upside down) that the selfie model handles.

The models are Google's MediaPipe BlazePose, Apache License 2.0
(https://github.com/google-ai-edge/mediapipe); this module only runs them.
"""

from __future__ import annotations

import hashlib
import math
import os

import cv2
import numpy as np

from ..errors import HatError
from . import SEGMENTERS, Segmentation, Segmenter
from .mediapipe_files import MEDIAPIPE_VERSION, ModelFiles, interpreter_class, load_interpreter

NAME = "mediapipe-pose"
NOT_FOUND = (f"MediaPipe's pose models not found; get them with: pip download --no-deps "
             f"mediapipe=={MEDIAPIPE_VERSION} -d ~/.cache/hat (or give --segmenter-opt model=PATH)")
FILES = ModelFiles(NAME, "pose detection and landmark models", {
    "detector": "modules/pose_detection/pose_detection.tflite",
    "landmark": "modules/pose_landmark/pose_landmark_full.tflite",
}, NOT_FOUND)

# PoseDetectionCpu: SsdAnchorsCalculator and TensorsToDetectionsCalculator options
DET_SIZE = 224
STRIDES = (8, 16, 32, 32, 32)
MIN_SCALE, MAX_SCALE = 0.1484375, 0.75
NUM_BOXES, NUM_COORDS, NUM_KEYPOINTS = 2254, 12, 4
SCORE_CLIP = 100.0
NMS_IOU = 0.3
# PoseDetectionToRoi: AlignmentPointsRectsCalculator (keypoint 0 -> 1 at 90 degrees), RectTransformationCalculator
ROI_SCALE = 1.25
# PoseLandmarkByRoiCpu
LM_SIZE = 256
FALLBACKS = ("selfie", "none")
TILE_ROI = 0.75  # a tile keeps only people whose crop is at most this fraction of the tile


# ----------------------------------------------------------------------------- pure geometry and decoding


def ssd_anchors(size: int = DET_SIZE, strides: tuple[int, ...] = STRIDES) -> np.ndarray:
    """Anchor centres [A,2] (x, y in [0, 1]) in SsdAnchorsCalculator's order: layers of one stride
    together, then rows, columns, and per cell two anchors per layer (aspect 1 and the interpolated
    scale; with fixed anchor size only their count matters)."""
    out = []
    layer = 0
    while layer < len(strides):
        last = layer
        while last < len(strides) and strides[last] == strides[layer]:
            last += 1
        per_cell = 2 * (last - layer)
        fm = math.ceil(size / strides[layer])
        ys, xs = np.meshgrid((np.arange(fm) + 0.5) / fm, (np.arange(fm) + 0.5) / fm, indexing="ij")
        cells = np.stack([xs.ravel(), ys.ravel()], axis=1)
        out.append(np.repeat(cells, per_cell, axis=0))
        layer = last
    return np.concatenate(out).astype(np.float32)


def decode_detections(raw_boxes: np.ndarray, raw_scores: np.ndarray, anchors: np.ndarray, min_score: float,
                      size: int = DET_SIZE) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """TensorsToDetectionsCalculator (x before y, fixed anchors, clipped sigmoid score): boxes [K,4]
    x0, y0, x1, y1 and keypoints [K,4,2], both in the input tensor's pixels, and scores [K]."""
    raw_boxes = raw_boxes.reshape(-1, NUM_COORDS).astype(np.float64)
    scores = _sigmoid(np.clip(raw_scores.reshape(-1).astype(np.float64), -SCORE_CLIP, SCORE_CLIP))
    keep = np.flatnonzero(scores >= min_score)
    r, a = raw_boxes[keep], anchors[keep].astype(np.float64) * size
    cx, cy, w, h = r[:, 0] + a[:, 0], r[:, 1] + a[:, 1], r[:, 2], r[:, 3]
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    kps = r[:, 4:].reshape(-1, NUM_KEYPOINTS, 2) + a[:, None, :]
    return boxes, kps, scores[keep]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # no overflow for the mask's large logits


def box_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one box x0, y0, x1, y1 with each of ``boxes`` [K,4]."""
    iw = np.clip(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0, None)
    ih = np.clip(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0, None)
    inter = iw * ih
    union = (box[2] - box[0]) * (box[3] - box[1]) + (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]) - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def weighted_nms(boxes: np.ndarray, kps: np.ndarray, scores: np.ndarray, iou: float = NMS_IOU
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """NonMaxSuppressionCalculator's WEIGHTED algorithm: the best box and all boxes overlapping it by
    more than ``iou`` become one, their boxes and keypoints averaged by score, the best score kept."""
    order = np.argsort(-scores, kind="stable")
    out_b, out_k, out_s = [], [], []
    while len(order):
        best = order[0]
        sim = box_iou(boxes[best], boxes[order])
        group, order = order[sim > iou], order[sim <= iou]
        if not len(group):  # a degenerate box overlaps nothing, not even itself
            group, order = np.array([best]), order[order != best]
        wts = scores[group][:, None]
        out_b.append((boxes[group] * wts).sum(0) / wts.sum())
        out_k.append((kps[group] * wts[:, :, None]).sum(0) / wts.sum())
        out_s.append(scores[best])
    return (np.asarray(out_b, np.float64).reshape(-1, 4), np.asarray(out_k, np.float64).reshape(-1, NUM_KEYPOINTS, 2),
            np.asarray(out_s, np.float64))


def normalize_radians(angle: float) -> float:
    return angle - 2 * math.pi * math.floor((angle + math.pi) / (2 * math.pi))


def person_roi(kps: np.ndarray) -> tuple[float, float, float, float]:
    """(cx, cy, side, rotation) in frame pixels from one detection's keypoints [4,2] (frame pixels):
    centred on the hips (keypoint 0), side 2 x |kp1 - kp0| x 1.25, rotated (clockwise, radians) so the
    body axis kp0 -> kp1 points up in the crop."""
    (x0, y0), (x1, y1) = kps[0], kps[1]
    side = 2.0 * math.hypot(x1 - x0, y1 - y0) * ROI_SCALE
    rotation = normalize_radians(math.pi / 2 - math.atan2(-(y1 - y0), x1 - x0))
    return float(x0), float(y0), side, rotation


def small_people(kps: np.ndarray, max_side: float) -> np.ndarray:
    """Which detections [K,4,2] have a person crop (``person_roi``'s side) of at most ``max_side``."""
    return 2 * ROI_SCALE * np.hypot(kps[:, 1, 0] - kps[:, 0, 0], kps[:, 1, 1] - kps[:, 0, 1]) <= max_side


def crop_matrix(cx: float, cy: float, width: float, height: float, rotation: float, out_w: int, out_h: int) -> np.ndarray:
    """2x3 affine map from frame pixels to crop pixels for a rotated rect (ImageToTensorCalculator's
    convention: the rect's corners go to the crop's corners 0 and out_w/out_h; rotation clockwise)."""
    c, s = math.cos(rotation), math.sin(rotation)

    def corner(dx: float, dy: float) -> tuple[float, float]:
        return cx + dx * c - dy * s, cy + dx * s + dy * c

    src = np.float32([corner(-width / 2, height / 2), corner(-width / 2, -height / 2), corner(width / 2, -height / 2)])
    dst = np.float32([[0, out_h], [0, 0], [out_w, 0]])
    return cv2.getAffineTransform(src, dst)


def crop(frame: np.ndarray, matrix: np.ndarray, out_w: int, out_h: int, border: int) -> np.ndarray:
    """The crop the matrix defines (bilinear); ``border`` is cv2.BORDER_CONSTANT (black) or BORDER_REPLICATE."""
    return cv2.warpAffine(frame, matrix, (out_w, out_h), flags=cv2.INTER_LINEAR, borderMode=border, borderValue=0)


def uncrop(values: np.ndarray, matrix: np.ndarray, height: int, width: int) -> np.ndarray:
    """Inverse of ``crop``: crop-space values [h,w] (float) put back into a height x width frame
    (bilinear), zero outside the crop."""
    return cv2.warpAffine(np.ascontiguousarray(values, np.float32), matrix, (width, height),
                          flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def to_frame(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Crop-pixel points [...,2] back to frame pixels."""
    inv = cv2.invertAffineTransform(matrix)
    return points @ inv[:, :2].T + inv[:, 2]


def detector_views(height: int, width: int, tiles: int) -> list[tuple[float, float, float]]:
    """Square views (cx, cy, side) for the detector: the whole frame letterboxed, then with ``tiles``
    >= 2, tiles along the short side that overlap by half, and as many along the long side."""
    views = [(width / 2, height / 2, float(max(width, height)))]
    if tiles >= 2:
        short, long_ = min(width, height), max(width, height)
        side = 2.0 * short / (tiles + 1)
        along_long = max(1, math.ceil((long_ - side) / (side / 2) - 1e-9) + 1)

        def centres(extent: float, n: int) -> np.ndarray:
            return np.full(1, extent / 2) if n == 1 else side / 2 + np.arange(n) * (extent - side) / (n - 1)

        xs = centres(width, along_long if width >= height else tiles)
        ys = centres(height, tiles if width >= height else along_long)
        views += [(float(x), float(y), side) for y in ys for x in xs]
    return views


# ----------------------------------------------------------------------------- the segmenter


class PoseSegmenter(Segmenter):
    """MediaPipe BlazePose detector + landmark model (TFLite, CPU): every person's mask, offline."""

    name = NAME

    def __init__(self, model: str = "", threshold: float = 0.5, min_score: float = 0.5, presence: float = 0.5,
                 tiles: int = 3, fallback: str = "selfie", threads: int = 0):
        self.threshold = _fraction("threshold", threshold)
        self.min_score = _fraction("min_score", min_score)
        self.presence = _fraction("presence", presence)
        if isinstance(tiles, bool) or not isinstance(tiles, int) or tiles < 0 or tiles == 1 or tiles > 6:
            raise HatError(f"{NAME} tiles must be 0 (whole frame only) or a whole number 2-6 (got {tiles!r})")
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 0:
            raise HatError(f"{NAME} threads must be a whole number >= 0, 0 = all cores (got {threads!r})")
        if fallback not in FALLBACKS:
            raise HatError(f"unknown {NAME} fallback '{fallback}' (valid: {', '.join(FALLBACKS)})")
        self.tiles, self.fallback = tiles, fallback
        self.threads = threads or os.cpu_count() or 1
        self._Interpreter = interpreter_class(NAME)
        found = FILES.find(str(model) if model else "")
        missing = [FILES.names()[i] for i, k in enumerate(FILES.members) if k not in found]
        if missing:
            where = next(iter(found.values()))[0]
            raise HatError(f"{NAME} needs {' and '.join(FILES.names())}; {where} lacks {', '.join(missing)} "
                           f"(give a mediapipe .whl or a folder with both)")
        self._models = found
        self._check()
        self._anchors = ssd_anchors()
        self._its: dict[str, object] = {}
        self._selfie = None
        if fallback == "selfie":
            from .selfie import SelfieSegmenter

            try:
                self._selfie = SelfieSegmenter(model=str(model) if model else "", threads=threads)
            except HatError as e:
                raise HatError(f"{NAME} fallback=selfie: {e} (or give fallback=none)") from None

    def _check(self) -> None:
        """Refuse files that are not these two models, by their tensors."""
        want = {"detector": ([1, DET_SIZE, DET_SIZE, 3], [[1, NUM_BOXES, NUM_COORDS], [1, NUM_BOXES, 1]]),
                "landmark": ([1, LM_SIZE, LM_SIZE, 3], [[1, 195], [1, 1], [1, LM_SIZE, LM_SIZE, 1], [1, 64, 64, 39], [1, 117]])}
        for key, (shape_in, shapes_out) in want.items():
            where, content = self._models[key]
            it = load_interpreter(self._Interpreter, where, content)
            got_in = [[int(x) for x in d["shape"]] for d in it.get_input_details()]
            got_out = [[int(x) for x in d["shape"]] for d in it.get_output_details()]
            if got_in != [shape_in] or sorted(got_out) != sorted(shapes_out):
                raise HatError(f"{where} is not MediaPipe's {FILES.members[key].rsplit('/', 1)[1]} "
                               f"(input {got_in}, outputs {got_out}; expected {shape_in} -> {shapes_out})")

    def options(self) -> dict:
        return {
            "threshold": self.threshold,
            "min_score": self.min_score,
            "presence": self.presence,
            "tiles": self.tiles,
            "fallback": self.fallback if self._selfie is None else {"selfie": self._selfie.options()},
            "model_sha256": {k: hashlib.sha256(v[1]).hexdigest()[:16] for k, v in sorted(self._models.items())},
        }

    def _interpreter(self, key: str):
        it = self._its.get(key)
        if it is None:
            it = self._Interpreter(model_content=self._models[key][1], num_threads=self.threads)
            it.allocate_tensors()
            self._its[key] = it
        return it

    def _outputs(self, key: str) -> dict[tuple[int, ...], int]:
        return {tuple(int(x) for x in d["shape"]): d["index"] for d in self._interpreter(key).get_output_details()}

    def detect(self, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """People in one frame: boxes [K,4], keypoints [K,4,2] (frame pixels), scores [K], best first."""
        it = self._interpreter("detector")
        i_in = it.get_input_details()[0]["index"]
        outs = self._outputs("detector")
        i_box, i_score = outs[(1, NUM_BOXES, NUM_COORDS)], outs[(1, NUM_BOXES, 1)]
        h, w = frame.shape[:2]
        all_b, all_k, all_s = [], [], []
        for cx, cy, side in detector_views(h, w, self.tiles):
            m = crop_matrix(cx, cy, side, side, 0.0, DET_SIZE, DET_SIZE)
            x = crop(frame, m, DET_SIZE, DET_SIZE, cv2.BORDER_CONSTANT).astype(np.float32) / 127.5 - 1.0
            it.set_tensor(i_in, x[None])
            it.invoke()
            b, k, s = decode_detections(it.get_tensor(i_box), it.get_tensor(i_score), self._anchors, self.min_score)
            b, k, s = weighted_nms(b, k, s)
            if side < max(h, w):  # a tile: only people too small for the whole view (see the module's notes)
                small = small_people(k, TILE_ROI * DET_SIZE)
                b, k, s = b[small], k[small], s[small]
            corners = to_frame(b.reshape(-1, 2, 2), m)
            all_b.append(np.concatenate([corners.min(1), corners.max(1)], axis=1))
            all_k.append(to_frame(k, m))
            all_s.append(s)
        return weighted_nms(np.concatenate(all_b), np.concatenate(all_k), np.concatenate(all_s))

    def people(self, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-person probabilities [P,H,W] float32 and their detection scores [P], best first, after
        the presence check and dropping people who mostly repeat a better-scored one."""
        h, w = frame.shape[:2]
        _, kps, scores = self.detect(frame)
        it = self._interpreter("landmark")
        i_in = it.get_input_details()[0]["index"]
        outs = self._outputs("landmark")
        i_flag, i_seg = outs[(1, 1)], outs[(1, LM_SIZE, LM_SIZE, 1)]
        probs, kept, masks = [], [], []
        for k, score in zip(kps, scores):
            cx, cy, side, rot = person_roi(k)
            if side < 1:
                continue
            m = crop_matrix(cx, cy, side, side, rot, LM_SIZE, LM_SIZE)
            x = crop(frame, m, LM_SIZE, LM_SIZE, cv2.BORDER_REPLICATE).astype(np.float32) / 255.0
            it.set_tensor(i_in, x[None])
            it.invoke()
            if float(it.get_tensor(i_flag).reshape(-1)[0]) < self.presence:
                continue
            logits = it.get_tensor(i_seg)[0, :, :, 0].astype(np.float64)
            prob = uncrop(_sigmoid(logits).astype(np.float32), m, h, w)
            mask = prob >= self.threshold
            area = int(mask.sum())
            if area == 0 or any((mask & other).sum() > 0.5 * area for other in masks):
                continue
            probs.append(prob)
            kept.append(score)
            masks.append(mask)
        return np.asarray(probs, np.float32).reshape(-1, h, w), np.asarray(kept, np.float32)

    def segment(self, frames, record, source, indices) -> Segmentation:
        frames = np.asarray(frames)
        n, h, w = frames.shape[:3]
        masks = np.zeros((n, h, w), bool)
        boxes = []
        for i in range(n):
            probs, scores = self.people(frames[i])
            if len(probs):
                masks[i] = probs.max(axis=0) >= self.threshold
            boxes.append(_person_boxes(probs >= self.threshold, scores))
        empty = [i for i in range(n) if not len(boxes[i])]
        if self._selfie is not None and empty:
            alt = self._selfie.segment(frames[empty], record, source, np.asarray(indices)[empty])
            for j, i in enumerate(empty):
                masks[i], boxes[i] = alt.masks[j], alt.boxes[j]
        return Segmentation(masks, boxes)


def _person_boxes(masks: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """One box [K,5] per person: the extent of its mask (exclusive ends) and its detection score."""
    rows = []
    for m, s in zip(masks, scores):
        ys, xs = np.flatnonzero(m.any(axis=1)), np.flatnonzero(m.any(axis=0))
        rows.append([xs[0], ys[0], xs[-1] + 1, ys[-1] + 1, s])
    return np.asarray(rows, np.float32).reshape(-1, 5)


def _fraction(name: str, value) -> float:
    what = "a number in (0, 1), e.g. 0.5"
    if isinstance(value, bool):
        raise HatError(f"{NAME} {name} must be {what} (got {value!r})")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise HatError(f"{NAME} {name} must be {what} (got {value!r})") from None
    if not 0 < v < 1:
        raise HatError(f"{NAME} {name} must be {what} (got {value!r})")
    return v


SEGMENTERS.register(
    NAME, aliases=("pose",),
    help="MediaPipe BlazePose detector + per-person masks (TFLite, CPU, offline): several people, small ones too",
)(PoseSegmenter)
