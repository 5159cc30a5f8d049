"""Manifests: publish a benchmark's definition, rebuild it elsewhere, ship HAT's and UCF-HAT's swaps."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import SHARED, TINY, tiny_config
from hat.cli import main
from hat.config import BuildConfig
from hat.errors import HatError
from hat.manifest import (
    DIFFERENT_CONTENT, DIFFERENT_COUNT, DIFFERENT_ENCODE, DIFFERENT_LABEL, DIFFERENT_SIZE, LOOK_TOLERANCE, MISSING, OK,
    apply_manifest, compare_video, fingerprint, load_manifest, look_distance, publish_bench,
)
from hat.pipeline import build

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "manifests"
K400 = SHARED / "data" / "k400-samples"
K400_CLASSES = SHARED / "data" / "labels" / "k400.txt"
TINY_OPTS = [x for k, v in TINY.items() for x in ("-S", f"{k}={v}")]


def run(*args) -> int:
    return main([str(a) for a in args])


# ----------------------------------------------------------------------------- fingerprints


def smooth_video(seed: int, t: int = 8, h: int = 64, w: int = 80) -> np.ndarray:
    """Frames with structure at several scales (what a fingerprint has to hold on to), drifting over time."""
    import cv2

    rng = np.random.default_rng(seed)
    base = cv2.resize(rng.uniform(0, 255, (6, 8, 3)).astype(np.float32), (w + t, h), interpolation=cv2.INTER_CUBIC)
    return np.stack([np.clip(base[:, i:i + w], 0, 255).astype(np.uint8) for i in range(t)])


def jpeg(frames: np.ndarray, quality: int) -> np.ndarray:
    import cv2

    return np.stack([cv2.imdecode(cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, quality])[1], cv2.IMREAD_COLOR)
                     for f in frames])


def test_fingerprint_tells_another_encode_from_another_video():
    v = smooth_video(0)
    exact, look = fingerprint(v)
    assert fingerprint(v.copy()) == (exact, look) and len(exact) == 16 and len(look) == 64
    re_exact, re_look = fingerprint(jpeg(v, 60))
    assert re_exact != exact and look_distance(look, re_look) <= LOOK_TOLERANCE
    for other in (v[:, :, ::-1], smooth_video(1)):  # mirrored; another video of the same size
        assert look_distance(look, fingerprint(other)[1]) > LOOK_TOLERANCE

    want = {"label": 3, "class": "c", "n_frames": 100, "height": 64, "width": 80, "eval_frames": "0 12",
            "content_sha256": exact, "look": look}
    got = dict(want)
    assert compare_video(want, got, True) == (OK, "")
    assert compare_video(want, {**got, "label": 2}, True) == (DIFFERENT_LABEL, "label 2 here, 3 (c) in the manifest")
    assert compare_video({"label": 3, "class": "c", "n_frames": ""}, {"label": 2, "n_frames": 9}, False)[0] == DIFFERENT_LABEL
    assert compare_video(want, None, True)[0] == MISSING
    assert compare_video(want, {**got, "width": 81}, True)[0] == DIFFERENT_SIZE
    assert compare_video(want, {**got, "n_frames": 99}, True) == (DIFFERENT_SIZE, "99 frames 64x80 here, 100 frames 64x80 in the manifest")
    assert compare_video(want, {**got, "content_sha256": re_exact, "look": re_look}, True)[0] == DIFFERENT_ENCODE
    assert compare_video(want, {**got, "content_sha256": "0" * 16, "look": fingerprint(smooth_video(1))[1]}, True)[0] == DIFFERENT_CONTENT
    # imported manifests: ids, and frame counts where the lists give them (listed, not refused)
    assert compare_video({"n_frames": "300"}, {"n_frames": 250}, False)[0] == DIFFERENT_COUNT
    assert compare_video({"n_frames": ""}, {"n_frames": 250}, False) == (OK, "")


# ----------------------------------------------------------------------------- publish and rebuild (synthetic)


@pytest.fixture(scope="module")
def tiny_manifest(tiny_bench, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("manifests") / "tiny-m"
    assert run("publish", "--bench", tiny_bench, "--out", out) == 0
    return out


def rebuild_args(manifest: Path, out: Path, *extra) -> list:
    return ["build", "--manifest", manifest, "--source", "synthetic", *TINY_OPTS, "--out", out, *extra]


def test_publish_writes_a_checked_definition(tiny_bench, tiny_manifest):
    m = load_manifest(tiny_manifest)
    assert sorted(p.name for p in tiny_manifest.iterdir()) == [
        "README.md", "classes.txt", "manifest.yaml", "pairs.csv.gz", "scene_ranking.csv.gz", "videos.csv.gz"]
    bench = yaml.safe_load((tiny_bench / "benchmark.yaml").read_text())
    ok = pd.read_csv(tiny_bench / "manifest.csv").query("status == 'ok'")
    assert list(m.videos["video_id"]) == list(ok["video_id"]) and m.classes == (tiny_bench / "classes.txt").read_text().splitlines()
    assert m.videos["eval_frames"].str.split().map(len).eq(TINY["num_frames"]).all()
    assert m.videos["content_sha256"].str.len().eq(16).all()
    assert m.meta["kind"] == "published" and m.meta["format"] == 1 and m.meta["hat_version"]
    assert m.meta["config"]["num_frames"] == TINY["num_frames"] and "source_options" not in m.meta["config"]
    assert m.meta["backends"]["segmenter"]["name"] == bench["segmenter"]["name"]
    assert m.meta["counts"]["pairs"] == pd.read_csv(tiny_bench / "pairs.csv")["set"].value_counts().sort_index().to_dict()
    assert m.meta["pair_seeds"] == "derived"  # sampled pairs: their seed column is recomputed, not stored
    card = (tiny_manifest / "README.md").read_text()
    assert "hat build --manifest manifests/tiny-m" in card and "Licence" in card and "Cite" in card
    # deterministic: publishing again gives the same bytes
    again = tiny_manifest.parent / "again" / "tiny-m"
    publish_bench(tiny_bench, again)
    for p in tiny_manifest.iterdir():
        assert (again / p.name).read_bytes() == p.read_bytes(), p.name
    with pytest.raises(HatError, match="already holds a manifest; pass --overwrite"):
        publish_bench(tiny_bench, again)


def test_rebuild_gives_the_same_pairs_and_frames(tiny_bench, tiny_manifest, tmp_path, capsys):
    out = tmp_path / "rebuilt"
    assert run(*rebuild_args(tiny_manifest, out)) == 0
    for name in ("pairs.csv", "manifest.csv", "scene_ranking.csv"):
        assert (out / name).read_bytes() == (tiny_bench / name).read_bytes(), name
    check = pd.read_csv(out / "manifest_check.csv", keep_default_na=False)
    assert (check["status"] == "ok").all() and len(check) == 16
    meta = yaml.safe_load((out / "benchmark.yaml").read_text())
    m = load_manifest(tiny_manifest)
    assert meta["manifest"] == {"name": "tiny-m", "hash": m.hash}
    assert meta["counts"]["manifest"]["pairs_kept"] == meta["counts"]["manifest"]["pairs_expected"] == len(m.pairs())
    assert "manifest tiny-m (" in capsys.readouterr().err
    # results name the manifest; the leaderboard says which rows share one
    plug = tmp_path / "plug.py"
    plug.write_text("import numpy as np\ndef make(classes):\n    return lambda clips: np.ones((len(clips), len(classes)))\n")
    for bench, run_dir in ((out, tmp_path / "r1"), (tiny_bench, tmp_path / "r2")):
        assert run("eval", "--model", f"python:{plug}:make", "--bench", bench, "--out", run_dir, "--sets", "original") == 0
    res = json.loads((tmp_path / "r1" / "results.json").read_text())
    assert res["benchmark"]["manifest"] == {"name": "tiny-m", "hash": m.hash}
    assert "manifest" not in json.loads((tmp_path / "r2" / "results.json").read_text())["benchmark"]
    assert run("leaderboard", tmp_path / "r1", tmp_path / "r2", "-o", tmp_path / "lb.csv", "--markdown", tmp_path / "lb.md") == 0
    lb = pd.read_csv(tmp_path / "lb.csv", keep_default_na=False)
    assert sorted(lb["manifest"]) == ["", f"tiny-m@{m.hash}"]
    md = (tmp_path / "lb.md").read_text()
    assert f"manifest tiny-m@{m.hash}: 1 rows" in md and "no manifest: 1 rows" in md


def test_rebuild_drops_and_counts_pairs_of_a_missing_video(tiny_bench, tiny_manifest, tmp_path):
    """A local copy without one video: it is listed as missing and the pairs that use it are dropped, counted."""
    m = load_manifest(tiny_manifest)
    gone = m.videos["video_id"].iloc[0]
    cfg = apply_manifest(tiny_config(), m)
    assert cfg.num_frames == TINY["num_frames"] and cfg.manifest == str(tiny_manifest)
    from hat.sources.synthetic import SyntheticSource

    orig = SyntheticSource.records
    try:
        SyntheticSource.records = lambda self, split: [r for r in orig(self, split) if r.video_id != gone]
        s = build(cfg, tmp_path / "partial")
    finally:
        SyntheticSource.records = orig
    check = pd.read_csv(tmp_path / "partial" / "manifest_check.csv", keep_default_na=False).set_index("video_id")
    assert check.loc[gone, "status"] == "missing" and check.loc[gone, "detail"] == "not in the source's list"
    pairs = m.pairs()
    uses = int(((pairs["fg_video"] == gone) | (pairs["bg_video"] == gone)).sum())
    got = pd.read_csv(tmp_path / "partial" / "pairs.csv")
    assert uses > 0 and len(got) == len(pairs) - uses
    assert s.counts["manifest"]["missing"] == 1 and s.counts["manifest"]["pairs_kept"] == len(got)
    assert any(f"15 of 16 videos rebuilt: 1 missing" in n and f"{len(got)} of {len(pairs)} pairs kept" in n for n in s.notes)


def test_bad_manifests_are_refused_before_writing(tiny_manifest, tmp_path, capsys):
    def refused(manifest, match, *extra):
        out = tmp_path / "never"
        assert run(*rebuild_args(manifest, out, *extra)) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and match in err, err
        assert not out.exists()

    bad = tmp_path / "tampered"
    shutil.copytree(tiny_manifest, bad)
    text = gzip.decompress((bad / "pairs.csv.gz").read_bytes()).decode()
    (bad / "pairs.csv.gz").write_bytes(gzip.compress(text.replace("swap_far,0,", "swap_far,1,", 1).encode()))
    refused(bad, "pairs.csv.gz does not match its checksum in manifest.yaml")

    newer = tmp_path / "newer"
    shutil.copytree(tiny_manifest, newer)
    meta = yaml.safe_load((newer / "manifest.yaml").read_text())
    (newer / "manifest.yaml").write_text(yaml.safe_dump({**meta, "format": 2}, sort_keys=False))
    refused(newer, "manifest format 2 is newer than this hat reads (up to 1)")

    out = tmp_path / "never"
    assert run("build", "--manifest", tiny_manifest, "--source", "synthetic", *TINY_OPTS, "-S", "num_classes=3",
               "--out", out) == 2
    err = capsys.readouterr().err
    assert "source 'synthetic' has 3 classes, manifest tiny-m has 4" in err and not out.exists()

    refused(tiny_manifest, "--frames is fixed by manifest tiny-m (8); leave it out", "--frames", "4")
    refused(tiny_manifest, "the manifest tiny-m brings its own", "--pairs-file", tiny_manifest / "classes.txt")
    refused(tmp_path, "is not a manifest (no manifest.yaml)")
    with pytest.raises(HatError, match="setting num_frames is 4, manifest tiny-m fixes 8"):  # library use without apply_manifest
        build(BuildConfig(source="synthetic", source_options=dict(TINY), num_frames=4, manifest=str(tiny_manifest)), out)
    assert not out.exists()


# ----------------------------------------------------------------------------- the shipped manifests


def test_shipped_k400_hat():
    m = load_manifest(SHIPPED / "k400-hat")
    assert m.meta["kind"] == "imported" and m.meta["source"] == "k400" and len(m.classes) == 400
    pairs = m.pairs()
    assert len(pairs) == 87_633 and m.meta["counts"]["pairs"]["swap_same"] == 21_351
    assert set(pairs["repeat"]) == {0, 1, 2} and set(pairs["set"]) == {"swap_random", "swap_close", "swap_far", "swap_same"}
    assert set(pairs["fg_video"]) | set(pairs["bg_video"]) == set(m.videos["video_id"])
    assert m.videos["video_id"].str.fullmatch(r".{11}_\d{6}_\d{6}").all()  # what --source k400 calls them
    report = "\n".join(m.meta["report"])
    assert "swap_same: foregrounds per repeat [5631, 7860, 7860] (DIFFERENT videos); self-pairs 6" in report
    assert "classes never used as foreground (3)" in report
    card = (SHIPPED / "k400-hat" / "README.md").read_text()
    assert "no content fingerprints" in card and "CC BY 4.0" in card


def test_shipped_ucf101_hat_ids_match_the_ucf101_source(tmp_path):
    m = load_manifest(SHIPPED / "ucf101-hat")
    pairs = m.pairs()
    assert len(pairs) == 13_036 and set(pairs["set"]) == {"swap_random", "swap_close", "swap_far"}
    report = "\n".join(m.meta["report"])
    assert "swap_close: foregrounds per repeat [1562, 1560, 1556] (DIFFERENT videos)" in report
    assert "swap_far: foregrounds per repeat [1200, 1243, 1199] (DIFFERENT videos)" in report
    assert "swap_random: foregrounds per repeat [1572, 1572, 1572] (the same videos); self-pairs 2" in report
    assert "classes never used as foreground (9)" in report
    assert len(m.videos) == 3783 and m.videos["n_frames"].astype(int).gt(0).all()  # test split 1, counts known
    # the official split files name a video by its file, with the folder/file case mismatch of HandstandPushups
    splits = tmp_path / "ucfTrainTestlist"
    splits.mkdir()
    (splits / "classInd.txt").write_text("".join(f"{i} {c}\n" for i, c in enumerate(m.classes, 1)))
    (splits / "testlist01.txt").write_text("ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi\n"
                                           "HandstandPushups/v_HandStandPushups_g01_c01.avi\nYoYo/v_YoYo_g07_c04.avi\n")
    from hat.manifest import select_records
    from hat.sources import SOURCES

    src = SOURCES.create("ucf101", root=str(tmp_path), splits=str(splits))
    recs = select_records(m, src.records("val"), "ucf101", "val")
    assert [r.video_id for r in recs] == ["v_ApplyEyeMakeup_g01_c01", "v_HandStandPushups_g01_c01", "v_YoYo_g07_c04"]
    assert [m.classes[r.label] for r in recs] == ["ApplyEyeMakeup", "HandstandPushups", "YoYo"]
    row = m.videos.set_index("video_id").loc["v_HandStandPushups_g01_c01"]
    assert row["class"] == "HandstandPushups" and m.classes[int(row["label"])] == "HandstandPushups"


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED / "data" / "hat-published-pairs").is_dir(), reason="../shared/data pair lists not present")
def test_shipped_manifests_regenerate_byte_identical(tmp_path):
    env = {**os.environ, "PYTHON": sys.executable, "PYTHONPATH": str(ROOT), "SHARED": str(SHARED)}
    subprocess.run([str(ROOT / "scripts" / "make_hat_manifests"), str(tmp_path)], check=True, env=env, capture_output=True)
    for name in ("k400-hat", "ucf101-hat"):
        shipped = sorted(p.name for p in (SHIPPED / name).iterdir())
        assert sorted(p.name for p in (tmp_path / name).iterdir()) == shipped
        for f in shipped:
            assert (tmp_path / name / f).read_bytes() == (SHIPPED / name / f).read_bytes(), \
                f"{name}/{f} differs: rerun scripts/make_hat_manifests and commit"


# ----------------------------------------------------------------------------- real Kinetics samples


def k400_args(*extra) -> list:
    return ["-S", f"list={K400 / 'list_rawframes.txt'}", "-S", f"root={K400 / 'rawframes'}", "-S", f"classes={K400_CLASSES}", *extra]


@pytest.mark.skipif(not K400.is_dir(), reason="../shared/data/k400-samples not present")
def test_k400_hat_against_the_samples_says_what_is_missing(tmp_path, capsys):
    out = tmp_path / "k400-hat"
    assert run("build", "--manifest", SHIPPED / "k400-hat", *k400_args("--out", out)) == 2
    err = capsys.readouterr().err
    assert "0 of 14,348 videos of manifest k400-hat found in source 'k400' split 'val' (2 videos listed there" in err
    assert not out.exists()


@pytest.mark.slow
@pytest.mark.skipif(not K400.is_dir(), reason="../shared/data/k400-samples not present")
def test_k400_samples_publish_and_rebuild(tmp_path):
    """Built on the two real clips, published, rebuilt: the same pairs and frames; then a copy where one clip is
    re-encoded (kept, listed) and one is mirrored (another video under its id: left out, its pairs dropped)."""
    import cv2

    small = ["--frames", "4", "--context-frames", "4", "--short-side", "96", "--cov-min", "0", "--cov-max", "1",
             "--max-residual", "1"]
    first, manifest, again = tmp_path / "b1", tmp_path / "m", tmp_path / "b2"
    assert run("build", "--source", "k400", *k400_args(*small, "--out", first)) == 0
    assert run("publish", "--bench", first, "--out", manifest) == 0
    assert run("build", "--manifest", manifest, *k400_args("--out", again)) == 0
    assert (again / "pairs.csv").read_bytes() == (first / "pairs.csv").read_bytes()
    assert len(pd.read_csv(again / "pairs.csv")) == 18  # 2 videos x 3 repeats x random/close/far
    for vid in ("01xStFVYC7U_000011_000021", "05mZDSLkGQI_000007_000017"):
        a, b = (np.load(d / "artifacts" / "frames" / f"{vid}.npz") for d in (first, again))
        assert np.array_equal(a["src_index"][a["eval_pos"]], b["src_index"][b["eval_pos"]])
        assert np.array_equal(a["frames"], b["frames"])
    assert set(pd.read_csv(again / "manifest_check.csv")["status"]) == {"ok"}

    copy = tmp_path / "copy"
    shutil.copytree(K400, copy)
    for p in (copy / "rawframes" / "archery" / "01xStFVYC7U_000011_000021").glob("*.jpg"):
        cv2.imwrite(str(p), cv2.imread(str(p))[:, ::-1])
    for p in (copy / "rawframes" / "bending back" / "05mZDSLkGQI_000007_000017").glob("*.jpg"):
        cv2.imwrite(str(p), cv2.imread(str(p)), [cv2.IMWRITE_JPEG_QUALITY, 60])
    third = tmp_path / "b3"
    assert run("build", "--manifest", manifest, "-S", f"list={copy / 'list_rawframes.txt'}", "-S", f"root={copy / 'rawframes'}",
               "-S", f"classes={K400_CLASSES}", "--out", third) == 0
    check = pd.read_csv(third / "manifest_check.csv").set_index("video_id")["status"].to_dict()
    assert check == {"01xStFVYC7U_000011_000021": "different content fingerprint", "05mZDSLkGQI_000007_000017": "different encode"}
    meta = yaml.safe_load((third / "benchmark.yaml").read_text())
    assert meta["counts"]["manifest"]["pairs_kept"] == 0 and meta["counts"]["ok"] == 1
    assert any("1 different content fingerprint, 1 different encode" in n and "0 of 18 pairs kept" in n for n in meta["notes"])
