"""Bootstrap intervals and paired comparisons (issue 15): known answers, coverage, the demo's verdict."""

from __future__ import annotations

import json
import math
import re
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hat import stats
from hat.cli import main
from hat.evaluate import write_predictions, write_results
from hat.leaderboard import COLUMNS, to_markdown, write_leaderboard
from hat.metrics import compute_metrics, format_summary, per_class

DATA = Path(__file__).parent / "data" / "demo_predictions.csv.gz"
DEMO_CLASSES = ["wave", "clap", "jumping_jacks", "squat", "walk", "punch"]


def run(*args) -> int:
    return main([str(a) for a in args])


def demo(run_name: str) -> pd.DataFrame:
    """The embedded demo's predictions (frame: scene shortcut; motion: follows the person), as hat eval wrote them."""
    df = pd.read_csv(DATA, keep_default_na=False, dtype={"video_id": str, "bg_video": str})
    df = df[df.pop("run") == run_name].reset_index(drop=True)
    return df.assign(**{"class": df["label"].map(dict(enumerate(DEMO_CLASSES)))})


def run_dir(tmp: Path, name: str, pred: pd.DataFrame, bench_hash: str = "h0", classes=DEMO_CLASSES) -> Path:
    out = tmp / name
    meta = {"model": {"name": name, "hash": name}, "eval": {"sets": sorted(pred["set"].unique())},
            "benchmark": {"name": "demo", "hash": bench_hash, "classes": list(classes)}}
    write_predictions(out / "predictions.parquet", pred, meta)
    return out


def originals(hits_a, labels=None, hits_b=None) -> pd.DataFrame:
    """Original-set rows: one clip per video, right where ``hits`` is true (top-5 filled with wrong classes)."""
    n = len(hits_a)
    labels = np.zeros(n, dtype=int) if labels is None else np.asarray(labels)
    pred1 = np.where(hits_a, labels, labels + 1)
    df = pd.DataFrame({"set": "original", "repeat": 0, "video_id": [f"v{i:05d}" for i in range(n)], "label": labels,
                       "bg_video": "", "bg_label": -1, "pred_1": pred1})
    for k in range(2, 6):
        df[f"pred_{k}"] = labels + k
    return df


# ------------------------------------------------------------------------------------------------ point estimates


@pytest.mark.parametrize("name", ["frame", "motion"])
def test_point_estimates_equal_compute_metrics_exactly(name):
    pred = demo(name)
    m = compute_metrics(pred)
    videos = stats.Videos.of(pred)
    t = stats.Table.of(pred, videos)
    point = dict(zip(t.metrics, t.evaluate(t.S.sum(0), t.metrics)))
    shared = [k for k in point if k in m]
    assert len(shared) >= 19
    for k in shared:
        assert m[k] == point[k], k  # exact, not approximate: the intervals sit around the very values reported
    # every metric compute_metrics reports (not counts, not stds) has a declaration, so none goes without an interval
    undeclared = [k for k, v in m.items() if isinstance(v, float) and not k.endswith("_std") and k not in stats.METRICS]
    assert not undeclared
    # per class: the same sums give per_class() exactly
    pc = per_class(pred, DEMO_CLASSES).set_index("label")
    cls = t.evaluate(t.class_sums(videos), t.per_class)
    for i, (lab, _, _) in enumerate(videos.blocks):
        for j, k in enumerate(t.per_class):
            if k in pc.columns:
                assert pc.at[lab, k] == cls[i, j], (lab, k)


def test_scuba_contrast_and_harmonic_mean_declarations():
    """SCUBA / SCUFO sets (issue 20) plug in: contrast = right on SCUBA and wrong on its frozen twin, per repeat."""
    rows = []
    # 4 videos x 2 repeats; SCUBA right on videos 0,1,2; SCUFO right on videos 0 and (repeat 1) 3
    for r in range(2):
        for v in range(4):
            for s, right in (("scuba_places", v < 3), ("scufo_places", v == 0 or (r == 1 and v == 3))):
                rows.append({"set": s, "repeat": r, "video_id": f"v{v}", "label": v % 2, "bg_video": f"img{r}",
                             "bg_label": -1, "pred_1": v % 2 if right else 5, "pred_2": 6})
    rows += originals([True, True, False, True], labels=[0, 1, 0, 1]).drop(columns=["pred_3", "pred_4", "pred_5"]).to_dict("records")
    pred = pd.DataFrame(rows)
    t = stats.Table.of(pred, stats.Videos.of(pred))
    v = dict(zip(t.metrics, t.evaluate(t.S.sum(0), t.metrics)))
    assert v["scuba_places_top1"] == 0.75 and v["scufo_places_top1"] == pytest.approx((0.25 + 0.5) / 2)
    assert v["contrast_places"] == pytest.approx(0.5)  # videos 1, 2 in both repeats
    assert v["hm_scuba_places"] == pytest.approx(2 * 0.75 * 0.75 / 1.5)
    assert "contrast_stripes" not in t.metrics  # no such sets: no metric, no cells


# ------------------------------------------------------------------------------------------------ resampling


def test_resamples_do_not_depend_on_chunking_and_strata_keep_their_size(monkeypatch):
    pred = originals(np.arange(30) % 3 == 0, labels=np.arange(30) % 3)
    videos = stats.Videos.of(pred)
    assert videos.balanced()
    whole = np.concatenate(list(stats.weights(videos, 7, 5, True)))
    monkeypatch.setattr(stats, "CHUNK_ENTRIES", 60)  # two resamples per chunk
    chunked = np.concatenate(list(stats.weights(videos, 7, 5, True)))
    assert np.array_equal(whole, chunked) and whole.shape == (7, 30)
    for _, a, b in videos.blocks:
        assert (whole[:, a:b].sum(1) == b - a).all()
    free = np.concatenate(list(stats.weights(videos, 50, 5, False)))
    assert (free.sum(1) == 30).all() and len({tuple(free[:, a:b].sum(1)) for _, a, b in videos.blocks}) > 1
    assert not np.array_equal(whole, np.concatenate(list(stats.weights(videos, 7, 6, True))))


def test_unbalanced_classes_are_not_stratified():
    labels = [0] * 20 + [1] * 5
    assert not stats.Videos.of(originals(np.ones(25, bool), labels=labels)).balanced()


@pytest.mark.slow
def test_coverage_of_the_95_percent_interval_by_simulation():
    """400 datasets drawn from a known Bernoulli population: about 95 % of intervals hold the truth.

    The band [0.91, 0.98] is wide enough for simulation noise (sd 1.1 points) and far from what a broken
    interval gives (a too narrow or off-centre one covers much less, a too wide one nearly always).
    """
    rng = np.random.default_rng(1)
    p_orig, p_bo_given = 0.8, 0.75  # BO right only where the original is right: BOR = 0.75
    hits = {"oacc": 0, "bor": 0}
    sims = 400
    for _ in range(sims):
        o = rng.random(80) < p_orig
        bo = o & (rng.random(80) < p_bo_given)
        pred = pd.concat([originals(o), originals(bo).assign(set="background_only")], ignore_index=True)
        iv = stats.bootstrap(pred, resamples=200, seed=int(rng.integers(1 << 30)))
        hits["oacc"] += iv.bounds["oacc"][0] <= p_orig <= iv.bounds["oacc"][1]
        hits["bor"] += iv.bounds["bor"][0] <= p_bo_given <= iv.bounds["bor"][1]
    for k, n in hits.items():
        assert 0.91 <= n / sims <= 0.98, (k, n / sims)


def test_interval_of_a_ratio_is_not_the_ratio_of_intervals():
    rng = np.random.default_rng(0)
    o = rng.random(200) < 0.7
    bo = o & (rng.random(200) < 0.6)
    pred = pd.concat([originals(o), originals(bo).assign(set="background_only")], ignore_index=True)
    b = stats.bootstrap(pred, 500, 0).bounds
    naive = (b["bo_acc"][0] / b["oacc"][1], b["bo_acc"][1] / b["oacc"][0])
    assert b["bor"][0] > naive[0] + 0.05 and b["bor"][1] < naive[1] - 0.05  # paired per video: much narrower
    m = compute_metrics(pred)
    assert b["bor"][0] < m["bor"] < b["bor"][1]


# ------------------------------------------------------------------------------------------------ tests of differences


def test_mcnemar_exact_matches_integer_arithmetic():
    for b, c in [(0, 0), (0, 6), (5, 29), (12, 75), (40, 41), (300, 200), (900, 1200), (2500, 2600)]:
        n, k = b + c, min(b, c)
        exact = min(Fraction(1), 2 * Fraction(sum(math.comb(n, i) for i in range(k + 1)), 2 ** n)) if n else Fraction(1)
        assert stats.mcnemar_exact(b, c) == pytest.approx(float(exact), rel=1e-9, abs=1e-300)
    assert stats.mcnemar_exact(0, 6) == 0.03125 and stats.mcnemar_exact(7, 7) == 1.0


def test_holm_step_down():
    adj = stats.holm(np.array([0.01, 0.04, 0.03, 0.005]))
    assert adj.tolist() == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_identical_runs_differ_by_zero_with_p_one():
    pred = demo("frame")
    table, per_class_rows, info = stats.compare(pred, pred.copy(), resamples=200)
    assert (table["diff"] == 0).all() and (table["diff_lo"] == 0).all() and (table["diff_hi"] == 0).all()
    assert (table["p_bootstrap"] == 1).all()
    assert (table["p_mcnemar"].dropna() == 1).all() and table["p_mcnemar"].notna().sum() >= 15
    assert not table["significant"].any() and per_class_rows.empty
    assert info == {"method": "bootstrap-percentile", "level": 0.95, "resamples": 200, "seed": 0, "unit": "video",
                    "stratified": True}


def test_run_right_wherever_the_other_is_wrong_has_p_near_zero():
    rng = np.random.default_rng(3)
    labels = np.arange(300) % 3
    b = originals(rng.random(300) < 0.5, labels=labels)
    a = originals(np.ones(300, bool), labels=labels)
    table, per_cls, _ = stats.compare(a, b, resamples=500)
    row = table.set_index("metric").loc["oacc"]
    assert row["diff"] > 0.4 and row["diff_lo"] > 0.3
    assert row["p_bootstrap"] == pytest.approx(2 / 501) and row["p_mcnemar"] < 1e-30 and row["b_only"] == 0
    assert row["significant"]
    assert set(per_cls["label"]) == {0, 1, 2} and (per_cls["p_holm"] < 1e-9).all()


def test_demo_compare_finds_the_frame_model_sberr_significantly_higher():
    table, per_cls, _ = stats.compare(demo("frame"), demo("motion"), resamples=1000)
    t = table.set_index("metric")
    for swap in ("random", "close", "far"):
        r = t.loc[f"sberr_{swap}"]
        assert r["diff"] > 0.3 and r["diff_lo"] > 0 and r["significant"] and r["p_mcnemar"] < 1e-6
    assert t.loc["bor", "diff_lo"] > 0 and t.loc["hor", "diff_hi"] < 0
    assert ((per_cls["metric"] == "sberr_far") & (per_cls["class"] == "walk")).any()


# ------------------------------------------------------------------------------------------------ files and CLI


def test_results_json_and_per_class_carry_intervals(tmp_path):
    out = run_dir(tmp_path, "frame", demo("frame"))
    res = write_results(out / "predictions.parquet", bootstrap=300, seed=4)
    m = res["metrics"]
    assert res["intervals"] == {"method": "bootstrap-percentile", "level": 0.95, "resamples": 300, "seed": 4,
                                "unit": "video", "stratified": True}
    for k in stats.METRICS:
        if k in m:
            assert f"{k}_lo" in m and f"{k}_hi" in m, k
            if m[k] is not None:
                assert m[f"{k}_lo"] <= m[k] <= m[f"{k}_hi"], k
            else:
                assert m[f"{k}_lo"] is None
    assert m["obj_box_top1_lo"] is None and m.get("contrast_places_lo") is None  # absent sets: no bounds
    assert json.loads((out / "results.json").read_text())["metrics"] == json.loads(json.dumps(m))
    pc = pd.read_csv(out / "per_class.csv")
    assert list(pc.columns[:6]) == ["label", "class", "n", "original_top1", "original_top1_lo", "original_top1_hi"]
    assert {"bor", "bor_lo", "hor_hi", "few_videos"} <= set(pc.columns)
    assert not pc["few_videos"].any()  # 20 videos a class, 10 or more right on the original set
    assert (pc["sberr_far_lo"] <= pc["sberr_far"]).all() and (pc["sberr_far"] <= pc["sberr_far_hi"]).all()
    old = per_class(demo("frame"), DEMO_CLASSES)
    assert np.array_equal(pc["original_top1"].to_numpy(), old["original_top1"].to_numpy())
    # same seed, same bytes; another seed, other bounds
    first = (out / "results.json").read_text()
    write_results(out / "predictions.parquet", bootstrap=300, seed=4)
    assert (out / "results.json").read_text() == first
    assert write_results(out / "predictions.parquet", bootstrap=300, seed=5)["metrics"]["oacc_lo"] is not None


def test_few_videos_marks_classes_with_small_ratio_denominators(tmp_path):
    labels = [0] * 30 + [1] * 30
    hits = [True] * 25 + [False] * 5 + [True] * 4 + [False] * 26
    pred = originals(hits, labels=labels)
    pred = pd.concat([pred, pred.assign(set="background_only")], ignore_index=True)
    out = run_dir(tmp_path, "r", pred, classes=["a", "b"])
    write_results(out / "predictions.parquet", bootstrap=50)
    pc = pd.read_csv(out / "per_class.csv")
    assert pc["few_videos"].tolist() == [False, True]


def test_bootstrap_zero_writes_what_hat_wrote_before(tmp_path):
    pred = demo("motion")
    out = run_dir(tmp_path, "motion", pred)
    res = write_results(out / "predictions.parquet", bootstrap=0)
    assert "intervals" not in res and res["metrics"] == compute_metrics(pred)
    want = per_class(pred, DEMO_CLASSES).to_csv(index=False, lineterminator="\n", float_format="%.6g")
    assert (out / "per_class.csv").read_text() == want


def test_results_without_intervals_still_load_everywhere(tmp_path, capsys):
    old = run_dir(tmp_path, "old", demo("frame"))
    write_results(old / "predictions.parquet", bootstrap=0)
    new = run_dir(tmp_path, "new", demo("motion"))
    write_results(new / "predictions.parquet", bootstrap=100)
    rows = format_summary(json.loads((old / "results.json").read_text())["metrics"], intervals=True)
    assert all(r[2] == "" for r in rows) and len(rows[0]) == 5
    df = write_leaderboard([old, new], tmp_path / "lb.csv", tmp_path / "lb.md")
    assert {"oacc_lo", "oacc_hi", "bor_lo", "sberr_far_hi"} <= set(df.columns) and set(COLUMNS) <= set(df.columns)
    lb = pd.read_csv(tmp_path / "lb.csv").set_index("model")
    assert pd.isna(lb.at["old", "oacc_lo"]) and lb.at["new", "oacc_lo"] < lb.at["new", "oacc"] < lb.at["new", "oacc_hi"]
    md = (tmp_path / "lb.md").read_text()
    old_line = next(line for line in md.splitlines() if "| old |" in line)
    new_line = next(line for line in md.splitlines() if "| new |" in line)
    assert "[" not in old_line and "89.2 [" in new_line and "[lo, hi]" in md
    # an older leaderboard CSV (no interval columns) merges too
    pd.read_csv(tmp_path / "lb.csv").drop(columns=[c for c in df.columns if c.endswith(("_lo", "_hi"))]).to_csv(
        tmp_path / "old_lb.csv", index=False)
    assert run("leaderboard", str(tmp_path / "old_lb.csv"), str(new), "-o", str(tmp_path / "lb2.csv")) == 0
    assert pd.isna(pd.read_csv(tmp_path / "lb2.csv").set_index("model").at["old", "oacc_lo"])
    capsys.readouterr()
    assert run("metrics", str(old / "predictions.parquet"), "--bootstrap", "0") == 0
    assert "% interval" not in capsys.readouterr().err


def test_cli_metrics_and_compare(tmp_path, capsys):
    a, b = run_dir(tmp_path, "frame", demo("frame")), run_dir(tmp_path, "motion", demo("motion"))
    assert run("metrics", str(a / "predictions.parquet"), "--bootstrap", "200", "--bootstrap-seed", "1") == 0
    err = capsys.readouterr().err
    assert "95 % interval" in err and re.search(r"\[\d+\.\d, \d+\.\d\]", err) and "200 resamples" in err
    assert json.loads((a / "results.json").read_text())["intervals"]["seed"] == 1
    assert run("compare", str(a), str(b / "results.json"), "--bootstrap", "300", "--out", str(tmp_path / "c.csv")) == 0
    err = capsys.readouterr().err
    assert "sberr_far" in err and "Holm" in err
    c = pd.read_csv(tmp_path / "c.csv")
    row = c[(c["scope"] == "all") & (c["metric"] == "sberr_far")].iloc[0]
    assert row["diff"] > 0 and row["diff_lo"] > 0 and bool(row["significant"])
    assert (c["scope"] == "class").any()
    assert run("compare", str(a), str(b), "--bootstrap", "100", "--out", str(tmp_path / "c.json")) == 0
    j = json.loads((tmp_path / "c.json").read_text())
    assert j["intervals"]["resamples"] == 100 and {r["metric"] for r in j["metrics"]} >= {"oacc", "bor", "sberr_far"}


@pytest.mark.parametrize("args, words", [
    (["compare", "{a}", "{other}"], "different benchmarks"),
    (["compare", "{a}", "{a}", "--out", "{tmp}/c.txt"], ".csv or .json"),
    (["compare", "{a}", "{tmp}/nothing"], "no predictions file"),
    (["compare", "{a}", "{a}", "--bootstrap", "0"], "at least 1"),
    (["metrics", "{a}/predictions.parquet", "--bootstrap", "-1"], "--bootstrap must be 0"),
    (["metrics", "{a}/predictions.parquet", "--bootstrap-seed", "-2"], "--bootstrap-seed"),
])
def test_bad_input_is_one_line_exit_2(tmp_path, capsys, args, words):
    a = run_dir(tmp_path, "frame", demo("frame"))
    other = run_dir(tmp_path, "motion", demo("motion"), bench_hash="h1")
    argv = [x.format(a=a, other=other, tmp=tmp_path) for x in args]
    assert run(*argv) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and len(err.splitlines()) == 1
    assert not (tmp_path / "c.txt").exists() and not (a / "results.json").exists()


def test_runs_on_different_sets_compare_on_what_they_share():
    b = demo("motion")
    table, _, _ = stats.compare(demo("frame"), b[b["set"].isin(["original", "background_only"])], resamples=50)
    assert set(table["metric"]) == {"oacc", "oacc_top5", "bo_acc", "bo_acc_top5", "bor"}  # no swaps in B: no oacc_fg


PLUGIN = '''
import numpy as np

def make(classes):
    def f(clips):
        s = np.zeros((len(clips), len(classes)))
        s[:, 0] = clips.reshape(len(clips), -1).mean(1) % 2  # some clips right, some wrong
        s[:, 1] = 0.5
        return s
    return f
'''


def test_eval_writes_intervals_by_default_and_none_with_bootstrap_zero(tiny_bench, tmp_path):
    model = tmp_path / "plug.py"
    model.write_text(PLUGIN)
    assert run("eval", "--model", f"python:{model}:make", "--bench", tiny_bench, "--out", tmp_path / "a") == 0
    res = json.loads((tmp_path / "a" / "results.json").read_text())
    assert res["intervals"]["resamples"] == 1000 and res["intervals"]["stratified"]
    assert res["metrics"]["oacc_lo"] <= res["metrics"]["oacc"] <= res["metrics"]["oacc_hi"]
    assert run("eval", "--model", f"python:{model}:make", "--bench", tiny_bench, "--out", tmp_path / "b",
               "--bootstrap", "0") == 0
    res0 = json.loads((tmp_path / "b" / "results.json").read_text())
    assert "intervals" not in res0 and not any(k.endswith(("_lo", "_hi")) for k in res0["metrics"])
    assert {k: v for k, v in res["metrics"].items() if not k.endswith(("_lo", "_hi"))} == res0["metrics"]
