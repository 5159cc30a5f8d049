"""The mediapipe-pose segmenter: BlazePose's decoding and crop geometry on hand-made arrays, option and
model-file checks, and what the real models do on real footage (skipped, saying why, when the mediapipe
wheel or the footage is absent)."""

from __future__ import annotations

import hashlib
import math
import subprocess
import sys
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import SHARED
from hat.errors import HatError
from hat.segmenters import OFFLINE_DEFAULT, SEGMENTERS
from hat.segmenters import pose as P
from test_selfie_segmenter import no_search  # noqa: F401  (a fixture: every model search place made empty)

ROOT = Path(__file__).resolve().parents[1]
K400 = SHARED / "data" / "k400-samples" / "rawframes"
ARCHERY = K400 / "archery" / "01xStFVYC7U_000011_000021"
BENDING = K400 / "bending back" / "05mZDSLkGQI_000007_000017"
VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")


def _real():
    try:
        return P.FILES.find()
    except HatError:
        return None


REAL = _real()
needs_model = pytest.mark.skipif(REAL is None or len(REAL) < 2, reason=P.NOT_FOUND)


def rawframes(folder: Path, idx) -> np.ndarray:
    if not folder.is_dir():
        pytest.skip(f"{folder} not present (../shared/data/k400-samples)")
    return np.stack([cv2.cvtColor(cv2.imread(str(folder / f"{i + 1:06d}.jpg")), cv2.COLOR_BGR2RGB) for i in idx])


# ----------------------------------------------------------------------------- pure functions


def test_anchors_follow_the_ssd_layout():
    a = P.ssd_anchors()
    assert a.shape == (P.NUM_BOXES, 2) == (2254, 2)
    # stride 8: 28x28 cells, 2 anchors each; stride 16: 14x14 x 2; stride 32 (three layers): 7x7 x 6
    assert np.allclose(a[0], [0.5 / 28, 0.5 / 28]) and np.allclose(a[1], a[0]) and np.allclose(a[2], [1.5 / 28, 0.5 / 28])
    assert np.allclose(a[28 * 28 * 2], [0.5 / 14, 0.5 / 14])
    tail = a[28 * 28 * 2 + 14 * 14 * 2:]
    assert len(tail) == 7 * 7 * 6 and np.allclose(tail[:6], [0.5 / 7, 0.5 / 7]) and np.allclose(tail[-1], [6.5 / 7, 6.5 / 7])


def test_decode_keeps_scored_anchors_and_offsets_them():
    anchors = np.array([[0.25, 0.5], [0.75, 0.5]], np.float32)
    raw = np.zeros((2, 12), np.float32)
    raw[1, :4] = [10, -4, 20, 40]  # x, y offsets (pixels), width, height
    raw[1, 4:6] = [1, 2]  # keypoint 0 offset
    scores = np.array([-1.0, 2.0])  # sigmoid 0.27 (dropped), 0.88
    boxes, kps, s = P.decode_detections(raw, scores, anchors, 0.5, size=100)
    assert s.shape == (1,) and s[0] == pytest.approx(1 / (1 + math.exp(-2)))
    assert np.allclose(boxes, [[85 - 10, 46 - 20, 85 + 10, 46 + 20]])  # centre (75 + 10, 50 - 4)
    assert np.allclose(kps[0, 0], [76, 52]) and np.allclose(kps[0, 1:], [75, 50])
    assert P.decode_detections(raw, np.array([1e6, -1e6]), anchors, 0.5, size=100)[2] == pytest.approx([1.0])  # clipped


def test_weighted_nms_averages_overlaps_by_score():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], float)
    kps = np.zeros((3, 4, 2))
    kps[1] = 3.0
    scores = np.array([0.6, 0.9, 0.7])
    b, k, s = P.weighted_nms(boxes, kps, scores, 0.3)
    assert np.allclose(s, [0.9, 0.7])  # the best score of each group, best group first
    assert np.allclose(b[0], (boxes[0] * 0.6 + boxes[1] * 0.9) / 1.5) and np.allclose(b[1], boxes[2])
    assert np.allclose(k[0], 3 * 0.9 / 1.5) and np.allclose(k[1], 0)
    e = P.weighted_nms(np.zeros((0, 4)), np.zeros((0, 4, 2)), np.zeros(0))
    assert e[0].shape == (0, 4) and e[1].shape == (0, 4, 2) and e[2].shape == (0,)


def test_person_roi_centre_size_and_rotation():
    up = P.person_roi(np.array([[100, 100], [100, 60], [0, 0], [0, 0]], float))
    assert up == pytest.approx((100, 100, 2 * 40 * 1.25, 0.0))  # body axis already upright
    right = P.person_roi(np.array([[100, 100], [130, 100], [0, 0], [0, 0]], float))
    assert right == pytest.approx((100, 100, 75, math.pi / 2))  # lying with the head to the right
    assert P.normalize_radians(3 * math.pi / 2) == pytest.approx(-math.pi / 2)


def test_crop_is_exact_at_unit_scale_and_uncrop_inverts_it():
    rng = np.random.default_rng(0)
    frame = rng.random((40, 60), dtype=np.float32)
    m = P.crop_matrix(30, 20, 20, 20, 0.0, 20, 20)
    c = P.crop(frame, m, 20, 20, cv2.BORDER_CONSTANT)
    assert np.allclose(c, frame[10:30, 20:40], atol=1e-6)
    back = P.uncrop(c, m, 40, 60)
    assert np.allclose(back[10:30, 20:40], frame[10:30, 20:40], atol=1e-6)
    outside = np.ones((40, 60), bool)
    outside[9:31, 19:41] = False
    assert (back[outside] == 0).all()  # zero outside the crop (one pixel of bilinear edge allowed)
    # a half-size crop: uncrop brings a constant crop back as a constant square
    m2 = P.crop_matrix(30, 20, 20, 20, 0.0, 10, 10)
    sq = P.uncrop(np.ones((10, 10), np.float32), m2, 40, 60)
    assert (sq[12:28, 22:38] == 1).all() and (sq[outside] == 0).all()


def test_rotated_crop_puts_the_body_axis_up():
    """A marker at keypoint 1 (to the right of the hips) lands at the crop's top centre; uncrop of the
    crop gives the frame back inside the rotated square."""
    frame = np.zeros((100, 120), np.float32)
    frame[48:53, 68:73] = 1.0  # marker around (70, 50)
    kps = np.array([[50, 50], [70, 50], [0, 0], [0, 0]], float)
    cx, cy, side, rot = P.person_roi(kps)
    m = P.crop_matrix(cx, cy, side, side, rot, 50, 50)  # side 50: unit scale
    c = P.crop(frame, m, 50, 50, cv2.BORDER_REPLICATE)
    ys, xs = np.nonzero(c > 0.5)
    assert abs(xs.mean() - 25) < 1.5 and abs(ys.mean() - 5) < 1.5  # 20 px above the centre
    assert np.allclose(P.to_frame(np.array([[25.0, 5.0]]), m), [[70, 50]], atol=1e-4)
    back = P.uncrop(c, m, 100, 120)
    assert np.allclose(back[30:70, 30:70], frame[30:70, 30:70], atol=1e-5)


def test_detector_views_cover_the_frame_with_half_overlapping_tiles():
    assert P.detector_views(576, 768, 0) == [(384.0, 288.0, 768.0)]
    views = P.detector_views(576, 768, 2)
    tiles = np.array(views[1:])
    assert len(tiles) == 6 and np.allclose(tiles[:, 2], 384)  # 2 rows x 3 columns of 384 px
    assert np.allclose(sorted(set(tiles[:, 0])), [192, 384, 576]) and np.allclose(sorted(set(tiles[:, 1])), [192, 384])
    portrait = np.array(P.detector_views(640, 360, 3)[1:])
    assert np.allclose(portrait[:, 2], 180) and len(set(portrait[:, 0])) == 3  # 3 along the short side
    assert (portrait[:, 1] - 90 >= -1e-9).all() and (portrait[:, 1] + 90 <= 640 + 1e-9).all()


def test_tiles_keep_only_small_people():
    kps = np.zeros((3, 4, 2))
    kps[0, 1] = [0, -40]  # crop side 2 x 40 x 1.25 = 100
    kps[1, 1] = [30, 40]  # 125
    kps[2, 1] = [0, 67.2]  # 168 = 3/4 of the detector's 224
    assert P.small_people(kps, 110).tolist() == [True, False, False]
    assert P.small_people(kps, P.TILE_ROI * P.DET_SIZE).tolist() == [True, True, True]
    assert P.small_people(np.zeros((0, 4, 2)), 100).shape == (0,)


def test_person_boxes_one_per_mask_exclusive_ends():
    masks = np.zeros((2, 10, 12), bool)
    masks[0, 2:5, 3:7] = True
    masks[1, 6:9, 8:12] = True
    b = P._person_boxes(masks, np.array([0.9, 0.6], np.float32))
    assert b.dtype == np.float32 and b.tolist() == [[3, 2, 7, 5, pytest.approx(0.9)], [8, 6, 12, 9, pytest.approx(0.6)]]
    assert P._person_boxes(np.zeros((0, 10, 12), bool), np.zeros(0)).shape == (0, 5)


# ----------------------------------------------------------------------------- options and model files


@pytest.mark.parametrize("opts, match", [
    ({"threshold": 0}, r"mediapipe-pose threshold must be a number in \(0, 1\), e\.g\. 0\.5 \(got 0\)"),
    ({"min_score": 1.5}, r"min_score must be a number in \(0, 1\)"),
    ({"presence": "high"}, r"presence must be a number in \(0, 1\)"),
    ({"tiles": 1}, r"tiles must be 0 \(whole frame only\) or a whole number 2-6 \(got 1\)"),
    ({"tiles": "2"}, r"tiles must be 0 .* \(got '2'\)"),
    ({"fallback": "sam"}, r"unknown mediapipe-pose fallback 'sam' \(valid: selfie, none\)"),
    ({"threads": -1}, r"threads must be a whole number >= 0"),
    ({"model": "/nonexistent/pose"}, r"mediapipe-pose model not found: /nonexistent/pose \(give a .tflite"),
])
def test_bad_options_are_one_line(opts, match):
    with pytest.raises(HatError, match=match) as e:
        P.PoseSegmenter(**opts)
    assert "\n" not in str(e.value)


def test_registry_alias_unknown_option_and_offline_default():
    assert SEGMENTERS.resolve("pose") == "mediapipe-pose" and "mediapipe-pose" in SEGMENTERS.names()
    assert SEGMENTERS.resolve(OFFLINE_DEFAULT) == OFFLINE_DEFAULT
    with pytest.raises(HatError, match=r"has no option 'size' \(valid: model, threshold, min_score, presence, tiles, "
                                       r"fallback, threads\)"):
        SEGMENTERS.create("pose", size=256)


def test_missing_runtime_names_the_fix(monkeypatch):
    for mod in ("ai_edge_litert", "ai_edge_litert.interpreter", "tflite_runtime", "tflite_runtime.interpreter"):
        monkeypatch.setitem(sys.modules, mod, None)
    with pytest.raises(HatError, match=r"segmenter 'mediapipe-pose' needs the TFLite runtime \(ai-edge-litert\)"):
        P.PoseSegmenter()


def test_model_files_checked(tmp_path):
    (tmp_path / "pose_detection.tflite").write_bytes(b"junk" * 10)
    with pytest.raises(HatError, match=r"needs pose_detection.tflite and pose_landmark_full.tflite; .*pose_detection.tflite "
                                       r"lacks pose_landmark_full.tflite"):
        P.PoseSegmenter(model=str(tmp_path), fallback="none")
    (tmp_path / "pose_landmark_full.tflite").write_bytes(b"junk" * 10)
    with pytest.raises(HatError) as e:
        P.PoseSegmenter(model=str(tmp_path), fallback="none")
    assert "pose_detection.tflite is not a usable TFLite model (" in str(e.value) and "\n" not in str(e.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(HatError, match="no pose detection and landmark models in .*empty"):
        P.PoseSegmenter(model=str(tmp_path / "empty"))


def test_not_found_says_how_to_get_it(no_search):  # noqa: F811
    with pytest.raises(HatError) as e:
        P.PoseSegmenter()
    assert str(e.value) == P.NOT_FOUND and "pip download --no-deps mediapipe==0.10.21 -d ~/.cache/hat" in P.NOT_FOUND


@needs_model
def test_models_read_from_a_wheel_in_the_cache(no_search):  # noqa: F811
    with zipfile.ZipFile(no_search / "mediapipe-0.10.21-py3-none-any.whl", "w") as z:
        for key, (_, data) in REAL.items():
            z.writestr(f"mediapipe/{P.FILES.members[key]}", data)
    got = P.PoseSegmenter(fallback="none").options()["model_sha256"]
    assert got == {k: hashlib.sha256(v[1]).hexdigest()[:16] for k, v in REAL.items()}
    with pytest.raises(HatError, match=r"fallback=selfie: MediaPipe's selfie segmentation model not found"):
        P.PoseSegmenter()  # the wheel here holds only the pose models


@needs_model
def test_swapped_models_are_refused(tmp_path):
    with zipfile.ZipFile(tmp_path / "mediapipe-0.10.21-py3-none-any.whl", "w") as z:
        z.writestr("mediapipe/modules/pose_detection/pose_detection.tflite", REAL["landmark"][1])
        z.writestr("mediapipe/modules/pose_landmark/pose_landmark_full.tflite", REAL["detector"][1])
    with pytest.raises(HatError, match=r"pose_detection.tflite is not MediaPipe's pose_detection.tflite \(input "):
        P.PoseSegmenter(model=str(tmp_path), fallback="none")


# ----------------------------------------------------------------------------- real models


@pytest.fixture(scope="module")
def pose():
    if REAL is None or len(REAL) < 2:
        pytest.skip(P.NOT_FOUND)
    return P.PoseSegmenter()


@needs_model
def test_output_contract_and_options(pose):
    frames = np.zeros((3, 50, 70, 3), np.uint8)
    frames[1] = 255
    out = pose.segment(frames, None, None, np.arange(3))
    assert out.masks.shape == (3, 50, 70) and out.masks.dtype == bool and not out.masks.any()
    assert len(out.boxes) == 3 and all(b.shape == (0, 5) and b.dtype == np.float32 for b in out.boxes)
    opts = pose.options()
    assert set(opts) == {"threshold", "min_score", "presence", "tiles", "fallback", "model_sha256"}
    assert set(opts["model_sha256"]) == {"detector", "landmark"} and set(opts["fallback"]) == {"selfie"}
    assert P.PoseSegmenter(fallback="none", threads=1).options()["fallback"] == "none"


def test_deterministic_and_threads_do_not_change_output(pose):
    frames = rawframes(ARCHERY, [0, 90])
    a = pose.segment(frames, None, None, np.array([0, 90]))
    b = pose.segment(frames, None, None, np.array([0, 90]))
    c = P.PoseSegmenter(threads=1).segment(frames, None, None, np.array([0, 90]))
    for other in (b, c):
        assert np.array_equal(a.masks, other.masks)
        assert all(np.array_equal(x, y) for x, y in zip(a.boxes, other.boxes))


def test_archer_head_covered_where_selfie_misses_it(pose):
    """Measured (head boxes read off the frames): at frames 90 and 120 the pose masks cover 46 % and 52 %
    of the head box, the selfie model 26 % and 1.5 %. At frame 0 (arms spread, a back cut at the waist,
    which BlazePose was not trained on) the pose models find nobody and the selfie fallback is used:
    its mask, head missed, comes back unchanged."""
    from hat.segmenters.selfie import SelfieSegmenter

    idx = np.array([0, 90, 120])
    frames = rawframes(ARCHERY, idx)
    out = pose.segment(frames, None, None, idx)
    ref = SelfieSegmenter().segment(frames, None, None, idx)
    heads = [(slice(0, 25), slice(250, 310)), (slice(0, 30), slice(220, 280))]
    for k, (ys, xs) in zip((1, 2), heads):
        assert out.masks[k][ys, xs].mean() >= 0.35 and out.masks[k][ys, xs].mean() >= ref.masks[k][ys, xs].mean() + 0.15
        assert len(out.boxes[k]) == 1 and 0.15 <= out.masks[k].mean() <= 0.35
    assert np.array_equal(out.masks[0], ref.masks[0]) and np.array_equal(out.boxes[0], ref.boxes[0])
    assert P.PoseSegmenter(fallback="none").segment(frames[:1], None, None, idx[:1]).masks.sum() == 0


def test_bending_girl_legs_and_no_tree(pose):
    """Measured: at frame 180 (bent over) the pose masks cover 5.8 % of the frame, 17 % of its lower third
    where her legs are; the selfie model 3.0 % and 8.8 %. At frame 60 the selfie model adds a blob on a
    tree (3 boxes); the pose masks hold only her (1 box)."""
    from hat.segmenters.selfie import SelfieSegmenter

    idx = np.array([60, 180])
    frames = rawframes(BENDING, idx)
    out = pose.segment(frames, None, None, idx)
    ref = SelfieSegmenter().segment(frames, None, None, idx)
    assert out.masks[1, 170:].mean() >= 1.5 * ref.masks[1, 170:].mean() and out.masks[1].mean() >= 0.04
    assert len(out.boxes[0]) == 1 and len(ref.boxes[0]) >= 2


@pytest.mark.slow
@pytest.mark.skipif(not VTEST.is_file(), reason=f"{VTEST} not present (Debian package opencv-doc)")
def test_vtest_pedestrians_one_box_each_and_hog(pose):
    """vtest.avi, 8 frames: the pose models find 2-6 pedestrians a frame (measured 4, 5, 3, 3, 4, 5, 4, 3 at
    frames 0, 100, ...; the selfie model's blobs 1-4), the boxes never overlap (IoU < 0.05 measured);
    HOG's detections in Background-Only: 20 before, 9 left with the selfie masks, 4 with these."""
    from hat.segmenters.selfie import SelfieSegmenter
    from hat.video import read_frames
    from test_selfie_segmenter import background_only, hog_people

    idx = np.arange(0, 795, 100)
    frames = read_frames(VTEST, idx)
    out = pose.segment(frames, None, None, idx)
    counts = [len(b) for b in out.boxes]
    assert min(counts) >= 2 and max(counts) <= 7 and np.mean(counts) >= 3, counts
    h, w = frames.shape[1:3]
    for b in out.boxes:
        assert (b[:, 0] >= 0).all() and (b[:, 2] <= w).all() and (b[:, 3] <= h).all() and (b[:, 0] < b[:, 2]).all()
        assert ((b[:, 4] >= 0.5) & (b[:, 4] <= 1)).all()
        for i in range(len(b)):
            assert P.box_iou(b[i, :4], np.delete(b[:, :4], i, axis=0)).max(initial=0) < 0.3
    cov = out.masks.mean(axis=(1, 2))
    assert (cov > 0.005).all() and cov.max() < 0.05, cov.round(3)
    n0, _ = hog_people(frames)
    n_selfie, _ = hog_people(background_only(SelfieSegmenter(), frames)[0])
    n_pose, _ = hog_people(background_only(pose, frames)[0])
    assert n0 >= 10 and n_pose < n_selfie and n_pose <= 0.35 * n0, (n0, n_selfie, n_pose)


@pytest.mark.slow
def test_bench_script_smoke():
    """scripts/bench_offline_segmenters --smoke runs end to end and prints a row per clip and segmenter."""
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "bench_offline_segmenters.py"), "--smoke"],
                       capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    lines = r.stdout.splitlines()
    assert any(line.startswith("clip ") and "HOG" in line and "faces" in line for line in lines)
    rows = [line for line in lines if line.split()[:1] and line.split()[0] in ("carphone", "archery")]
    assert rows, r.stdout
    assert all("skipped" in row or len(row.split()) >= 8 for row in rows)


@needs_model
def test_model_folder_without_selfie_names_fallback_none(tmp_path):
    for key, (_, data) in REAL.items():
        (tmp_path / Path(P.FILES.members[key]).name).write_bytes(data)
    with pytest.raises(HatError, match=r"mediapipe-pose fallback=selfie: no selfie segmentation model in .* "
                                       r"\(or give fallback=none\)$"):
        P.PoseSegmenter(model=str(tmp_path))
    assert P.PoseSegmenter(model=str(tmp_path), fallback="none").options()["model_sha256"] == P.PoseSegmenter(
        fallback="none").options()["model_sha256"]
