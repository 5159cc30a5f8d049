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
