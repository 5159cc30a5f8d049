import numpy as np

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
