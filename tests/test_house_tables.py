"""One place for each fact (issue 13, items 3-5): the sets/metrics table, the directory layout, build options."""

import dataclasses

import click
import pandas as pd
import pytest

from hat import layout
from hat.cli import build as build_cmd
from hat.config import BuildConfig
from hat.leaderboard import COLUMNS, EXCLUDED, is_column, row_from_results, to_markdown
from hat.metrics import compute_metrics, format_summary, per_class
from hat.pairs import SWAP_TYPES
from hat.scuba import SCUBA_SETS
from hat.sets import ALL_SETS, CLIP_SETS, COUNTED_SETS, OBJECT_SETS, REPEATED_SETS
from hat.stats import METRICS, interval_keys


def _every_set_pred() -> pd.DataFrame:
    """Two videos, every set (swaps and SCUBA sets with two repeats), all predictions right."""
    rows = []
    for s in ALL_SETS:
        for rep in (0, 1) if s in REPEATED_SETS else (0,):
            for vid, label in (("v0", 0), ("v1", 1)):
                bg = 1 - label if s.startswith("swap_") else -1
                rows.append({"set": s, "repeat": rep, "video_id": vid, "label": label, "bg_video": "", "bg_label": bg,
                             **{f"pred_{j}": (label + j - 1) % 3 for j in range(1, 6)}})
    return pd.DataFrame(rows)


def test_every_metric_is_a_leaderboard_column_or_an_explicit_exclusion():
    m = compute_metrics(_every_set_pred())
    keys = list(m) + interval_keys(list(m))
    columns = [k for k in keys if k in COLUMNS]
    excluded = [k for k in keys if EXCLUDED.match(k)]
    assert not set(columns) & set(excluded), "a column cannot also be excluded"
    assert sorted(columns + excluded) == sorted(keys), [k for k in keys if k not in columns + excluded]
    # what is excluded today, so that widening the exclusion is a visible change
    assert {k for k in excluded if not k.endswith(("_lo", "_hi"))} == (
        {f"n_{s}" for s in COUNTED_SETS} | {f"n_swap_{t}" for t in SWAP_TYPES} | {f"repeats_{t}" for t in SWAP_TYPES}
        | {f"{p}_{s}" for s in SCUBA_SETS if s.startswith("scuba_") for p in ("n", "repeats")}
        | {"oacc_fg", "bo_acc_top5", "ho_acc_top5"} | {f"shacc_{t}_top5" for t in SWAP_TYPES})


def test_a_metric_without_a_column_is_kept_not_dropped():
    res = {"metrics": {"oacc": 0.5, "newfangled_top1": 0.25, "n_original_cuts": 3},
           "benchmark": {"name": "b"}, "model": {"name": "m"}}
    row = row_from_results(res)
    assert row["newfangled_top1"] == 0.25 and row["oacc"] == 0.5
    assert "n_original_cuts" not in row  # counts are an explicit exclusion
    assert is_column("newfangled_top1") and not is_column("n_original_cuts")


def test_sets_table_feeds_metrics_per_class_summary_and_markdown():
    pred = _every_set_pred()
    m = compute_metrics(pred)
    for cs in CLIP_SETS:
        assert m[cs.metric] == 1.0
        assert (f"n_{cs.name}" in m) == (cs.name in COUNTED_SETS)
    assert m["bor"] == m["hor"] == 1.0
    table = per_class(pred, ["a", "b", "c"])
    assert [c for c in table.columns if c.endswith("_top1") and c.removesuffix("_top1") in {s.name for s in CLIP_SETS}] == \
        [f"{cs.name}_top1" for cs in CLIP_SETS]
    labels = [r[0] for r in format_summary(m)]
    assert "Object boxes masked top-1" in labels and "P-top1 (background masked)" in labels
    # the object sets leave the summary where no video has named objects
    m2 = compute_metrics(pred[~pred["set"].isin(OBJECT_SETS)])
    assert not any(r[0].startswith("Object") for r in format_summary(m2))
    md = to_markdown(pd.DataFrame([{**{c: None for c in COLUMNS}, **m, "benchmark": "b", "model": "x"}]))
    assert md.splitlines()[0].startswith("| benchmark | model | n | OAcc | BOR | HOR | SHAcc random | SBErr random")
    assert md.splitlines()[0].endswith("| P-top1 | B-top1 |")


def test_metrics_declared_for_intervals_are_reported():
    m = compute_metrics(_every_set_pred())
    assert set(METRICS) <= set(m)


def test_build_options_take_their_defaults_from_the_config():
    params = {p.name: p for p in build_cmd.params}
    default = BuildConfig()
    fields = [f for f in dataclasses.fields(BuildConfig) if "cli" in f.metadata]
    assert len(fields) >= 20
    for f in fields:
        p = params[f.name]
        want = getattr(default, f.name)
        if f.name == "swap_types":
            assert p.default == ",".join(want)
        elif isinstance(want, bool):
            assert p.is_flag  # off unless typed (click keeps its own unset marker)
        elif want is None:  # unset: the source's or the global default applies (BuildConfig.resolved)
            assert not p.show_default and p.default in (None, getattr(click.core, "UNSET", None)), f.name
        else:
            assert p.default == want and p.show_default, f.name
    assert params["num_frames"].opts == ["--frames"]


def test_layout_names_every_aggregate_a_build_writes(tiny_bench):
    written = {p.name for p in tiny_bench.iterdir() if p.is_file()}
    named = set(layout.HASHED_FILES) | {layout.BENCH_FILE, layout.BUILD_FILE}
    assert written <= named, written - named
    assert (tiny_bench / layout.ARTIFACTS).is_dir()
    for stage, ext in layout.STAGE_EXT.items():
        if (tiny_bench / layout.ARTIFACTS / stage).is_dir():
            assert {p.suffix for p in (tiny_bench / layout.ARTIFACTS / stage).iterdir()} <= {f".{ext}"}
    seg = layout.read_segment(next((tiny_bench / layout.ARTIFACTS / "segment").iterdir()))
    assert {layout.SEG_SIZE, layout.SEG_RLE, layout.SEG_BOXES} <= set(seg)
    assert layout.read_manifest(tiny_bench)["video_id"].map(type).eq(str).all()


@pytest.mark.parametrize("name", ["original", "swap_same", "scufo_still"])
def test_set_names_come_from_one_table(name):
    from hat import bench

    assert bench.ALL_SETS is ALL_SETS and name in ALL_SETS


def test_compose_dispatch_covers_every_clip_set():
    from hat.bench import _CLIP_COMPOSERS

    assert list(_CLIP_COMPOSERS) and set(_CLIP_COMPOSERS) == {cs.name for cs in CLIP_SETS}
