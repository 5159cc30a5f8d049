import numpy as np
import pytest

from hat import masks as M


def test_rle_roundtrip_and_json_safe():
    rng = np.random.default_rng(0)
    m = rng.random((3, 7, 5)) > 0.6
    rles = M.encode_rle(m)
    assert all(isinstance(r["counts"], str) for r in rles)
    assert np.array_equal(M.decode_rle(rles), m)


def test_boxes_and_coverage():
    m = np.zeros((2, 5, 6), bool)
    m[0, 1:3, 2:5] = True
    b = M.boxes_from_masks(m)
    assert b[0].tolist() == [2, 1, 5, 3] and b[1].tolist() == [0, 0, 0, 0]
    assert np.allclose(M.coverage(m), [6 / 30, 0])
    u = M.boxes_mask([np.array([[2, 1, 5, 3]]), np.zeros((0, 4))], 5, 6)
    assert np.array_equal(u[0], m[0]) and not u[1].any()


def test_dilate_cross():
    m = np.zeros((1, 5, 5), bool)
    m[0, 2, 2] = True
    d = M.dilate(m, 1)[0]
    expect = np.zeros((5, 5), bool)
    expect[2, 1:4] = expect[1:4, 2] = True
    assert np.array_equal(d, expect)
    assert M.dilate(m, 2)[0].sum() == 13
    assert np.array_equal(M.dilate(m, 0), m)


def test_binarize_once_and_temporal_iou():
    soft = np.array([[[0.2, 0.5], [0.7, 0.49]]])
    assert M.binarize(soft).tolist() == [[[False, True], [True, False]]]
    m = np.zeros((3, 2, 2), bool)
    m[0, 0, 0] = m[1, 0, 0] = m[1, 0, 1] = True
    assert np.allclose(M.temporal_iou(m), [0.5, 0.0])
    assert M.temporal_iou(np.zeros((2, 2, 2), bool)).tolist() == [1.0]


def test_smooth_masks_removes_one_frame_flicker_keeps_persistent_change():
    m = np.zeros((6, 2, 3), bool)
    m[:, 0, 0] = True  # always on
    m[2, 1, 2] = True  # a blob for one frame only
    m[3:, 0, 2] = True  # switched on for good from frame 3
    m[4, 0, 0] = False  # a hole for one frame
    s = M.smooth_masks(m, 3)
    assert s[:, 0, 0].all()
    assert not s[:, 1, 2].any()
    # frame 2 votes over frames 1..3 (1 of 3 on); the last frame over 4..5 (both on)
    assert s[:, 0, 2].tolist() == [False, False, False, True, True, True]
    assert np.array_equal(M.smooth_masks(m, 1), m)
    with pytest.raises(ValueError, match="odd"):
        M.smooth_masks(m, 2)


def test_smooth_masks_ties_at_the_ends_keep_the_frame():
    m = np.array([[[True]], [[False]], [[False]], [[True]]])
    assert M.smooth_masks(m, 3)[:, 0, 0].tolist() == [True, False, False, True]  # ends: 1 of 2 is a tie


def test_component_boxes_one_box_per_blob_above_min_area():
    m = np.zeros((10, 20), bool)
    m[1:4, 2:6] = True  # 12 px
    m[6:10, 10:19] = True  # 36 px
    m[0, 19] = True  # 1 px: below min_area
    score = np.where(m, 0.9, 0.0)
    b = M.component_boxes(m, min_area=0.01, score=score)
    assert b.shape == (2, 5)
    got = sorted(map(tuple, b[:, :4].astype(int).tolist()))
    assert got == [(2, 1, 6, 4), (10, 6, 19, 10)]
    np.testing.assert_allclose(b[:, 4], 0.9, rtol=1e-6)
    assert M.component_boxes(np.zeros((4, 4), bool)).shape == (0, 5)


def test_flicker_counts_frames_unlike_both_neighbours_not_motion():
    t, h, w = 8, 10, 40
    moving = np.zeros((t, h, w), bool)
    for i in range(t):
        moving[i, 2:8, 4 * i : 4 * i + 10] = True  # fast motion: consecutive IoU only 0.43
    assert M.temporal_iou(moving).max() < 0.5
    assert not M.flicker_frames(moving).any()
    lost = moving.copy()
    lost[3] = False  # the person missed for one frame
    lost[6, :, :] = False
    lost[6, 0:2, 0:40] = True  # a wrong blob for one frame
    assert M.flicker_frames(lost).tolist() == [False, False, False, True, False, False, True, False]
    assert M.flicker_frames(lost[:2]).tolist() == [False, False]
