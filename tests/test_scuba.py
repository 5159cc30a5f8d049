"""SCUBA / SCUFO sets (issue 20): pixel maths on hand-made arrays, the background table, images of any kind."""

import dataclasses

import cv2
import numpy as np
import pandas as pd
import pytest

from hat import compose as C
from hat.bench import Benchmark, Item
from hat.errors import HatError
from hat.pipeline import build
from hat.scuba import (
    ImageScan, check_images, passes_scuba_filter, read_image, sample_scuba, scan_images,
)

from conftest import tiny_config


def _clip(t=6, h=20, w=30):
    """A person (a square moving right) on a busy scene."""
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, size=(t, h, w, 3), dtype=np.uint8)
    masks = np.zeros((t, h, w), bool)
    for i in range(t):
        masks[i, 5:11, 2 + i : 8 + i] = True
        frames[i][masks[i]] = (200 + i, 10, 10)
    return frames, masks


# ----------------------------------------------------------------------------- pixel maths


def test_scuba_pastes_the_person_on_the_same_image_in_every_frame():
    frames, masks = _clip()
    image = np.zeros((20, 30, 3), np.uint8)
    image[..., 1] = np.arange(30, dtype=np.uint8)[None, :] * 8
    out = C.scuba(frames, masks, image)  # no removed person to match: the person stays where it was
    assert out.shape == frames.shape and out.dtype == np.uint8
    assert (out[masks] == frames[masks]).all()  # the person's pixels, never resampled
    for t in range(len(out)):
        assert (out[t][~masks[t]] == image[~masks[t]]).all()  # the same still behind every frame
    assert (out[0] != out[-1]).any()  # the person still moves


def test_scuba_follows_action_swap_placement_with_a_removed_person():
    frames, masks = _clip()
    image = np.full((20, 30, 3), 50, np.uint8)
    where = np.zeros((20, 30), bool)
    where[12:18, 20:26] = True  # the person removed from the still frame stood here
    out = C.scuba(frames, masks, image, where, "match")
    t = len(frames)
    ref = C.action_swap(frames, masks, np.repeat(image[None], t, 0), np.repeat(where[None], t, 0), "match")
    assert (out == ref).all()
    dy, dx = C.paste_offset(masks, where[None], "match")
    assert (dy, dx) != (0, 0)
    assert (out[0][C.shift(masks, dy, dx)[0]] == frames[0][masks[0]]).all()


def test_scufo_is_one_frame_repeated():
    frames, masks = _clip(t=8)
    clip = C.scuba(frames, masks, np.full((20, 30, 3), 9, np.uint8))
    frozen = C.scufo(clip)
    assert frozen.shape == clip.shape
    assert C.freeze_index(8) == 4 and C.freeze_index(1) == 0
    for t in range(8):
        assert (frozen[t] == clip[4]).all()  # the middle frame, T times
    assert not (clip[0] == clip[4]).all()  # while the SCUBA clip moves


def test_stripes_are_seeded_sinusoids_of_two_colours():
    a = C.stripes(np.random.default_rng(7), 40, 60)
    b = C.stripes(np.random.default_rng(7), 40, 60)
    c = C.stripes(np.random.default_rng(8), 40, 60)
    assert a.shape == (40, 60, 3) and a.dtype == np.uint8
    assert (a == b).all() and (a != c).any()
    # every pixel lies on the segment between the two colours: one scalar wave times (c1 - c0)
    flat = a.reshape(-1, 3).astype(float)
    lo, hi = flat[flat.sum(1).argmin()], flat[flat.sum(1).argmax()]
    d = hi - lo
    s = ((flat - lo) @ d) / max(d @ d, 1)
    assert np.abs(lo + s[:, None] * d - flat).max() <= 2.0
    assert len(np.unique(a.reshape(-1, 3), axis=0)) > 10  # smooth, not two flat bands


def test_to_rgb8_grayscale_rgba_16bit_float():
    gray = np.array([[0, 128, 255]], np.uint8)
    assert (C.to_rgb8(gray) == np.repeat(gray[..., None], 3, 2)).all()
    bgr = np.array([[[10, 20, 30]]], np.uint8)
    assert C.to_rgb8(bgr).tolist() == [[[30, 20, 10]]]  # OpenCV's BGR to RGB
    bgra = np.array([[[10, 20, 30, 255], [10, 20, 30, 0]]], np.uint8)
    assert C.to_rgb8(bgra).tolist() == [[[30, 20, 10], [0, 0, 0]]]  # alpha over black
    deep = np.array([[[0, 32896, 65535]]], np.uint16)
    assert C.to_rgb8(deep).tolist() == [[[255, 128, 0]]]
    gray16 = np.array([[65535, 0]], np.uint16)
    assert C.to_rgb8(gray16).tolist() == [[[255] * 3, [0] * 3]]
    assert C.to_rgb8(np.array([[0.5]], np.float32)).tolist() == [[[128] * 3]]


def test_fit_image_covers_then_centre_crops():
    img = np.zeros((10, 40, 3), np.uint8)  # wide: left quarter red, right quarter blue, middle green
    img[:, :10] = (255, 0, 0)
    img[:, 10:30] = (0, 255, 0)
    img[:, 30:] = (0, 0, 255)
    out = C.fit_image(img, 20, 20)  # scaled x2 to cover 20 rows (80 wide), the middle 20 columns kept
    assert out.shape == (20, 20, 3)
    assert (out == (0, 255, 0)).all()  # no stretching, no bars: only the centre survives
    tall = C.fit_image(np.zeros((100, 10, 3), np.uint8), 16, 24)
    assert tall.shape == (16, 24, 3)


def test_scuba_filter_rule():
    assert passes_scuba_filter(np.array([0.1] * 9 + [0.0]))  # 90 % of frames at >= 10 %
    assert not passes_scuba_filter(np.array([0.1] * 8 + [0.0, 0.0]))
    assert passes_scuba_filter(np.array([0.9] * 10))  # no upper bound, unlike 5-50 %
    assert not passes_scuba_filter(np.array([]))


# ----------------------------------------------------------------------------- images


def _write_images(folder):
    folder.mkdir()
    rng = np.random.default_rng(1)
    cv2.imwrite(str(folder / "a_rgb.jpg"), rng.integers(0, 256, (30, 50, 3), dtype=np.uint8))
    cv2.imwrite(str(folder / "b_gray.png"), rng.integers(0, 256, (64, 16), dtype=np.uint8))
    cv2.imwrite(str(folder / "c_rgba.png"), rng.integers(0, 256, (20, 20, 4), dtype=np.uint8))
    cv2.imwrite(str(folder / "d_deep.png"), rng.integers(0, 65536, (40, 40, 3), dtype=np.uint16))
    (folder / "notes.txt").write_text("not an image")
    (folder / "broken.jpg").write_bytes(b"this is no jpeg")
    (folder / "sub").mkdir()
    cv2.imwrite(str(folder / "sub" / "e.bmp"), rng.integers(0, 256, (8, 8, 3), dtype=np.uint8))
    return folder


def test_scan_lists_skips_and_counts(tmp_path):
    scan = scan_images(_write_images(tmp_path / "img"))
    assert scan.usable == ["a_rgb.jpg", "b_gray.png", "c_rgba.png", "d_deep.png", "sub/e.bmp"]
    assert dict(scan.skipped) == {"broken.jpg": "unreadable", "notes.txt": "not an image"}
    assert "2 skipped" in scan.notes()[0] and "broken.jpg (unreadable)" in scan.notes()[0]
    for name in scan.usable:
        img = read_image(scan.folder / name)
        assert img.ndim == 3 and img.shape[2] == 3 and img.dtype == np.uint8
    with pytest.raises(HatError, match=r"5 usable images .* need at least 6"):
        check_images(scan, 6)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(HatError, match="0 usable images"):
        check_images(scan_images(empty), 1)
    with pytest.raises(HatError, match="not found"):
        scan_images(tmp_path / "nowhere")


def test_sample_is_seeded_per_video_and_order_independent(tmp_path):
    scan = scan_images(_write_images(tmp_path / "img"))
    fg = pd.DataFrame({"video_id": [f"v{i}" for i in range(6)], "label": [0, 0, 1, 1, 2, 2]})
    kw = dict(sources=["places", "stripes", "still"], repeats=3, num_frames=8, seed=0, images=scan)
    t1, rep = sample_scuba(fg, fg, ["a", "b", "c"], **kw)
    t2, _ = sample_scuba(fg.iloc[::-1], fg.iloc[::-1], ["a", "b", "c"], **kw)
    key = ["set", "repeat", "fg_video"]
    assert t1.sort_values(key).reset_index(drop=True).equals(t2.sort_values(key).reset_index(drop=True))
    assert len(t1) == 6 * 3 * 3 and sum(rep.made.values()) == len(t1)
    places = t1[t1["source"] == "places"]
    assert (places.groupby("fg_video")["background"].nunique() == 3).all()  # the repeats differ
    assert places["background"].isin(scan.usable).all() and (places["image_sha256"].str.len() == 16).all()
    still = t1[t1["source"] == "still"]
    assert (still["bg_label"] != still["fg_label"]).all() and still["bg_frame"].between(0, 7).all()
    # an image that fails to decode is dropped and counted, and the draw redone without it
    bad = ImageScan(scan.folder, scan.usable + ["broken.jpg"], [])
    t3, rep3 = sample_scuba(fg, fg, ["a", "b", "c"], **{**kw, "images": bad})
    assert "broken.jpg" not in set(t3["background"]) and rep3.undecodable == ["broken.jpg"]


# ----------------------------------------------------------------------------- benchmarks


def test_default_build_adds_only_the_scuba_table(tmp_path, tiny_bench):
    """Without SCUBA sources the build writes what it wrote before; the default adds scuba.csv (and says so in
    benchmark.yaml), every other file byte-identical."""
    out = tmp_path / "off"
    build(tiny_config(scuba=[]), out)
    assert not (out / "scuba.csv").exists()
    assert set(Benchmark(out).available_sets()) == set(Benchmark(tiny_bench).available_sets()) - {
        "scuba_stripes", "scufo_stripes", "scuba_still", "scufo_still"}
    for p in sorted(tiny_bench.rglob("*")):
        rel = p.relative_to(tiny_bench)
        if p.is_file() and rel.name not in ("benchmark.yaml", "build.yaml", "scuba.csv"):
            assert (out / rel).read_bytes() == p.read_bytes(), rel
    with pytest.raises(HatError, match=r"scuba_stripes has no clips .* not built \(scuba: none"):
        Benchmark(out).check_sets(["scuba_stripes"])


def test_places_build_compose_and_export(bench_copy, tmp_path):
    """Re-derived in place with an image folder: only the aggregates change, the images fit the frame."""
    from hat.export import export_sets
    from hat.video import read_frames

    images = _write_images(tmp_path / "img")
    s = build(tiny_config(scuba=["places", "stripes", "still"], scuba_images=str(images)), bench_copy)
    assert s.stage_done == {} and any("2 skipped" in n for n in s.notes)
    b = Benchmark(bench_copy)
    assert {"scuba_places", "scufo_places"} <= set(b.available_sets())
    it = next(i for i in b.items(["scuba_places"]) if i.repeat == 1)
    clip = b.compose(it)
    parts = b.parts(it.video_id)
    image = C.fit_image(read_image(images / it.bg_video), *clip.shape[1:3])
    assert (clip[:, ~parts.masks.any(0)] == image[~parts.masks.any(0)]).all()
    frozen = b.compose(dataclasses.replace(it, set="scufo_places"))
    assert (frozen == clip[C.freeze_index(len(clip))]).all()
    out = tmp_path / "exp"
    export_sets(b, ["scuba_places", "scufo_still"], out, fmt="mp4", repeats=[1])
    table = pd.read_csv(out / "scufo_still.csv", keep_default_na=False)
    assert set(table["repeat"]) == {1} and len(table) == len(b.videos)
    for name in ("scuba_places", "scufo_still"):
        row = pd.read_csv(out / f"{name}.csv", keep_default_na=False).iloc[0]
        assert row["file"].startswith(f"{name}/r1/")
        item = Item(name, 1, str(row["video_id"]), int(row["label"]), str(row["bg_video"]), int(row["bg_label"]))
        want = b.compose(item)
        assert np.array_equal(read_frames(out / row["file"], np.arange(len(want))), want)
    # the image changed since the build: said, not silently used
    cv2.imwrite(str(images / it.bg_video), np.zeros((5, 5, 3), np.uint8))
    with pytest.raises(HatError, match="changed since the benchmark was built"):
        Benchmark(bench_copy).compose(it)


def test_bad_scuba_options_refused_before_work(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("x")
    for kw, msg in (({"scuba": ["places"]}, "needs a folder of scene images"),
                    ({"scuba": ["clouds"]}, r"unknown scuba source 'clouds' \(valid: places, stripes, still\)"),
                    ({"scuba": ["places"], "scuba_images": str(empty)}, r"0 usable images .* 1 skipped .*readme.txt: not an image"),
                    ({"scuba": ["stripes"], "scuba_images": str(empty)}, "used by the 'places' source only"),
                    ({"scuba": ["places"], "scuba_images": str(tmp_path / "no")}, "folder not found")):
        out = tmp_path / "b"
        with pytest.raises(HatError, match=msg):
            build(tiny_config(**kw), out)
        assert not out.exists()


def test_scuba_filter_selects_foregrounds_by_scubas_rule(bench_copy):
    before = Benchmark(bench_copy)
    build(tiny_config(scuba_filter=True, scuba=["stripes"]), bench_copy)
    after = Benchmark(bench_copy)
    q = pd.read_csv(bench_copy / "mask_quality.csv")
    q = q[q["eval"]]
    keep = {v for v, g in q.groupby("video_id") if passes_scuba_filter(g["coverage"].to_numpy())}
    assert set(after.scuba["fg_video"]) == keep
    assert (bench_copy / "pairs.csv").read_text() == (before.root / "pairs.csv").read_text()
    assert after.config["scuba_filter"] is True and "scuba_still" not in after.available_sets()


def test_cli_scuba_flags(bench_copy, tmp_path, capsys):
    from hat.cli import main

    images = _write_images(tmp_path / "img")
    args = ["build", "--source", "synthetic", "--out", str(bench_copy), "--frames", "8"]
    args += [f"-S{k}={v}" for k, v in {"num_classes": 4, "train_per_class": 6, "val_per_class": 4, "size": 48, "num_frames": 8}.items()]
    assert main(args + ["--scuba-images", str(images)]) == 0
    assert Benchmark(bench_copy).config["scuba"] == ["stripes", "still", "places"]
    assert main(args + ["--scuba", "none"]) == 0
    assert Benchmark(bench_copy).config["scuba"] == [] and not (bench_copy / "scuba.csv").exists()
    capsys.readouterr()
    assert main(args + ["--scuba", "stripes,moon"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown scuba source 'moon'" in err
