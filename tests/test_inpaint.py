import cv2
import numpy as np
import pytest

from hat.errors import HatError
from hat.inpainters import INPAINTERS
from hat.inpainters.propagate import clean_plate
from hat.masks import dilate


def moving_square(t=6, h=16, w=16):
    """A static textured background with a 4x4 red square moving right."""
    rng = np.random.default_rng(0)
    bg = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    frames = np.repeat(bg[None], t, axis=0).copy()
    masks = np.zeros((t, h, w), bool)
    for i in range(t):
        masks[i, 6:10, 2 * i : 2 * i + 4] = True
        frames[i][masks[i]] = (255, 0, 0)
    return bg, frames, masks


def test_clean_plate_median_of_unmasked():
    f = np.zeros((3, 1, 2, 3), np.uint8)
    f[:, 0, 0] = [[10] * 3, [20] * 3, [90] * 3]
    m = np.zeros((3, 1, 2), bool)
    m[2, 0, 0] = True  # the 90 is hidden
    m[:, 0, 1] = True  # never seen
    plate, seen = clean_plate(f, m)
    assert plate[0, 0].tolist() == [15, 15, 15]
    assert seen.tolist() == [[True, False]]


def test_propagate_recovers_static_background_and_keeps_outside_pixels():
    bg, frames, masks = moving_square()
    inp = INPAINTERS.create("propagate", dilation=1)
    out = inp.inpaint(frames, masks, np.array([0, 3, 5]))
    assert out.shape == (3, 16, 16, 3)
    holes = dilate(masks, 1)
    for k, t in enumerate([0, 3, 5]):
        assert np.array_equal(out[k][~holes[t]], frames[t][~holes[t]]), "outside the dilated mask nothing changes"
        assert np.array_equal(out[k][holes[t]], bg[holes[t]]), "the square moves, so the scene behind it was seen"


def test_propagate_never_uncovered_pixels_use_cv2_inpaint():
    frames = np.full((3, 12, 12, 3), 100, np.uint8)
    masks = np.zeros((3, 12, 12), bool)
    masks[:, 4:8, 4:8] = True
    frames[masks] = 255
    out = INPAINTERS.create("propagate", dilation=0).inpaint(frames, masks, np.array([1]))
    assert (np.abs(out[0].astype(int) - 100) <= 2).all()


def test_windowed_propagate_and_bad_option():
    bg, frames, masks = moving_square()
    out = INPAINTERS.create("propagate", dilation=1, window=2).inpaint(frames, masks, np.array([2]))
    holes = dilate(masks, 1)[2]
    assert np.array_equal(out[0][holes], bg[holes])
    with pytest.raises(HatError, match="valid: dilation, window, method, radius"):
        INPAINTERS.create("propagate", radius_px=3)
    with pytest.raises(HatError, match="unknown inpainter 'lama'.*propagate"):
        INPAINTERS.create("lama")


def textured_clip(t=6, h=64, w=96, pan=0, seed=3):
    """A blurred random scene (plenty of corners) seen by a camera panning ``pan`` px a frame, with a
    grey box walking across."""
    rng = np.random.default_rng(seed)
    scene = cv2.GaussianBlur(rng.integers(0, 255, (h, w + pan * t + 1, 3), dtype=np.uint8), (3, 3), 0)
    frames = np.stack([scene[:, pan * i:pan * i + w] for i in range(t)]).copy()
    masks = np.zeros((t, h, w), bool)
    for i in range(t):
        masks[i, 16:48, 8 + 12 * i:28 + 12 * i] = True
        frames[i][masks[i]] = 128
    return frames, masks


def test_still_camera_keeps_the_static_path_bit_for_bit():
    from hat.inpainters.propagate import chain_to_first

    frames, masks = textured_clip()
    _, shift, run = chain_to_first(frames, dilate(masks, 4))
    assert shift < 0.1 and (run == 0).all(), "every pair is fitted, and shows no motion"
    auto = INPAINTERS.create("propagate")
    a = auto.inpaint(frames, masks, np.array([0, 3, 5]))
    b = INPAINTERS.create("propagate", align="none").inpaint(frames, masks, np.array([0, 3, 5]))
    assert np.array_equal(a, b)
    with pytest.raises(HatError, match="align must be one of auto, none, homography"):
        INPAINTERS.create("propagate", align="flow")


def test_pair_homography_finds_a_camera_shift():
    from hat.inpainters.propagate import pair_homography

    rng = np.random.default_rng(3)
    scene = cv2.GaussianBlur(rng.integers(0, 255, (90, 130, 3), dtype=np.uint8), (3, 3), 0)
    a, b = scene[5:69, 5:101], scene[7:71, 2:98]  # b sees the scene 3 px right, 2 px down of a
    hole = np.zeros((64, 96), bool)
    hole[20:40, 40:60] = True
    hom, motion = pair_homography(a, b, hole, hole)
    np.testing.assert_allclose(hom / hom[2, 2], [[1, 0, 3], [0, 1, -2], [0, 0, 1]], atol=0.05)
    assert motion == pytest.approx(np.hypot(3, 2), abs=0.05)
    assert pair_homography(np.zeros_like(a), np.zeros_like(b), hole, hole) is None  # nothing to track


def test_moving_camera_is_aligned_before_the_median():
    """A panning synthetic camera: aligned propagation is much closer to the true background."""
    from hat.segmenters import SEGMENTERS
    from hat.sources import create_source
    from hat.video import segment_indices

    src = create_source("synthetic", num_classes=4, train_per_class=1, val_per_class=1, size=96, num_frames=32,
                        camera_motion=1.0)
    errs = {"none": [], "auto": []}
    for rec in src.records("val"):
        idx = np.arange(32)
        frames = src.read(rec, idx)
        masks = SEGMENTERS.create("gt").segment(frames, rec, src, idx).masks
        targets = segment_indices(32, 8)
        truth = src.clean_background(rec, targets).astype(int)
        for align in errs:
            inp = INPAINTERS.create("propagate", align=align)
            out = inp.inpaint(frames, masks, targets)
            errs[align].append(np.abs(out.astype(int) - truth)[masks[targets]].mean())
            holes = dilate(masks, 4)
            for k, t in enumerate(targets):
                assert np.array_equal(out[k][~holes[t]], frames[t][~holes[t]])
        assert inp.last_shift > 1.0
    assert np.mean(errs["auto"]) < 0.75 * np.mean(errs["none"])


def test_a_cut_splits_the_chain_and_frames_are_not_warped_across_it():
    from hat.inpainters.propagate import chain_to_first

    a, ma = textured_clip(t=4, pan=2, seed=3)
    b, mb = textured_clip(t=4, pan=2, seed=4)  # another scene: no homography between the two halves
    frames, masks = np.concatenate([a, b]), np.concatenate([ma, mb])
    to_first, shift, run = chain_to_first(frames, dilate(masks, 4))
    assert run.tolist() == [0, 0, 0, 0, 1, 1, 1, 1] and shift == pytest.approx(2.0, abs=0.1)
    np.testing.assert_allclose(to_first[3][:2, 2], [6, 0], atol=0.2)  # frame 3 pixel x is frame 0 pixel x + 6
    out = INPAINTERS.create("propagate").inpaint(frames, masks, np.array([1, 6]))
    holes = dilate(masks, 4)
    for k, t in enumerate((1, 6)):
        ring = holes[t] & ~masks[t]  # dilated away from the box: the true scene is known there
        err = np.abs(out[k].astype(int) - frames[t].astype(int))[ring]
        assert np.median(err) < 4, (t, np.median(err))  # refilled from its own scene (across the cut: 13-14)
