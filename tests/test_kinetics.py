"""The Kinetics-400 source in its two layouts: official CSV + videos, and rawframes + list file."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import SHARED
from hat.errors import HatError, VideoError
from hat.sources import SOURCES
from hat.video import write_video

CSV = """label,youtube_id,time_start,time_end,split
archery,aaaaaaaaaaa,11,21,val
archery,bbbbbbbbbbb,0,10,val
bending back,ccccccccccc,7,17,val
bending back,ddddddddddd,30,40,train
abseiling,eeeeeeeeeee,100,110,val
"""


def tiny_video(path, n=12, seed=0):
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_video(path, rng.integers(0, 255, (n, 32, 48, 3), dtype=np.uint8), fps=30.0)


@pytest.mark.parametrize("layout", ["flat", "per-class"])
def test_official_csv_layouts(tmp_path, layout):
    ann = tmp_path / "validate.csv"
    ann.write_text(CSV)
    root = tmp_path / "videos"
    for i, (cls, yt, a, b) in enumerate([("archery", "aaaaaaaaaaa", 11, 21), ("archery", "bbbbbbbbbbb", 0, 10),
                                         ("bending back", "ccccccccccc", 7, 17)]):
        sub = root / cls.replace(" ", "_") if layout == "per-class" else root
        tiny_video(sub / f"{yt}_{a:06d}_{b:06d}.mp4", seed=i)
    src = SOURCES.create("k400", annotations=str(ann), root=str(root))
    assert src.classes == ["abseiling", "archery", "bending back"]  # sorted names = official indices
    recs = src.records("val")
    assert [r.video_id for r in recs] == ["aaaaaaaaaaa_000011_000021", "bbbbbbbbbbb_000000_000010",
                                          "ccccccccccc_000007_000017", "eeeeeeeeeee_000100_000110"]
    assert [r.label for r in recs] == [1, 1, 2, 0]
    assert src.probe(recs[0]).n_frames == 12 and src.read(recs[2], np.array([0, 5])).shape == (2, 32, 48, 3)
    with pytest.raises(VideoError, match="missing video file"):  # Kinetics always has missing videos
        src.probe(recs[3])
    assert len(src.records("train")) == 1 and len(src.records("validate")) == 4
    assert src.build_defaults == {"k_close": 5, "k_far": 200}


def test_bad_kinetics_options(tmp_path):
    with pytest.raises(HatError, match="source 'k400' needs its data: -S annotations=.* or -S list="):
        SOURCES.create("k400", root=str(tmp_path))
    (tmp_path / "bad.csv").write_text("path,label\nx.mp4,a\n")
    with pytest.raises(HatError, match="not a Kinetics annotation CSV"):
        SOURCES.create("k400", annotations=str(tmp_path / "bad.csv"))
    (tmp_path / "l.txt").write_text("archery/v1 10\n")
    with pytest.raises(HatError, match=r"l.txt:1: expected"):
        SOURCES.create("k400", list=str(tmp_path / "l.txt"))
    (tmp_path / "a.csv").write_text(CSV)
    src = SOURCES.create("k400", annotations=str(tmp_path / "a.csv"))
    with pytest.raises(HatError, match="split 'test' not in this Kinetics list"):
        src.records("test")


K400 = SHARED / "data" / "k400-samples"


@pytest.mark.skipif(not K400.is_dir(), reason="../shared/data/k400-samples not present")
def test_real_rawframes_samples():
    classes = SHARED / "data" / "labels" / "k400.txt"
    src = SOURCES.create("k400", list=str(K400 / "list_rawframes.txt"), root=str(K400 / "rawframes"), classes=str(classes))
    assert len(src.classes) == 400
    recs = src.records("val")
    assert [(r.video_id, src.classes[r.label]) for r in recs] == [
        ("01xStFVYC7U_000011_000021", "archery"), ("05mZDSLkGQI_000007_000017", "bending back")]
    info = [src.probe(r) for r in recs]
    assert [(i.n_frames, i.height, i.width) for i in info] == [(150, 256, 456), (300, 256, 346)]
    frames = src.read(recs[1], np.array([0, 150, 299]))
    assert frames.shape == (3, 256, 346, 3) and frames.dtype == np.uint8
    top, bottom = frames[:, :64].reshape(-1, 3).mean(0), frames[:, -64:].reshape(-1, 3).mean(0)
    assert top[2] > top[0] and bottom[1] > bottom[2]  # sky above (blue), lawn below (green): RGB order
    # without the full class list, names come from the list file's folders (labels 5 and 20 only: refused)
    with pytest.raises(HatError, match="labels are not 0..1"):
        SOURCES.create("k400", list=str(K400 / "list_rawframes.txt"), root=str(K400 / "rawframes"))


def test_rawframes_list_with_spaces_and_missing_folder(tmp_path):
    import cv2

    root = tmp_path / "rawframes"
    d = root / "bending back" / "v_1"
    d.mkdir(parents=True)
    for i in range(1, 6):
        cv2.imwrite(str(d / f"img_{i:05d}.jpg"), np.full((20, 30, 3), i * 40, np.uint8))
    lst = tmp_path / "list.txt"
    lst.write_text("bending back/v_1 8 1\nabseiling/v_2 10 0\n")
    src = SOURCES.create("k400", list=str(lst), root=str(root))
    assert src.classes == ["abseiling", "bending back"]
    r1, r2 = src.records("val")
    assert src.probe(r1).n_frames == 5  # the list said 8: the files decide
    assert src.read(r1, np.array([0, 4]))[:, 0, 0, 0].tolist() == [40, 200]
    with pytest.raises(VideoError, match="missing frame folder"):
        src.probe(r2)


@pytest.mark.skipif(not K400.is_dir(), reason="../shared/data/k400-samples not present")
def test_build_refuses_gt_segmenter_before_writing(tmp_path, capsys):
    from hat.cli import main

    out = tmp_path / "k400-bench"
    args = ["build", "--source", "k400", "-S", f"list={K400 / 'list_rawframes.txt'}", "-S", f"root={K400 / 'rawframes'}",
            "-S", f"classes={SHARED / 'data' / 'labels' / 'k400.txt'}", "--out", str(out), "--segmenter", "gt"]
    assert main(args) == 2
    assert "segmenter 'gt' needs a source with ground-truth masks and 'k400' has none" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.skipif(not K400.is_dir(), reason="../shared/data/k400-samples not present")
def test_default_segmenter_for_k400_is_the_offline_one(tmp_path):
    """--segmenter auto (the default) picks the offline segmenter for a source without masks."""
    from hat.config import BuildConfig
    from hat.pipeline import make_context
    from hat.segmenters import OFFLINE_DEFAULT, SEGMENTERS

    cfg = BuildConfig(source="k400", source_options={"list": str(K400 / "list_rawframes.txt"), "root": str(K400 / "rawframes"),
                                                     "classes": str(SHARED / "data" / "labels" / "k400.txt")})
    try:
        ctx = make_context(cfg, tmp_path / "b")
    except HatError as e:  # the offline model may be absent on this machine
        pytest.skip(f"offline segmenter unavailable: {e}")
    assert ctx.cfg.segmenter == OFFLINE_DEFAULT and ctx.segmenter.name == SEGMENTERS.resolve(OFFLINE_DEFAULT)
    assert ctx.identity()["config"]["segmenter"] == OFFLINE_DEFAULT  # what build.yaml records
