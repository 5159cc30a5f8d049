"""Tests for the procedural action-video renderer (hat.sources.render)."""

from __future__ import annotations

import numpy as np
import pytest

from hat.sources.render import MOTIONS, SCENES, RenderedVideo, render_video

M = {name: i for i, name in enumerate(MOTIONS)}
S = {name: i for i, name in enumerate(SCENES)}


def _random_combos(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        yield int(rng.integers(0, 2**63)), int(rng.integers(len(MOTIONS))), int(rng.integers(len(SCENES)))


def _traj_features(v: RenderedVideo) -> np.ndarray:
    """Phase-invariant mask-trajectory statistics, normalised by figure size."""
    m = v.masks
    b = v.boxes.astype(np.float64)
    h = np.median(b[:, 3] - b[:, 1])
    ys, xs = np.mgrid[: m.shape[1], : m.shape[2]]
    area = m.sum((1, 2)).astype(np.float64)
    cx = (m * xs).sum((1, 2)) / area
    cy = (m * ys).sum((1, 2)) / area
    x = np.logical_xor(m[1:], m[:-1])
    xor_y = ((x * ys).sum() / max(x.sum(), 1) - b[:, 1].mean()) / h
    return np.array([
        abs(cx[-1] - cx[0]) / h,  # net horizontal travel
        np.ptp(b[:, 3]) / h,  # feet leave the ground
        np.ptp(b[:, 1]) / h,  # top of the figure moves
        np.ptp(b[:, 2] - b[:, 0]) / h,  # width changes
        np.ptp(cy) / h,  # vertical centroid motion
        xor_y,  # where (vertically) the figure changes
        np.ptp(area) / area.mean(),  # area changes
    ])


def test_every_synthetic_class_has_its_own_name_and_home_scene():
    """The synthetic source's classes are the motions; at its default class count each is at home in its own
    scene (the scene shortcut the demo models are meant to find). A renamed, repeated or dropped motion or
    scene breaks that here rather than in a build."""
    import inspect

    from hat.sources.synthetic import SyntheticSource

    assert len(set(MOTIONS)) == len(MOTIONS) and len(set(SCENES)) == len(SCENES)
    assert SyntheticSource(num_classes=len(MOTIONS)).classes == list(MOTIONS)
    n = inspect.signature(SyntheticSource).parameters["num_classes"].default
    src = SyntheticSource()
    homes = [src.home_scene(label) for label in range(n)]
    assert src.classes == list(MOTIONS[:n]) and len(set(homes)) == n, "two classes share a home scene"


def test_shapes_and_dtypes():
    v = render_video(3, 0, 0)
    assert isinstance(v, RenderedVideo)
    assert v.frames.shape == (16, 64, 64, 3) and v.frames.dtype == np.uint8
    assert v.background.shape == (16, 64, 64, 3) and v.background.dtype == np.uint8
    assert v.masks.shape == (16, 64, 64) and v.masks.dtype == np.bool_
    assert v.boxes.shape == (16, 4) and v.boxes.dtype == np.int32
    v = render_video(3, 1, 2, num_frames=5, size=40)
    assert v.frames.shape == (5, 40, 40, 3) and v.masks.shape == (5, 40, 40) and v.boxes.shape == (5, 4)
    v = render_video(3, 4, 5, num_frames=1)
    assert v.frames.shape == (1, 64, 64, 3) and v.masks[0].any()


def test_determinism():
    for seed, m, s in [(0, 0, 0), (12345, 4, 1), (2**63, 7, 6), (2**63 - 1, 2, 3)]:
        a = render_video(seed, m, s, camera_motion=0.3)
        b = render_video(seed, m, s, camera_motion=0.3)
        for f in ("frames", "masks", "boxes", "background"):
            assert getattr(a, f).tobytes() == getattr(b, f).tobytes()
    a = render_video(1, 3, 2)
    b = render_video(2, 3, 2)
    assert a.frames.tobytes() != b.frames.tobytes()
    assert a.background.tobytes() != b.background.tobytes()
    assert a.masks.tobytes() != b.masks.tobytes()


def test_global_rng_untouched():
    np.random.seed(5)
    expected = np.random.random()
    np.random.seed(5)
    render_video(9, 2, 4)
    assert np.random.random() == expected


def test_mask_background_and_boxes_consistency():
    for seed, m, s in _random_combos(40, seed=1):
        v = render_video(seed, m, s)
        outside = ~v.masks
        assert np.array_equal(v.frames[outside], v.background[outside])
        changed = (v.frames != v.background).any(-1)
        assert not (changed & outside).any()
        assert changed.sum() > 0.5 * v.masks.sum()  # the figure is actually visible
        for t in range(v.masks.shape[0]):
            ys, xs = np.nonzero(v.masks[t])
            assert len(ys) > 0
            assert v.boxes[t].tolist() == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]


def test_boxes_zero_for_empty_mask():
    from hat.sources.render import _boxes

    masks = np.zeros((2, 8, 8), bool)
    masks[1, 2:4, 3:7] = True
    assert _boxes(masks).tolist() == [[0, 0, 0, 0], [3, 2, 7, 4]]


@pytest.mark.parametrize("size", [32, 64, 128])
def test_coverage_and_never_clipped(size):
    n = {32: 150, 64: 300, 128: 60}[size]
    covs = []
    for seed, m, s in _random_combos(n, seed=size):
        v = render_video(seed, m, s, size=size)
        covs.append(v.masks.mean(axis=(1, 2)))
        border = v.masks[:, 0, :] | v.masks[:, -1, :] | v.masks[:, :, 0] | v.masks[:, :, -1]
        assert not border.any(), (seed, m, s)
        assert (v.boxes[:, :2] >= 1).all() and (v.boxes[:, 2:] <= size - 1).all()
    covs = np.concatenate(covs)
    ok = (covs >= 0.02) & (covs <= 0.35)
    assert ok.mean() >= 0.9
    assert covs.min() > 0.0


def test_large_size_and_camera_inside():
    v = render_video(77, M["walk"], S["road"], size=256, num_frames=8, camera_motion=0.5)
    assert v.frames.shape == (8, 256, 256, 3)
    assert not (v.masks[:, 0].any() or v.masks[:, -1].any() or v.masks[:, :, 0].any() or v.masks[:, :, -1].any())


@pytest.mark.parametrize("motion", range(len(MOTIONS)))
def test_every_motion_moves(motion):
    for seed in range(6):
        v = render_video(seed, motion, seed % len(SCENES))
        m = v.masks
        inter = (m[1:] & m[:-1]).sum((1, 2))
        union = (m[1:] | m[:-1]).sum((1, 2))
        assert (inter / union).mean() < 0.98, (MOTIONS[motion], seed)


def test_motion_signatures():
    feats = {name: np.array([_traj_features(render_video(100 + k, i, k % len(SCENES))) for k in range(12)])
             for name, i in M.items()}
    travel, bottom, top = 0, 1, 2
    width = 3
    # walk travels across the frame, nothing else does
    assert feats["walk"][:, travel].min() > 0.3
    for name in MOTIONS:
        if name != "walk":
            assert np.median(feats[name][:, travel]) < 0.1, name
    # only jump (and a little the bouncing jumping jacks) lifts the feet
    assert feats["jump"][:, bottom].min() > 0.12
    for name in MOTIONS:
        if name not in ("jump", "jumping_jacks"):
            assert feats[name][:, bottom].max() < 0.03, name
    # squat: the head goes down a lot while the feet stay put
    assert feats["squat"][:, top].min() > 0.15
    for name in ("wave", "clap", "walk", "punch", "kick", "jumping_jacks"):
        assert np.median(feats[name][:, top]) < 0.1, name
    # jumping jacks and kick spread out widely
    for name in ("jumping_jacks", "kick"):
        assert feats[name][:, width].min() > 0.3, name


def test_motions_separable_by_mask_trajectories():
    """A nearest-class-mean classifier on mask-trajectory features separates
    all classes on held-out seeds (scene and nuisances vary)."""
    train = {i: np.array([_traj_features(render_video(1000 + k, i, k % len(SCENES))) for k in range(10)])
             for i in range(len(MOTIONS))}
    allf = np.concatenate(list(train.values()))
    mu, sd = allf.mean(0), allf.std(0) + 1e-6
    means = np.array([((train[i] - mu) / sd).mean(0) for i in range(len(MOTIONS))])
    correct = total = 0
    for i in range(len(MOTIONS)):
        for k in range(8):
            f = (_traj_features(render_video(5000 + k, i, (k + 3) % len(SCENES))) - mu) / sd
            correct += int(np.argmin(((means - f) ** 2).sum(1)) == i)
            total += 1
    assert correct / total >= 0.9


def test_same_seed_same_figure_across_scenes_and_camera():
    base = render_video(42, M["kick"], S["grass"])
    for s in range(len(SCENES)):
        v = render_video(42, M["kick"], s, camera_motion=0.4)
        assert np.array_equal(v.masks, base.masks)
        assert np.array_equal(v.boxes, base.boxes)


def test_camera_motion():
    static = render_video(8, M["wave"], S["tiles"], camera_motion=0.0)
    assert all(np.array_equal(static.background[0], b) for b in static.background)
    moving = render_video(8, M["wave"], S["tiles"], camera_motion=0.5)
    diffs = [not np.array_equal(a, b) for a, b in zip(moving.background[:-1], moving.background[1:])]
    assert all(diffs)
    # the panned background is a shifted copy of the same scene
    assert np.abs(moving.background[0].astype(int).mean((0, 1)) - static.background[0].astype(int).mean((0, 1))).max() < 40
    for name in ("grass", "brick", "road", "indoor", "dunes"):
        v = render_video(3, 0, S[name])
        assert all(np.array_equal(v.background[0], b) for b in v.background), name
    # water is animated even with a static camera
    water = render_video(8, M["wave"], S["water"])
    assert not np.array_equal(water.background[0], water.background[-1])


def test_scenes_distinct():
    """Backgrounds of different scene families are separable by simple colour and
    edge statistics (nearest class mean), across random per-video jitter.  (Tiles
    have random colour pairs, so colour statistics alone do not separate them
    perfectly; a CNN sees the grid.)"""

    def stats(bg: np.ndarray) -> np.ndarray:
        f = bg[0].astype(np.float64) / 255.0
        g = f.mean(-1)
        top, bottom = f[: f.shape[0] // 3], f[-f.shape[0] // 3:]
        gx = np.abs(np.diff(g, axis=1)).mean()
        gy = np.abs(np.diff(g, axis=0)).mean()
        cols = np.abs(np.diff(g.mean(0))).mean() / (g.std() + 1e-3)
        return np.concatenate([top.mean((0, 1)), bottom.mean((0, 1)), f.std((0, 1)), [gx, gy, cols]])

    train = {s: np.array([stats(render_video(200 + k, 0, s).background) for k in range(12)]) for s in range(len(SCENES))}
    allf = np.concatenate(list(train.values()))
    mu, sd = allf.mean(0), allf.std(0) + 1e-9
    means = {s: ((f - mu) / sd).mean(0) for s, f in train.items()}
    correct = total = 0
    for s in range(len(SCENES)):
        for k in range(10):
            f = (stats(render_video(9000 + k, 1, s).background) - mu) / sd
            pred = min(means, key=lambda c: ((means[c] - f) ** 2).sum())
            correct += int(pred == s)
            total += 1
    assert correct / total >= 0.85


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(seed=0, motion=len(MOTIONS), scene=0),
        dict(seed=0, motion=-1, scene=0),
        dict(seed=0, motion=0, scene=len(SCENES)),
        dict(seed=0, motion=0, scene=-1),
        dict(seed=0, motion=1.5, scene=0),
        dict(seed=-1, motion=0, scene=0),
        dict(seed=0, motion=0, scene=0, camera_motion=-0.1),
        dict(seed=0, motion=0, scene=0, num_frames=0),
        dict(seed=0, motion=0, scene=0, size=8),
    ],
)
def test_invalid_arguments(kwargs):
    with pytest.raises(ValueError):
        render_video(**kwargs)


def test_error_message_names_range():
    with pytest.raises(ValueError, match=r"\[0, %d\]" % (len(MOTIONS) - 1)):
        render_video(0, 99, 0)
    with pytest.raises(ValueError, match=r"\[0, %d\]" % (len(SCENES) - 1)):
        render_video(0, 0, 99)
