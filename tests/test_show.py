"""``hat show``: the contact sheet's pixel helpers by hand, its rows from compose, and the command."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from hat.bench import Benchmark, Item
from hat.cli import main
from hat.errors import HatError
from hat.show import draw_boxes, overlay_mask, pick_frames, sheet_rows, write_contact_sheet


def test_overlay_mask_by_hand():
    f = np.array([[[100, 0, 200], [10, 20, 30]]], np.uint8)[None]  # [1,1,2,3]
    m = np.array([[[True, False]]])
    got = overlay_mask(f, m, rgb=(255, 0, 0), alpha=0.5)
    assert got[0, 0, 0].tolist() == [178, 0, 100]  # (100+255)/2 = 177.5 -> 178, 0, 200/2
    assert got[0, 0, 1].tolist() == [10, 20, 30]  # outside the mask: untouched
    assert f[0, 0, 0].tolist() == [100, 0, 200]  # the input is not modified


def test_draw_boxes_outlines_exclusive_corners():
    f = np.zeros((1, 6, 8, 3), np.uint8)
    got = draw_boxes(f, [np.array([[2, 1, 6, 5, 0.9]], np.float32)], rgb=(9, 9, 9))
    on = got[0, :, :, 0] == 9
    assert on[1, 2:6].all() and on[4, 2:6].all() and on[1:5, 2].all() and on[1:5, 5].all()
    assert not on[2:4, 3:5].any() and not on[0].any() and not on[:, 6:].any()
    assert draw_boxes(f, [np.zeros((0, 5), np.float32)]).sum() == 0


def test_pick_frames():
    assert pick_frames(5, 8).tolist() == [0, 1, 2, 3, 4]
    assert pick_frames(16, 8).tolist() == [0, 2, 4, 6, 9, 11, 13, 15]
    assert pick_frames(16, 1).tolist() == [0]


def test_rows_are_what_eval_sees(tiny_bench):
    b = Benchmark(tiny_bench)
    vid = b.videos.iloc[0]["video_id"]
    label = int(b.videos.iloc[0]["label"])
    rows = sheet_rows(b, vid)
    labels = [r.label.split("\n")[0] for r in rows]
    assert labels[:4] == ["original", "mask overlay", "background_only", "human_only"]
    assert "masked_background" in labels and "masked_person" in labels
    assert {"scuba_stripes r0", "scufo_stripes r0", "scuba_still r0", "scufo_still r0"} <= set(labels)  # SCUBA and its twin
    swaps = [r for r in rows if r.label.startswith("swap_")]
    mine = b.pairs[b.pairs["fg_video"] == vid]
    assert [r.label.split(" ")[0] for r in swaps] == [s for s in b.available_sets() if s in set(mine["set"])]
    for r in rows:
        name = r.label.split(" ")[0].split("\n")[0]
        if name == "mask":
            continue
        if name.startswith("swap_"):
            p = mine[(mine["set"] == name)].sort_values("repeat").iloc[0]
            assert f"bg: {p['bg_video']}\n({b.classes[int(p['bg_label'])]})" in r.label
            want = b.compose(Item(name, int(p["repeat"]), vid, label, p["bg_video"], int(p["bg_label"])))
        else:
            want = b.compose(Item(name, 0, vid, label))
        assert np.array_equal(r.clip, want), name


def test_show_command(tiny_bench, tmp_path, capsys):
    b = Benchmark(tiny_bench)
    vid = b.videos.iloc[1]["video_id"]
    out = tmp_path / "sheet.png"
    assert main(["show", "--bench", str(tiny_bench), "--video", vid, "--out", str(out), "--frames", "4"]) == 0
    err = capsys.readouterr().err
    assert f"wrote {out}" in " ".join(err.split()) and "cov_mean" in err and "fg_ok" in err
    img = cv2.imread(str(out))
    assert img is not None and img.shape[0] > img.shape[1] > 200  # rows of 4 frames: taller than wide
    assert main(["show", "--bench", str(tiny_bench), "--video", "nope"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "unknown video 'nope'" in err and b.manifest["video_id"].iloc[0] in err


def test_default_sheet_path_beside_the_benchmark(bench_copy):
    b = Benchmark(bench_copy)
    vid = b.videos.iloc[0]["video_id"]
    path = write_contact_sheet(b, vid)
    assert path == bench_copy / "show" / f"{vid}.png" and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(HatError, match="--frames must be at least 1"):
        write_contact_sheet(b, vid, max_frames=0)
    # a video the build could not use is named with its reason
    b.manifest.loc[b.manifest["video_id"] == vid, ["status", "reason"]] = ["failed", "missing video file"]
    with pytest.raises(HatError, match=f"video '{vid}' is not in the benchmark's sets: failed \\(missing video file\\)"):
        sheet_rows(b, vid)
