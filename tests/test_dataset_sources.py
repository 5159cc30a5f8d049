"""UCF101, HMDB51, SSv2 and Mimetics sources on small trees in each official layout."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hat.errors import HatError, VideoError
from hat.sources import SOURCES
from hat.video import write_video


def video(path, seed=0, n=10):
    path.parent.mkdir(parents=True, exist_ok=True)
    write_video(path, np.random.default_rng(seed).integers(0, 255, (n, 24, 32, 3), dtype=np.uint8), fps=25.0)


def test_ucf101_official_splits(tmp_path):
    root = tmp_path / "UCF-101"
    lists = root / "ucfTrainTestlist"
    lists.mkdir(parents=True)
    (lists / "classInd.txt").write_text("1 ApplyEyeMakeup\n2 Archery\n3 YoYo\n")
    (lists / "testlist01.txt").write_text("Archery/v_Archery_g01_c01.avi\nYoYo/v_YoYo_g02_c03.avi\nApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi\n")
    (lists / "trainlist01.txt").write_text("Archery/v_Archery_g08_c01.avi 2\n")
    video(root / "Archery" / "v_Archery_g01_c01.avi")
    video(root / "YoYo" / "v_YoYo_g02_c03.avi", seed=1)
    src = SOURCES.create("ucf101", root=str(root), subset=True)
    assert src.classes == ["ApplyEyeMakeup", "Archery", "YoYo"] and src.build_defaults == {"k_close": 5, "k_far": 30}
    recs = src.records("val")
    assert [(r.video_id, r.label) for r in recs] == [("v_Archery_g01_c01", 1), ("v_YoYo_g02_c03", 2), ("v_ApplyEyeMakeup_g01_c01", 0)]
    assert src.read(recs[0], np.array([0, 9])).shape == (2, 24, 32, 3)
    with pytest.raises(VideoError, match="missing video file"):
        src.probe(recs[2])
    assert len(src.records("train")) == 1
    with pytest.raises(HatError, match="ucf101 split file not found"):
        SOURCES.create("ucf101", root=str(root), split_id=2, subset=True).records("val")
    with pytest.raises(HatError, match="split_id must be 1, 2 or 3"):
        SOURCES.create("ucf101", root=str(root), split_id=4)


def test_hmdb51_split_files(tmp_path):
    root = tmp_path / "hmdb51"
    splits = root / "testTrainMulti_7030_splits"
    splits.mkdir(parents=True)
    (splits / "brush_hair_test_split1.txt").write_text("April_09_brush_hair_u_nm_np1_ba_goo_0.avi 2 \nBrushing_hair_x.avi 1 \nunused.avi 0 \n")
    (splits / "cartwheel_test_split1.txt").write_text("cart_1.avi 2 \n")
    (splits / "cartwheel_test_split2.txt").write_text("cart_1.avi 1 \n")
    video(root / "brush_hair" / "April_09_brush_hair_u_nm_np1_ba_goo_0.avi")
    src = SOURCES.create("hmdb51", root=str(root), subset=True)
    assert src.classes == ["brush_hair", "cartwheel"]
    recs = src.records("val")
    assert [(r.video_id, r.label) for r in recs] == [("April_09_brush_hair_u_nm_np1_ba_goo_0", 0), ("cart_1", 1)]
    assert src.probe(recs[0]).n_frames == 10
    assert [r.video_id for r in src.records("train")] == ["Brushing_hair_x"]


def test_ssv2_templates_and_object_placeholders(tmp_path):
    root = tmp_path / "videos"
    (tmp_path / "something-something-v2-labels.json").write_text(json.dumps({
        "Approaching something with your camera": "0", "Putting something onto something": "1"}))
    (tmp_path / "something-something-v2-validation.json").write_text(json.dumps([
        {"id": "74225", "label": "putting a cup onto a plate", "template": "Putting [something] onto [something]",
         "placeholders": ["a cup", "a plate"]},
        {"id": "1", "label": "approaching a door with your camera", "template": "Approaching [something] with your camera",
         "placeholders": ["a door"]},
    ]))
    video(root / "74225.webm")
    src = SOURCES.create("ssv2", root=str(root), labels=str(tmp_path / "something-something-v2-labels.json"))
    assert src.classes == ["Approaching something with your camera", "Putting something onto something"]
    a, b = src.records("val")
    assert (a.video_id, a.label, a.meta["objects"]) == ("74225", 1, ["a cup", "a plate"])
    assert (b.label, b.meta["objects"]) == (0, ["a door"])
    assert src.probe(a).n_frames == 10
    (tmp_path / "bad.json").write_text(json.dumps([{"id": "2", "template": "Juggling [something]", "placeholders": []}]))
    with pytest.raises(HatError, match="template 'Juggling \\[something\\]' of video 2 is not a class"):
        SOURCES.create("ssv2", root=str(root), labels=str(tmp_path / "something-something-v2-labels.json"),
                       annotations=str(tmp_path / "bad.json")).records("val")


UCF_SOME = {1: "ApplyEyeMakeup", 2: "ApplyLipstick", 36: "HandstandPushups", 37: "HandstandWalking", 101: "YoYo"}


def _ucf_tree(tmp_path, drop=()):
    """classInd.txt as released (101 classes, the real names where the test looks), minus ``drop``."""
    lists = tmp_path / "UCF-101" / "ucfTrainTestlist"
    lists.mkdir(parents=True)
    names = {i: UCF_SOME.get(i, f"Class{i:03d}") for i in range(1, 102)}
    (lists / "classInd.txt").write_text("".join(f"{i} {c}\n" for i, c in names.items() if i not in drop))
    (lists / "testlist01.txt").write_text("HandstandPushups/v_HandstandPushups_g01_c01.avi\nYoYo/v_YoYo_g01_c01.avi\n")
    (lists / "trainlist01.txt").write_text("HandstandPushups/v_HandstandPushups_g08_c01.avi 37\n")
    return tmp_path / "UCF-101"


def test_ucf101_labels_are_the_written_indices(tmp_path):
    root = _ucf_tree(tmp_path / "full")
    src = SOURCES.create("ucf101", root=str(root))
    assert [r.label for r in src.records("val")] == [35, 100] and src.classes[35] == "HandstandPushups"
    with pytest.raises(HatError, match="HandstandPushups_g08_c01.avi is labelled 37, but classInd.txt numbers HandstandPushups 36"):
        src.records("train")


@pytest.mark.parametrize("drop,why", [
    ((20,), r"index 20 is missing \(between 'Class019' and 'Class021'\): UCF101 labels are the written indices 1..101"),
    ((101,), r"100 classes, UCF101 has 101 \(last: 100 Class100\); .*-S subset=true"),
])
def test_ucf101_missing_class_line_refused(tmp_path, drop, why):
    root = _ucf_tree(tmp_path, drop)
    with pytest.raises(HatError, match=why):
        SOURCES.create("ucf101", root=str(root))
    if drop == (20,):  # not even a subset may have a gap: it would shift HandstandPushups 36 -> 35
        with pytest.raises(HatError, match="index 20 is missing"):
            SOURCES.create("ucf101", root=str(root), subset=True)


def _hmdb_tree(tmp_path, drop=()):
    from hat.sources.hmdb51 import HMDB51_CLASSES

    splits = tmp_path / "hmdb51" / "testTrainMulti_7030_splits"
    splits.mkdir(parents=True)
    for c in HMDB51_CLASSES:
        if c not in drop:
            (splits / f"{c}_test_split1.txt").write_text(f"{c}_1.avi 2 \n")
    return tmp_path / "hmdb51"


def test_hmdb51_labels_do_not_depend_on_the_files_present(tmp_path):
    from hat.sources.hmdb51 import HMDB51_CLASSES

    src = SOURCES.create("hmdb51", root=str(_hmdb_tree(tmp_path / "full")))
    assert src.classes == list(HMDB51_CLASSES) and len(src.classes) == 51
    assert {r.video_id: r.label for r in src.records("val")}["wave_1"] == 50
    root = _hmdb_tree(tmp_path / "cut", drop=("cartwheel",))
    with pytest.raises(HatError, match="no cartwheel_test_split1.txt: HMDB51 has 51 classes and a missing one would shift"):
        SOURCES.create("hmdb51", root=str(root))
    (root / "testTrainMulti_7030_splits" / "cartwheel_test_split1.txt").write_text("")
    (root / "testTrainMulti_7030_splits" / "juggle_test_split1.txt").write_text("")
    with pytest.raises(HatError, match="'juggle_test_split1.txt' is not an HMDB51 class"):
        SOURCES.create("hmdb51", root=str(root))
    with pytest.raises(HatError, match="hmdb51 subset must be true or false"):
        SOURCES.create("hmdb51", root=str(root), subset="maybe")


def test_hmdb51_close_far_defaults_do_not_overlap(tmp_path):
    from hat.config import BuildConfig

    src = SOURCES.create("hmdb51", root=str(_hmdb_tree(tmp_path)))
    cfg = BuildConfig(source="hmdb51").resolved(src.build_defaults)
    assert (cfg.k_close, cfg.k_far) == (5, 15) and cfg.k_close + cfg.k_far <= len(src.classes) - 1


@pytest.mark.parametrize("split", ["test", "validation", ""])
def test_ssv2_unknown_split_is_one_line(tmp_path, split):
    (tmp_path / "labels.json").write_text(json.dumps({"Pushing something": "0"}))
    src = SOURCES.create("ssv2", root=str(tmp_path), labels=str(tmp_path / "labels.json"))
    with pytest.raises(HatError, match=rf"unknown ssv2 split '{split}' \(valid: train, val; .*-S annotations=") as e:
        src.records(split)
    assert "\n" not in str(e.value)
    (tmp_path / "test.json").write_text(json.dumps([{"id": "7"}]))
    with pytest.raises(HatError, match="video 7 has no template .*-S annotations="):
        SOURCES.create("ssv2", root=str(tmp_path), labels=str(tmp_path / "labels.json"),
                       annotations=str(tmp_path / "test.json")).records(split or "test")


def test_mimetics_labels_index_kinetics(tmp_path):
    k400 = tmp_path / "k400.txt"
    k400.write_text("abseiling\narchery\nbowling\nclimbing a rope\n")
    (tmp_path / "mimetics.csv").write_text("label,youtube_id,time_start,time_end,split\nbowling,abcdefghijk,3,13,test\n"
                                           "climbing a rope,zzzzzzzzzzz,0,10,test\n")
    video(tmp_path / "vids" / "bowling" / "abcdefghijk_000003_000013.mp4")
    src = SOURCES.create("mimetics", annotations=str(tmp_path / "mimetics.csv"), root=str(tmp_path / "vids"), classes=str(k400))
    recs = src.records("val")
    assert len(src.classes) == 4 and [r.label for r in recs] == [2, 3]
    assert src.probe(recs[0]).n_frames == 10
    with pytest.raises(VideoError, match="missing video file"):
        src.probe(recs[1])
    with pytest.raises(HatError, match="source 'mimetics' needs its data: .*-S classes=k400.txt"):
        SOURCES.create("mimetics", annotations=str(tmp_path / "mimetics.csv"))
    with pytest.raises(HatError, match="evaluation only"):
        src.records("train")


def test_hmdb51_official_names_match_the_shared_label_list():
    from conftest import SHARED
    from hat.sources.hmdb51 import HMDB51_CLASSES

    ref = SHARED / "data" / "labels" / "hmdb51.txt"
    if not ref.is_file():
        pytest.skip("../shared/data/labels/hmdb51.txt not present")
    assert list(HMDB51_CLASSES) == [ln.strip() for ln in ref.read_text().splitlines() if ln.strip()]
