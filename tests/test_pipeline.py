"""The build pipeline end to end on the synthetic source: outputs, determinism, resume, shards."""

import json
import multiprocessing as mp
import os
import signal
import time

import numpy as np
import pandas as pd
import pytest
import yaml

from hat.bench import ALL_SETS, OBJECT_SETS, Benchmark
from hat.errors import HatError
from hat.pipeline import build
from hat.sources import create_source
from hat.store import sha256_tree

from conftest import TINY, tiny_config

CANON = ("manifest.csv", "pairs.csv", "scene_distance.csv", "scene_ranking.csv", "scene_extremes.csv", "scene_heatmap.png", "classes.txt")


def read(out, name):
    return (out / name).read_bytes()


def test_build_outputs(tiny_bench):
    out = tiny_bench
    for name in CANON + ("benchmark.yaml", "build.yaml"):
        assert (out / name).is_file(), name
    man = pd.read_csv(out / "manifest.csv")
    assert len(man) == 16 and (man["status"] == "ok").all()
    assert {"cov_min", "cov_mean", "cov_max", "frames_no_human", "mask_iou", "mask_iou_min", "flicker", "flags",
            "objects", "fg_ok", "bg_ok", "meta_scene"} <= set(man.columns)
    pairs = pd.read_csv(out / "pairs.csv")
    assert set(pairs["set"]) == {"swap_random", "swap_close", "swap_far", "swap_same"}
    assert set(pairs["repeat"]) == {0, 1, 2}
    meta = yaml.safe_load((out / "benchmark.yaml").read_text())
    assert meta["config"]["k_close"] == 1 and meta["config"]["num_frames"] == 8
    assert meta["hashes"]["pairs.csv"] and meta["counts"]["ok"] == 16
    b = Benchmark(out)
    # no named objects here; SCUBA from stripes and stills by default (places needs an image folder)
    assert b.available_sets() == [s for s in ALL_SETS if s not in OBJECT_SETS and not s.endswith("_places")]
    assert meta["hashes"]["scuba.csv"] and meta["counts"]["scuba"] == {"scuba_still": 48, "scuba_stripes": 48}
    parts = b.parts(man["video_id"][0])
    assert parts.frames.shape == (8, 48, 48, 3) and parts.masks.shape == (8, 48, 48)
    assert parts.background.shape == parts.frames.shape


def test_foreground_filter_matches_coverage(tiny_bench):
    man = pd.read_csv(tiny_bench / "manifest.csv")
    fg = (man["cov_min"] >= 0.05) & (man["cov_max"] <= 0.5)
    assert (man["fg_ok"] == fg).all()
    pairs = pd.read_csv(tiny_bench / "pairs.csv")
    assert set(pairs["fg_video"]) <= set(man.loc[man["fg_ok"], "video_id"])


def test_background_only_removes_the_person(tiny_bench):
    """The synthetic source knows the true background: Background-Only must be close to it."""
    b = Benchmark(tiny_bench)
    src = create_source("synthetic", **TINY)
    recs = {r.video_id: r for r in src.records("val")}
    errs_bg, errs_orig = [], []
    for vid in list(b.videos["video_id"])[:6]:
        p = b.parts(vid)
        from hat.video import segment_indices

        truth = src.clean_background(recs[vid], segment_indices(TINY["num_frames"], 8)).astype(int)
        m = p.masks
        errs_bg.append(np.abs(p.background.astype(int) - truth)[m].mean())
        errs_orig.append(np.abs(p.frames.astype(int) - truth)[m].mean())
    assert np.mean(errs_bg) < 0.7 * np.mean(errs_orig)


def test_same_seed_same_bytes(tiny_bench, tmp_path):
    out = tmp_path / "again"
    build(tiny_config(), out)
    for name in CANON:
        assert read(out, name) == read(tiny_bench, name), name
    a = yaml.safe_load((out / "benchmark.yaml").read_text())
    b = yaml.safe_load((tiny_bench / "benchmark.yaml").read_text())
    assert a["hashes"] == b["hashes"]


def test_other_seed_other_pairs(tiny_bench, tmp_path):
    out = tmp_path / "seed1"
    build(tiny_config(seed=1), out)
    assert read(out, "manifest.csv") == read(tiny_bench, "manifest.csv")  # same videos
    assert read(out, "pairs.csv") != read(tiny_bench, "pairs.csv")  # other draws


def _run_build(out):
    build(tiny_config(source_options={"val_per_class": 30, "size": 64}, num_frames=8), out)


@pytest.mark.slow
def test_resume_after_kill_gives_same_result(tmp_path):
    ref = tmp_path / "ref"
    _run_build(ref)
    out = tmp_path / "killed"
    ctx = mp.get_context("fork")
    p = ctx.Process(target=_run_build, args=(out,))
    p.start()
    frames_dir = out / "artifacts" / "frames"
    deadline = time.time() + 60
    while time.time() < deadline and (not frames_dir.is_dir() or len(list(frames_dir.glob("*.npz"))) < 20):
        time.sleep(0.005)
    os.kill(p.pid, signal.SIGKILL)
    p.join()
    assert not (out / "benchmark.yaml").exists(), "killed before the end"
    # a stray temporary file from the killed writer must not be taken for an artifact
    (out / "artifacts" / "inpaint" / ".val_wave_0003.npz.tmp-99999").write_bytes(b"half")
    _run_build(out)
    for name in CANON:
        assert read(out, name) == read(ref, name), name
    assert sha256_tree(out / "artifacts") == sha256_tree(ref / "artifacts")


def test_shards_then_finish_equal_one_run(tiny_bench, tmp_path):
    out = tmp_path / "sharded"
    s0 = build(tiny_config(), out, shard=(0, 2))
    assert not s0.complete and s0.in_shard == 8 and s0.pending == 8
    assert not (out / "benchmark.yaml").exists()
    s1 = build(tiny_config(), out, shard=(1, 2))
    assert s1.complete
    s2 = build(tiny_config(), out)
    assert s2.stage_done == {} and s2.stage_skipped["frames"] == 16
    for name in CANON:
        assert read(out, name) == read(tiny_bench, name), name


def test_parallel_workers_same_result(tiny_bench, tmp_path):
    out = tmp_path / "workers"
    build(tiny_config(), out, workers=2)
    for name in CANON:
        assert read(out, name) == read(tiny_bench, name), name


def test_changed_settings_refused_on_resume(bench_copy):
    """Settings the artifacts depend on cannot change in place (aggregate-only ones can: test_rederive.py)."""
    with pytest.raises(HatError, match="different settings.*short_side"):
        build(tiny_config(short_side=32), bench_copy)


def test_unknown_backends_and_options(tmp_path):
    never = tmp_path / "never"
    with pytest.raises(HatError, match=r"unknown source 'kinetics' \(valid: .*synthetic"):
        build(tiny_config(source="kinetics"), never)
    with pytest.raises(HatError, match="unknown segmenter 'sam'.*gt"):
        build(tiny_config(segmenter="sam"), never)
    with pytest.raises(HatError, match="has no option 'colour'.*valid: seed"):
        build(tiny_config(source_options={"colour": 1}), never)
    with pytest.raises(HatError, match="unknown swap type 'near'"):
        build(tiny_config(swap_types=["near"]), never)
    assert not never.exists()  # refused before anything is written


def test_mask_quality_flags_and_temporal_smoothing(tiny_bench, tmp_path):
    from hat.masks import decode_rle, smooth_masks

    q = pd.read_csv(tiny_bench / "mask_quality.csv")
    man = pd.read_csv(tiny_bench / "manifest.csv", keep_default_na=False)
    assert set(q["video_id"].astype(str)) == set(man["video_id"].astype(str))
    ev = q[q["eval"]].groupby("video_id")["coverage"]
    np.testing.assert_allclose(ev.min().sort_index().to_numpy(), man.set_index("video_id")["cov_min"].sort_index(), atol=1e-6)
    assert (q.groupby("video_id")["iou_prev"].apply(lambda s: s.isna().sum()) == 1).all()  # first frame has none

    out = tmp_path / "smooth"
    cfg = tiny_config(mask_smooth=3, swap_types=["random"], repeats=1)
    build(cfg, out)
    man2 = pd.read_csv(out / "manifest.csv", keep_default_na=False)
    assert not man2["flags"].str.contains("flicker").any()  # exact rendered masks move smoothly
    assert (man["flicker"] == 0).all() and (man2["mask_iou"] > 0).all()
    vid = man2["video_id"].astype(str)[0]
    raw = decode_rle(json.loads((tiny_bench / "artifacts" / "segment" / f"{vid}.json").read_text())["rle"])
    smoothed = decode_rle(json.loads((out / "artifacts" / "segment" / f"{vid}.json").read_text())["rle"])
    assert np.array_equal(smoothed, smooth_masks(raw, 3))
    assert yaml.safe_load((out / "build.yaml").read_text())["config"]["mask_smooth"] == 3
    for bad in ({"mask_smooth": 2}, {"flicker_ratio": 1.5}):
        with pytest.raises(HatError, match="mask_smooth|flicker_ratio"):
            build(tiny_config(**bad), tmp_path / "bad")
    assert not (tmp_path / "bad").exists()


def test_resume_removes_stale_tmp_files_only(bench_copy):
    """A killed writer's ``*.tmp-<pid>`` goes on resume; a live or recent writer's (another shard's) stays."""
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    dead, alive = child.pid, os.getppid()
    now = time.time()
    art = bench_copy / "artifacts" / "inpaint"
    files = {
        f".x.npz.tmp-{dead}": (now - 120, False),        # writer gone, untouched for 2 minutes: leftover
        f".y.npz.tmp-{alive}": (now - 120, True),        # writer alive here: kept
        f".z.npz.tmp-{alive}": (now - 7200, False),      # untouched for 2 hours: leftover whoever wrote it
        f".w.npz.tmp-{dead}": (now - 5, True),           # another machine's shard writing right now: kept
        ".hat-probe.tmp-abcd": (now - 120, True),        # no pid, recent: kept
    }
    for name, (mtime, _) in files.items():
        (art / name).write_bytes(b"half")
        os.utime(art / name, (mtime, mtime))
    before = (bench_copy / "benchmark.yaml").read_bytes()
    s = build(tiny_config(), bench_copy)
    assert s.removed_tmp == 2
    assert {n for n in files if (art / n).exists()} == {n for n, (_, keep) in files.items() if keep}
    assert (bench_copy / "benchmark.yaml").read_bytes() == before
