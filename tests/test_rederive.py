"""Resuming a benchmark directory with other settings: aggregate-only settings re-derive in place, artifact
settings are refused; the residual person check of Background-Only; the build notes that explain empty sets."""

import dataclasses
import re
import shutil

import numpy as np
import pandas as pd
import pytest
import yaml

from hat.bench import Benchmark
from hat.config import AGGREGATE_SETTINGS, ARTIFACT_SETTINGS, BACKENDS, SELECTION_SETTINGS, BuildConfig
from hat.errors import HatError
from hat.inpainters import INPAINTERS, Inpainter
from hat.pipeline import PER_VIDEO_STAGES, build, foreground_hint
from hat.segmenters import SEGMENTERS, Segmentation, Segmenter
from hat.store import sha256_file, sha256_tree

from conftest import tiny_config


def artifact_mtimes(out):
    return {p.relative_to(out): p.stat().st_mtime_ns for p in (out / "artifacts").rglob("*") if p.is_file()}


def bench_yaml(out):
    return yaml.safe_load((out / "benchmark.yaml").read_text())


def test_every_setting_has_one_role():
    fields = [f.name for f in dataclasses.fields(BuildConfig)]
    groups = list(BACKENDS) + [f"{b}_options" for b in BACKENDS] + list(ARTIFACT_SETTINGS) + list(SELECTION_SETTINGS) + list(AGGREGATE_SETTINGS)
    assert sorted(groups) == sorted(fields)


def test_threshold_change_rederives_in_place(bench_copy, tmp_path):
    out = bench_copy
    before, old_hash = artifact_mtimes(out), sha256_file(out / "benchmark.yaml")[:16]
    s = build(tiny_config(cov_max=0.15), out)
    assert s.complete and s.stage_done == {} and s.stage_skipped["frames"] == 16  # no per-video stage ran
    assert artifact_mtimes(out) == before
    assert yaml.safe_load((out / "build.yaml").read_text())["config"]["cov_max"] == 0.15
    fresh = tmp_path / "fresh"
    build(tiny_config(cov_max=0.15), fresh)
    for name in ("pairs.csv", "manifest.csv", "mask_quality.csv", "scene_distance.csv"):
        assert (out / name).read_bytes() == (fresh / name).read_bytes(), name
    a, b = bench_yaml(out), bench_yaml(fresh)
    assert a["notes"][0] == f"re-derived from aggregates {old_hash} with cov_max 0.5 -> 0.15"
    assert a["notes"][1:] == b["notes"]
    assert {k: v for k, v in a.items() if k not in ("name", "notes")} == {k: v for k, v in b.items() if k not in ("name", "notes")}
    assert a["counts"]["foregrounds"] < 16  # the new bound did change the aggregates
    # rerunning the same command again rewrites the same bytes (the note is kept, not dropped)
    text = (out / "benchmark.yaml").read_bytes()
    build(tiny_config(cov_max=0.15), out)
    assert (out / "benchmark.yaml").read_bytes() == text


def test_pairing_settings_rederive_too(bench_copy):
    old = sha256_file(bench_copy / "benchmark.yaml")[:16]
    s = build(tiny_config(k_close=2, seed=3, swap_types=["random", "close"], repeats=1), bench_copy)
    assert s.stage_done == {}
    assert bench_yaml(bench_copy)["notes"][0] == (f"re-derived from aggregates {old} with k_close 1 -> 2, "
                                                  "repeats 3 -> 1, swap_types random,close,far,same -> random,close, seed 0 -> 3")
    assert set(pd.read_csv(bench_copy / "pairs.csv")["set"]) == {"swap_random", "swap_close"}


@pytest.mark.parametrize("change, named", [
    ({"short_side": 32}, "short_side: None then, 32 now"),
    ({"num_frames": 4}, "num_frames: 8 then, 4 now"),
    ({"mask_smooth": 3}, "mask_smooth"),
    ({"inpainter_options": {"dilation": 9}}, "inpainter.options.dilation"),
    ({"source_options": {"seed": 5}}, "source.options.seed: 0 then, 5 now"),
])
def test_artifact_setting_change_refused(bench_copy, change, named):
    build_yaml = (bench_copy / "build.yaml").read_bytes()
    with pytest.raises(HatError, match="different settings.*" + re.escape(named)) as e:
        build(tiny_config(**change), bench_copy)
    assert "\n" not in str(e.value)
    assert (bench_copy / "build.yaml").read_bytes() == build_yaml  # nothing written


def test_resolved_options_compared(bench_copy):
    """``-S seed=0`` spelled out is the default: the same artifacts, nothing to redo, no re-derivation note."""
    s = build(tiny_config(source_options={"seed": 0}, inpainter_options={"dilation": 4}), bench_copy)
    assert s.stage_done == {}
    assert not any(n.startswith("re-derived") for n in bench_yaml(bench_copy)["notes"])


def test_old_benchmark_directory_resumes(bench_copy):
    """A directory written before the split (no max_residual anywhere) resumes and re-derives."""
    for name in ("build.yaml", "benchmark.yaml"):
        meta = yaml.safe_load((bench_copy / name).read_text())
        del meta["config"]["max_residual"]
        (bench_copy / name).write_text(yaml.safe_dump(meta, sort_keys=name == "build.yaml"))
    s = build(tiny_config(), bench_copy)
    assert s.complete and s.stage_done == {}
    assert "max_residual (unset) -> 0.01" in bench_yaml(bench_copy)["notes"][0]


# ----------------------------------------------------------------------------- zero foregrounds explained


def test_foreground_hint_names_the_admitting_flag():
    assert foreground_hint(np.array([0.21, 0.3, 0.508]), 0.05, 0.5) == \
        "coverage 0.21-0.508 > cov_max 0.5 on 1 frame; --cov-max 0.51 would admit it"
    assert foreground_hint(np.array([0.013, 0.02, 0.2]), 0.05, 0.5) == \
        "coverage 0.013-0.2 < cov_min 0.05 on 2 frames; --cov-min 0.01 would admit it"
    assert "--cov-min 0.004 " in foreground_hint(np.array([0.0042, 0.2]), 0.05, 0.5)
    assert "--cov-max 0.51 " in foreground_hint(np.array([0.1, 0.51]), 0.05, 0.5)  # exactly: no float drift to 0.52
    both = foreground_hint(np.array([0.01, 0.7]), 0.05, 0.5)
    assert "< cov_min 0.05 on 1 frame and > cov_max 0.5 on 1 frame; --cov-min 0.01 --cov-max 0.7 would admit it" in both
    assert foreground_hint(np.array([0.0, 0.2]), 0.05, 0.5).endswith("--cov-min 0 would admit it (with frames that show no person)")


def test_no_foreground_in_the_build_is_explained(bench_copy):
    s = build(tiny_config(cov_min=0.3, cov_max=0.5), bench_copy)
    assert s.counts["foregrounds"] == 0
    i = next(i for i, n in enumerate(s.notes) if n.startswith("no foreground videos"))
    assert s.notes[i] == "no foreground videos: 16 usable videos fail the coverage rule (cov_min 0.3, cov_max 0.5)"
    named = s.notes[i + 1:i + 6]
    assert all(re.match(r"val_\w+: coverage [\d.]+-[\d.]+ < cov_min 0.3 on \d+ frames; --cov-min [\d.]+ would admit it$", n) for n in named)
    assert s.notes[i + 6] == "... and 11 more (see manifest.csv notes)"
    # the flag named for the first video does admit it
    vid, flag = re.match(r"(\S+): .*--cov-min ([\d.]+) would", named[0]).groups()
    build(tiny_config(cov_min=float(flag)), bench_copy)
    man = pd.read_csv(bench_copy / "manifest.csv").set_index("video_id")
    assert man.loc[vid, "fg_ok"]


def test_class_without_foreground_is_explained(bench_copy):
    s = build(tiny_config(cov_min=0.147), bench_copy)
    man = pd.read_csv(bench_copy / "manifest.csv")
    empty = sorted(c for c, g in man.groupby("label") if not g["fg_ok"].any())
    assert empty == [2, 3]
    notes = [n for n in s.notes if n.startswith("class ")]
    assert len(notes) == 2
    assert notes[1].startswith("class 'squat' has no foreground: val_squat_0000: coverage 0.122-0.139 < cov_min 0.147 "
                               "on 8 frames; --cov-min 0.12 would admit it (+3 more videos)")
    assert bench_yaml(bench_copy)["notes"] == s.notes


def test_few_foregrounds_counts_only_classes_in_the_build(tmp_path):
    s = build(tiny_config(limit=2), tmp_path / "two")  # two videos: two of the four classes
    few = [n for n in s.notes if "fewer than 2 usable foreground videos" in n]
    assert few == ["2 classes have fewer than 2 usable foreground videos: wave (1), clap (1)"]


def test_flickering_videos_are_named(bench_copy):
    s = build(tiny_config(flicker_ratio=1.0), bench_copy)
    man = pd.read_csv(bench_copy / "manifest.csv", keep_default_na=False)
    flick = list(man.loc[man["flags"].str.contains("flicker"), "video_id"])
    assert flick, "flicker_ratio 1 flags some frame of these moving figures"
    note = next(n for n in s.notes if "flickering masks" in n)
    assert note.startswith(f"{len(flick)} videos have flickering masks")
    assert note.split(": ", 1)[1].startswith(", ".join(flick[:5]))


# ----------------------------------------------------------------------------- ok rows: notes, not reason


def test_reason_only_for_failures_notes_for_usable_videos(bench_copy):
    build(tiny_config(cov_min=0.147), bench_copy)
    man = pd.read_csv(bench_copy / "manifest.csv", keep_default_na=False)
    ok = man[man["status"] == "ok"]
    assert (ok["reason"] == "").all()
    assert (ok.loc[~ok["fg_ok"], "notes"].str.match(r"person < 0.147 of frame on \d+ frames$")).all()
    assert (ok.loc[ok["fg_ok"], "notes"] == "").all()


# ----------------------------------------------------------------------------- residual people on Background-Only


class DiffSegmenter(Segmenter):
    """A segmenter that looks at pixels: whatever differs from the synthetic source's true background."""

    name = "test-diff"

    def segment(self, frames, record, source, indices):
        truth = source.clean_background(record, indices).astype(int)
        masks = np.abs(frames.astype(int) - truth).max(axis=-1) > 60
        return Segmentation(masks, [np.zeros((0, 5), np.float32)] * len(frames))


class KeepInpainter(Inpainter):
    """An inpainter that removes nothing: every Background-Only frame still holds the person."""

    name = "test-keep"

    def inpaint(self, frames, masks, targets, **_):
        return frames[targets].copy()


@pytest.fixture()
def fake_backends():
    SEGMENTERS.register("test-diff")(DiffSegmenter)
    INPAINTERS.register("test-keep")(KeepInpainter)
    yield
    del SEGMENTERS._entries["test-diff"], INPAINTERS._entries["test-keep"]


def test_background_that_keeps_its_person_is_not_swapped_in(fake_backends, tmp_path):
    out = tmp_path / "kept"
    s = build(tiny_config(segmenter="test-diff", inpainter="test-keep"), out)
    assert s.stage_done["residual"] == 16
    man = pd.read_csv(out / "manifest.csv", keep_default_na=False)
    assert (man["residual_cov"] > 0.05).all()
    assert not man["bg_ok"].any() and man["fg_ok"].all()
    assert man["notes"].str.match(r"Background-Only still shows a person: residual_cov 0\.\d+ > max_residual 0.01$").all()
    assert (man["reason"] == "").all()
    assert pd.read_csv(out / "pairs.csv").empty
    note = next(n for n in s.notes if n.startswith("residual person coverage"))
    assert "over 16 videos" in note and "16 above max_residual 0.01, not used as backgrounds: val_" in note
    assert s.counts["residual_rejected"] == 16 and s.counts["backgrounds"] == 0
    # a looser bound is aggregate-only: re-derived from the stored residuals, nothing recomputed
    s2 = build(tiny_config(segmenter="test-diff", inpainter="test-keep", max_residual=1.0), out)
    assert s2.stage_done == {} and s2.counts["backgrounds"] == 16


def test_residual_of_a_real_inpainting_and_old_directories(fake_backends, tmp_path):
    out = tmp_path / "removed"
    build(tiny_config(segmenter="test-diff"), out)
    build(tiny_config(segmenter="test-diff", inpainter="test-keep"), tmp_path / "kept")
    man = pd.read_csv(out / "manifest.csv")
    kept = pd.read_csv(tmp_path / "kept" / "manifest.csv")
    assert man["residual_cov"].median() < 0.5 * kept["residual_cov"].median()  # propagate removes most figures
    assert (man["bg_ok"] == (man["residual_cov"] <= 0.01)).all()
    # a directory built before the residual stage computes only that artifact, then the same aggregates
    manifest, tree = (out / "manifest.csv").read_bytes(), sha256_tree(out / "artifacts")
    shutil.rmtree(out / "artifacts" / "residual")
    s = build(tiny_config(segmenter="test-diff"), out)
    assert dict(s.stage_done) == {"residual": 16}
    assert s.stage_skipped == {st: 16 for st in PER_VIDEO_STAGES[:-1]}
    assert (out / "manifest.csv").read_bytes() == manifest and sha256_tree(out / "artifacts") == tree


def test_segmenter_without_pixels_records_no_residual(tiny_bench):
    man = pd.read_csv(tiny_bench / "manifest.csv", keep_default_na=False)
    assert (man["residual_cov"] == "").all() and man["bg_ok"].all()
    assert not (tiny_bench / "artifacts" / "residual").exists()
    assert not any(n.startswith("residual") for n in bench_yaml(tiny_bench)["notes"])
    assert SEGMENTERS.create("gt").reads_pixels is False


# ----------------------------------------------------------------------------- a set without pairs says why


def test_missing_swap_set_says_why(bench_copy, tmp_path):
    one = tmp_path / "one"
    build(tiny_config(limit=4), one)  # one video per class: no same-class background
    b = Benchmark(one)
    with pytest.raises(HatError, match=r"^swap_same has no pairs in benchmark one: no class has a foreground video and "
                                       r"another usable background video \(see benchmark.yaml notes\)"):
        b.check_sets(["swap_same"])
    build(tiny_config(swap_types=["random"]), bench_copy)
    with pytest.raises(HatError, match=r"swap_far has no pairs .*: it was not built \(swap_types: random\)"):
        Benchmark(bench_copy).check_sets(["swap_far"])
    build(tiny_config(cov_min=0.3), bench_copy)
    with pytest.raises(HatError, match=r"swap_random has no pairs .*: no video is a foreground"):
        Benchmark(bench_copy).check_sets(["swap_random"])
    with pytest.raises(HatError, match=r"unknown set 'swap_near'"):
        Benchmark(bench_copy).check_sets(["swap_near"])


def test_cli_max_residual_rederives(bench_copy):
    from hat.cli import main

    args = ["build", "--out", str(bench_copy), "--frames", "8", "--max-residual", "0.2"]
    for kv in ("num_classes=4", "train_per_class=6", "val_per_class=4", "size=48", "num_frames=8"):
        args += ["-S", kv]
    assert main(args) == 0
    assert bench_yaml(bench_copy)["config"]["max_residual"] == 0.2
    assert "max_residual 0.01 -> 0.2" in bench_yaml(bench_copy)["notes"][0]


def test_segmenter_change_refused(fake_backends, bench_copy):
    with pytest.raises(HatError, match=r"different settings \(segmenter.name: 'gt' then, 'test-diff' now\)"):
        build(tiny_config(segmenter="test-diff"), bench_copy)
    assert not (bench_copy / "artifacts" / "residual").exists()
