"""Pixel maths on hand-made arrays: exact expected pixels."""

import numpy as np
import pytest

from hat import compose as C


def frames(t=2, h=4, w=5, value=10):
    f = np.full((t, h, w, 3), value, np.uint8)
    return f


def test_fill_replaces_only_region():
    f = np.arange(2 * 3 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3, 3)
    m = np.zeros((2, 3, 3), bool)
    m[0, 1, 2] = m[1, 0, 0] = True
    out = C.fill(f, m, (1, 2, 3))
    assert out[0, 1, 2].tolist() == [1, 2, 3] and out[1, 0, 0].tolist() == [1, 2, 3]
    keep = ~m
    assert np.array_equal(out[keep], f[keep])
    assert f[0, 1, 2].tolist() != [1, 2, 3], "input must not be modified"


def test_human_only_uses_given_dataset_colour_everywhere_else():
    f = frames()
    f[:, 1, 1] = (200, 100, 50)
    m = np.zeros((2, 4, 5), bool)
    m[:, 1, 1] = True
    out = C.human_only(f, m, (7, 8, 9))
    assert out[0, 1, 1].tolist() == [200, 100, 50]
    rest = out[~m]
    assert (rest == [7, 8, 9]).all()


def test_mask_background_and_boxes():
    f = frames(t=1, h=4, w=6)
    m = np.zeros((1, 4, 6), bool)
    m[0, 2, 3] = True
    out = C.mask_background(f, m, (1, 1, 1))
    assert out[0, 2, 3].tolist() == [10, 10, 10] and out[0, 0, 0].tolist() == [1, 1, 1]
    boxed = C.mask_boxes(f, [np.array([[1, 1, 3, 3, 0.9]])], (5, 6, 7))
    expect = np.zeros((4, 6), bool)
    expect[1:3, 1:3] = True
    assert (boxed[0][expect] == [5, 6, 7]).all()
    assert (boxed[0][~expect] == 10).all()


def test_mask_boxes_clips_boxes_outside_frame_and_handles_no_box():
    f = frames(t=2, h=3, w=3)
    out = C.mask_boxes(f, [np.array([[-5, -5, 1, 10, 1.0]]), np.zeros((0, 5))], (0, 0, 0))
    assert (out[0, :, 0] == 0).all() and (out[0, :, 1:] == 10).all()
    assert (out[1] == 10).all()


def test_normal_colour_is_seeded_and_in_range():
    a = C.normal_color(np.random.default_rng(3))
    b = C.normal_color(np.random.default_rng(3))
    c = C.normal_color(np.random.default_rng(4))
    assert a.dtype == np.uint8 and a.tolist() == b.tolist() and a.tolist() != c.tolist()
    # c = 0 maps to the mean colour
    class Zero:
        def standard_normal(self, n):
            return np.zeros(n)

    assert C.normal_color(Zero(), (0.5, 0.5, 0.5), (0.1, 0.1, 0.1)).tolist() == [128, 128, 128]


def test_align_time_by_relative_position():
    assert C.align_time(4, 4).tolist() == [0, 1, 2, 3]
    assert C.align_time(3, 5).tolist() == [0, 2, 4]
    assert C.align_time(5, 3).tolist() == [0, 1, 1, 2, 2]
    assert C.align_time(1, 7).tolist() == [3]


def test_resize_cover_keeps_aspect_and_fills_frame():
    f = np.zeros((1, 2, 4, 3), np.uint8)
    f[0, :, :2] = 100  # left half
    f[0, :, 2:] = 200  # right half
    out = C.resize_cover(f, 4, 4, nearest=True)  # 2x4 -> scale 2 -> 4x8 -> centre crop 4x4
    assert out.shape == (1, 4, 4, 3)
    assert (out[0, :, :2] == 100).all() and (out[0, :, 2:] == 200).all()
    m = np.zeros((1, 2, 4), bool)
    m[0, 0, 1] = True
    assert C.resize_cover(m, 4, 4, nearest=True).dtype == bool


def test_shift_no_wraparound():
    a = np.arange(9).reshape(1, 3, 3)
    assert C.shift(a, 1, 0)[0].tolist() == [[0, 0, 0], [0, 1, 2], [3, 4, 5]]
    assert C.shift(a, 0, -1)[0].tolist() == [[1, 2, 0], [4, 5, 0], [7, 8, 0]]


def test_paste_offset_uses_all_frames_and_never_leaves_frame():
    fg = np.zeros((2, 10, 10), bool)
    fg[0, 2, 2] = True
    fg[1, 2, 4] = True  # fg centre over both frames: (2, 3)
    bg = np.zeros((2, 10, 10), bool)
    bg[0, 6, 6] = True
    bg[1, 6, 8] = True  # bg centre (6, 7)
    assert C.paste_offset(fg, bg, "match") == (4, 4)
    assert C.paste_offset(fg, bg, "keep") == (0, 0)
    # a target far outside is clamped so the union box (rows 2, cols 2..4) stays inside
    bg2 = np.zeros((2, 10, 10), bool)
    bg2[:, 9, 9] = True
    dy, dx = C.paste_offset(fg, bg2, "match")
    assert (dy, dx) == (7, 5)
    assert 2 + dy <= 9 and 4 + dx <= 9
    # no background human: keep in place
    assert C.paste_offset(fg, np.zeros_like(bg), "match") == (0, 0)
    with pytest.raises(ValueError):
        C.paste_offset(fg, bg, "teleport")


def test_action_swap_exact_pixels():
    fg = np.full((2, 4, 4, 3), 50, np.uint8)
    fg[:, 1, 1] = (255, 0, 0)
    fm = np.zeros((2, 4, 4), bool)
    fm[:, 1, 1] = True
    bg = np.zeros((4, 4, 4, 3), np.uint8)
    for t in range(4):
        bg[t] = t * 10  # frame t has value 10 t
    before = bg.copy()
    out = C.action_swap(fg, fm, bg, None, "keep")
    assert np.array_equal(bg, before), "the stored background must not be modified"
    assert out.shape == (2, 4, 4, 3)
    # time aligned by relative position: bg frames 0 and 3
    assert out[0, 0, 0].tolist() == [0, 0, 0] and out[1, 0, 0].tolist() == [30, 30, 30]
    assert out[0, 1, 1].tolist() == [255, 0, 0] and out[1, 1, 1].tolist() == [255, 0, 0]
    # with the background's own human at (3, 2) the foreground human moves there
    bm = np.zeros((4, 4, 4), bool)
    bm[:, 3, 2] = True
    out = C.action_swap(fg, fm, bg, bm, "match")
    assert out[0, 3, 2].tolist() == [255, 0, 0] and out[0, 1, 1].tolist() == [0, 0, 0]


def test_action_swap_resizes_background_of_other_size():
    fg = np.zeros((1, 4, 6, 3), np.uint8)
    fm = np.zeros((1, 4, 6), bool)
    fm[0, 0, 0] = True
    fg[0, 0, 0] = 99
    bg = np.full((1, 8, 8, 3), 7, np.uint8)
    out = C.action_swap(fg, fm, bg, None, "keep")
    assert out.shape == (1, 4, 6, 3)
    assert out[0, 0, 0].tolist() == [99, 99, 99]
    assert (out[0][~fm[0]] == 7).all()


def test_object_shape_and_background_plus_objects_in_two_colours():
    f = frames(1, 3, 4, 10)
    person = np.zeros((1, 3, 4), bool)
    person[0, :, 0:2] = True
    obj = np.zeros((1, 3, 4), bool)
    obj[0, 1, 1:3] = True  # a held object overlapping the person's hand at (1, 1)
    shape = C.mask_objects(f, obj, (200, 0, 0))
    assert (shape[obj] == (200, 0, 0)).all() and (shape[~obj] == 10).all()
    both = C.mask_background_and_objects(f, person, obj, (1, 2, 3), (200, 0, 0))
    # Eq. 5: the person's pixels kept (the hand on the cup too), the object's other pixels in the object colour
    assert (both[person] == 10).all()
    assert both[0, 1, 1].tolist() == [10, 10, 10]
    assert (both[obj & ~person] == (200, 0, 0)).all() and both[0, 1, 2].tolist() == [200, 0, 0]
    bg = ~person & ~obj
    assert (both[bg] == (1, 2, 3)).all()
    assert (f == 10).all()  # inputs untouched


def hand_on_cup():
    """A 1×5×6 frame: the person on the left two columns, a cup box over columns 1..3 of rows 1..3."""
    f = frames(1, 5, 6, 10)
    person = np.zeros((1, 5, 6), bool)
    person[0, :, 0:2] = True
    cup = np.zeros((1, 5, 6), bool)
    cup[0, 1:4, 1:4] = True
    return f, person, cup


def test_object_box_masking_keeps_the_person_inside_the_box():
    """Eq. 3: M = object boxes ∧ ¬person."""
    f, person, cup = hand_on_cup()
    out = C.mask_boxes(f, [np.array([[1, 1, 4, 4, 0.9, 0]])], (9, 9, 9), keep=person)
    assert (out[0][cup[0] & ~person[0]] == 9).all()
    assert out[0, 2, 1].tolist() == [10, 10, 10]  # the hand inside the cup's box stays visible
    assert (out[0][~cup[0]] == 10).all()


def test_person_box_masking_keeps_the_objects_inside_the_box():
    """Eq. 6: B-top1 masks the person boxes but leaves the named objects' pixels (and the background) visible."""
    f, person, cup = hand_on_cup()
    out = C.mask_boxes(f, [np.array([[0, 0, 2, 5, 0.9]])], (9, 9, 9), keep=cup)
    assert (out[0][person[0] & ~cup[0]] == 9).all()
    assert out[0, 2, 1].tolist() == [10, 10, 10]  # the cup's pixel inside the person's box stays visible
    assert (out[0][~person[0]] == 10).all()
    assert np.array_equal(C.mask_boxes(f, [np.array([[0, 0, 2, 5, 0.9]])], (9, 9, 9)),
                          C.mask_boxes(f, [np.array([[0, 0, 2, 5, 0.9]])], (9, 9, 9), keep=None))


def test_benchmark_wires_the_masking_equations(tiny_bench):
    """Through Benchmark.compose: B-top1 keeps the objects (Eq. 6), object boxes keep the person (Eq. 3)."""
    from hat.bench import Benchmark, Item, VideoParts

    b = Benchmark(tiny_bench)
    f, person, cup = hand_on_cup()
    parts = VideoParts("v", f, person, [np.array([[0, 0, 2, 5, 0.9]])], f.copy(), np.array([0]), 1, 0.0,
                       object_masks=cup, object_boxes=[np.array([[1, 1, 4, 4, 0.9, 0]])])
    b._parts = lambda vid: parts
    mp = b.compose(Item("masked_person", 0, "v", 0))
    assert mp[0, 2, 1].tolist() == [10, 10, 10] and (mp[0][person[0] & ~cup[0]] != 10).any()
    ob = b.compose(Item("masked_object_box", 0, "v", 0))
    assert ob[0, 2, 1].tolist() == [10, 10, 10] and (ob[0][cup[0] & ~person[0]] != 10).any()
    both = b.compose(Item("masked_background_objects", 0, "v", 0))
    assert (both[person] == 10).all()
