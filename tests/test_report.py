"""``hat report`` and ``hat leaderboard --plot``: plotted numbers are the results' metrics, strips are what eval
sees, every link of the site resolves, bad input is one line before any work, and the pages load in Chromium."""

from __future__ import annotations

import io
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import hat.report as R
from hat import plots as P
from hat.bench import Benchmark, Item
from hat.cli import main
from hat.errors import HatError
from hat.evaluate import evaluate, read_predictions
from hat.models import CallableClassifier
from hat.report import strips as S
from hat.show import sheet_rows

from browser import INSTALL_HINT, Chromium, find_chromium


def _colour_model(classes):
    w = np.random.default_rng(0).normal(size=(3, len(classes)))

    def f(clips):  # the frame's mean colour: a scene model
        return clips.reshape(len(clips), -1, 3).mean(1) / 255.0 @ w * 10
    return f


def _centre_model(classes):
    w = np.random.default_rng(1).normal(size=(3, len(classes)))

    def f(clips):  # the centre's mean colour: where the person is
        h, wd = clips.shape[2:4]
        return clips[:, :, h // 4:3 * h // 4, wd // 4:3 * wd // 4].reshape(len(clips), -1, 3).mean(1) / 255.0 @ w * 10
    return f


@pytest.fixture(scope="module")
def runs(tiny_bench, tmp_path_factory) -> list[Path]:
    """Two runs of plain functions on the tiny benchmark."""
    b = Benchmark(tiny_bench)
    out = tmp_path_factory.mktemp("runs")
    dirs = []
    for name, make in (("colour", _colour_model), ("centre", _centre_model)):
        evaluate(CallableClassifier(make(b.classes), name), b, out / name)
        dirs.append(out / name)
    return dirs


@pytest.fixture(scope="module")
def site(tiny_bench, runs, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site") / "report"
    assert main(["report", "--bench", str(tiny_bench), *map(str, runs), "--out", str(out), "--sample", "3",
                 "--thumbs", "2"]) == 0
    return out


# --- pixels -------------------------------------------------------------------------------------------


def test_fit_shrinks_by_area_and_never_enlarges():
    f = np.zeros((4, 8, 3), np.uint8)
    f[:, :2] = 200  # two columns of 200 -> one column of 200 at half size
    got = S.fit(f, 4)
    assert got.shape == (2, 4, 3)
    assert got[:, 0].tolist() == [[200] * 3] * 2 and got[:, 1:].max() == 0
    assert S.fit(f, 16).shape == f.shape and np.array_equal(S.fit(f, 16), f)


def test_grid_places_cells_with_padding():
    a, b, c = (np.full((2, 3, 3), v, np.uint8) for v in (10, 20, 30))
    g = S.grid([[a, b], [c]], pad=1, bg=(255, 255, 255))
    assert g.shape == (1 + 2 * 3, 1 + 2 * 4, 3)
    assert (g[1:3, 1:4] == 10).all() and (g[1:3, 5:8] == 20).all() and (g[4:6, 1:4] == 30).all()
    assert (g[4:6, 5:8] == 255).all() and (g[0] == 255).all() and (g[:, 4] == 255).all()
    with pytest.raises(HatError, match="cell 0,1"):
        S.grid([[a, np.zeros((3, 3, 3), np.uint8)]])


def test_strip_cells_are_the_composed_clips(tiny_bench):
    b = Benchmark(tiny_bench)
    vid, label = str(b.videos.iloc[0]["video_id"]), int(b.videos.iloc[0]["label"])
    rows = sheet_rows(b, vid)
    img = S.strip(rows, frames=2, cell=1000, label_w=0)  # frames smaller than the cell: pixels as they are
    h, w = rows[0].clip.shape[1:3]
    cols = [0, len(rows[0].clip) - 1]
    for i, r in enumerate(rows):
        name = r.label.split("\n")[0]
        if name in ("original", "background_only", "human_only", "masked_background", "masked_person"):
            want = b.compose(Item(name, 0, vid, label))
            for j, t in enumerate(cols):
                y, x = S.PAD + i * (h + S.PAD), S.PAD + j * (w + S.PAD)
                assert np.array_equal(img[y:y + h, x:x + w], want[t]), (name, t)
    assert img.shape[0] == S.PAD + len(rows) * (h + S.PAD)


def test_preview_is_an_animated_webp(tiny_bench):
    from PIL import Image

    b = Benchmark(tiny_bench)
    rows = sheet_rows(b, str(b.videos.iloc[0]["video_id"]))
    frames = S.preview_frames(rows, max_frames=5)
    im = Image.open(io.BytesIO(S.webp(frames)))
    assert im.format == "WEBP" and getattr(im, "n_frames", 1) == 5 and im.size == frames[0].shape[1::-1]


# --- plot data ----------------------------------------------------------------------------------------


def test_interval_prefers_bootstrap_bounds_then_std():
    assert P.interval({"oacc": 0.5, "oacc_lo": 0.4, "oacc_hi": 0.7, "oacc_std": 0.01}, "oacc") == (0.5, 0.4, 0.7, P.ERR_CI)
    assert P.interval({"shacc_far": 0.5, "shacc_far_std": 0.1}, "shacc_far") == (0.5, 0.4, 0.6, P.ERR_STD)
    assert P.interval({"oacc": 0.5, "oacc_lo": None}, "oacc") == (0.5, 0.5, 0.5, "")
    assert P.interval({"oacc": float("nan")}, "oacc")[0] is None
    assert "bootstrap" in P.caption_bars({P.ERR_CI}) and "std" in P.caption_bars({P.ERR_STD, ""})
    assert "No error bars" in P.caption_bars({""})


def test_plotted_numbers_are_the_results_metrics(tiny_bench, runs):
    b = Benchmark(tiny_bench)
    df = R.board(R.load_runs(runs, b))
    metrics = [json.loads((r / "results.json").read_text())["metrics"] for r in runs]
    plots = {p.name: p for p in P.board_plots(df)}
    sc = plots["bor_vs_oacc"].data
    assert sc["x"].tolist() == [m["oacc"] for m in metrics] and sc["y"].tolist() == [m["bor"] for m in metrics]
    fig = plots["bor_vs_oacc"].draw(sc)
    drawn = fig.axes[0].collections[0].get_offsets()
    assert np.allclose(drawn, [[100 * m["oacc"], m["bor"]] for m in metrics])
    sw = plots["swaps"].data
    for m, label in zip(metrics, ["colour", "centre"]):
        for t in ("random", "close", "far", "same"):
            row = sw[(sw["label"] == label) & (sw["swap"] == t) & (sw["metric"] == "sberr")].iloc[0]
            assert row["value"] == m[f"sberr_{t}"] and row["err"] == P.ERR_CI  # hat eval writes bootstrap bounds
            assert (row["lo"], row["hi"]) == (m[f"sberr_{t}_lo"], m[f"sberr_{t}_hi"])
    fig = plots["swaps"].draw(sw)
    heights = [p.get_height() for p in fig.axes[0].patches]  # SHAcc panel: per run, one bar per swap type
    assert np.allclose(heights, [100 * m[f"shacc_{t}"] for m in metrics for t in ("random", "close", "far", "same")])
    pb = plots["p_vs_b"].data
    assert pb["x"].tolist() == [m["b_top1"] for m in metrics] and pb["y"].tolist() == [m["p_top1"] for m in metrics]
    assert "95 % bootstrap" in plots["swaps"].caption and "95 % bootstrap" in plots["bor_vs_oacc"].caption


def test_bootstrap_bounds_are_drawn_when_present(runs, tmp_path):
    res = json.loads((runs[0] / "results.json").read_text())
    res["metrics"].update(oacc_lo=0.1, oacc_hi=0.6, bor_lo=0.8, bor_hi=1.2)
    df = pd.DataFrame([{**R.row_from_results(res), "oacc_lo": 0.1, "oacc_hi": 0.6, "bor_lo": 0.8, "bor_hi": 1.2}])
    d = P.scatter_data(df, "oacc", "bor")
    assert d.iloc[0][["x_lo", "x_hi", "y_lo", "y_hi"]].tolist() == [0.1, 0.6, 0.8, 1.2]
    plot = P.board_plots(df)[0]
    assert "95 % bootstrap" in plot.caption
    fig = plot.draw(plot.data)
    segs = [s for c in fig.axes[0].collections[1:] for s in c.get_segments()]  # the error bar lines
    xs = sorted({round(float(v), 6) for s in segs for v in s[:, 0]})
    assert 10.0 in xs and 60.0 in xs


def test_class_bias_and_confusion_match_the_predictions(runs):
    pred, meta = read_predictions(runs[0] / "predictions.parquet")
    classes = meta["benchmark"]["classes"]
    per_class = pd.read_csv(runs[0] / "per_class.csv")
    cb = P.class_bias_data(pred, classes)
    assert np.allclose(cb["bo_acc"], per_class["background_only_top1"])
    one = P.class_bias_data(pred[pred["set"].isin(["background_only", "swap_far"])], classes)
    assert np.allclose(one["sberr"], per_class["sberr_far"])
    n, as_bg = P.swap_confusion(pred, len(classes))
    sw = pred[pred["set"].str.startswith("swap_")]
    assert n.sum() == len(sw) and as_bg.sum() == int((sw["pred_1"] == sw["bg_label"]).sum())
    out = P.swap_outcomes(pred)
    assert (out["as_person"] + out["as_background"] + out["other"] == out["clips"]).all()


def test_confusion_and_scene_right_by_hand():
    pred = pd.DataFrame({
        "set": ["swap_far"] * 3 + ["original", "background_only", "human_only"] * 2,
        "video_id": ["a", "b", "c", "v", "v", "v", "w", "w", "w"],
        "label": [0, 0, 1, 2, 2, 2, 1, 1, 1], "bg_label": [1, 1, 0, -1, -1, -1, -1, -1, -1],
        "pred_1": [1, 0, 2, 2, 2, 0, 1, 0, 0],
    })
    n, as_bg = P.swap_confusion(pred, 3)
    assert n[0, 1] == 2 and as_bg[0, 1] == 1 and n[1, 0] == 1 and as_bg[1, 0] == 0
    assert P.top_confusions(pred, ["x", "y", "z"]).values.tolist() == [["x", "y", "y", 1], ["y", "x", "z", 1]]
    assert P.scene_right(pred) == ["v"]  # w: wrong on Background-Only


# --- the site -----------------------------------------------------------------------------------------


def _local_refs(root: Path) -> list[tuple[Path, str]]:
    refs = []
    for page in root.rglob("*.html"):
        for ref in re.findall(r'(?:src|href)="([^"]+)"', page.read_text()):
            if not ref.startswith(("http:", "https:", "data:", "#")):
                refs.append((page, ref))
    return refs


def test_site_pages_and_every_local_link(site, tiny_bench, runs):
    b = Benchmark(tiny_bench)
    for rel in ("index.html", "benchmark.html", "results.html", "assets/style.css", "assets/sort.js",
                "runs/colour.html", "runs/centre.html", R.MARK):
        assert (site / rel).is_file(), rel
    assert {p.stem for p in (site / "classes").glob("*.html")} == set(b.classes)
    for page, ref in _local_refs(site):
        target = (page.parent / ref.split("#")[0]).resolve()
        assert target.is_file(), f"{page.name}: {ref}"
        assert not ref.startswith("/"), ref  # relative: the folder can move
    for page in site.rglob("*.html"):
        assert not re.search(r'(?:src|href)="(?:https?:)?//', page.read_text()), page  # no network fetch
    assert len(list((site / "strips").glob("*.jpg"))) >= 3 and len(list((site / "previews").glob("*.webp"))) >= 3
    for fmt in ("png", "pdf", "svg"):
        assert (site / "img" / f"bor_vs_oacc.{fmt}").stat().st_size > 0
    html = (site / "benchmark.html").read_text()
    for s in b.available_sets():
        assert f"<td>{s}</td>" in html
    assert "scene_heatmap.png" in html and "coverage.png" in html


def test_sample_is_fixed_and_flagged_videos_get_strips(bench_copy, tmp_path):
    b = Benchmark(bench_copy)
    sample = R.sample_videos(b, 2)
    assert sample == R.sample_videos(Benchmark(bench_copy), 2) and R.sample_videos(b, 5)[:2] == sample
    other = next(v for v in b.videos["video_id"] if v not in sample)
    m = pd.read_csv(bench_copy / "manifest.csv", keep_default_na=False, dtype={"video_id": str})
    m["flags"] = m["flags"].astype(str)
    m.loc[m["video_id"] == other, ["flags", "notes"]] = ["flicker", "a frame unlike both neighbours"]
    m.to_csv(bench_copy / "manifest.csv", index=False)
    out = tmp_path / "rep"
    R.write_report(bench_copy, [], out, R.ReportConfig(sample=2, thumbs=1))
    html = (out / "benchmark.html").read_text()
    assert f'id="v-{other}"' in html and "a frame unlike both neighbours" in html
    assert {p.stem for p in (out / "strips").glob("*.jpg")} == set(sample) | {other}
    assert "No runs" in (out / "index.html").read_text()


def test_rerun_replaces_a_report_never_another_folder(site, tiny_bench, tmp_path):
    out = tmp_path / "rep"
    R.write_report(tiny_bench, [], out, R.ReportConfig(sample=1, thumbs=0))
    (out / "stale.txt").write_text("old")
    R.write_report(tiny_bench, [], out, R.ReportConfig(sample=1, thumbs=0))
    assert not (out / "stale.txt").exists() and (out / "index.html").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    with pytest.raises(HatError, match="not a hat report"):
        R.write_report(tiny_bench, [], mine)
    assert (mine / "notes.txt").read_text() == "keep"


def _one_line_error(capsys, args: list, match: str) -> None:
    assert main([str(a) for a in args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and match in err, err


def test_bad_input_is_one_line_before_any_work(tiny_bench, bench_copy, runs, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(R.Site, "clip", lambda *a, **k: pytest.fail("work started"))
    out = tmp_path / "rep"
    # a run of another benchmark: refused (its ids and clips are not this benchmark's)
    other = tmp_path / "other_run"
    shutil.copytree(runs[0], other)
    res = json.loads((other / "results.json").read_text())
    res["benchmark"].update(hash="0123456789abcdef", name="elsewhere")
    (other / "results.json").write_text(json.dumps(res))
    _one_line_error(capsys, ["report", "--bench", tiny_bench, other, "--out", out], "evaluated on benchmark 'elsewhere'")
    _one_line_error(capsys, ["report", "--bench", tmp_path / "nope", "--out", out], "not a finished benchmark")
    (tmp_path / "empty").mkdir()
    _one_line_error(capsys, ["report", "--bench", tiny_bench, tmp_path / "empty", "--out", out], "no results in")
    _one_line_error(capsys, ["report", "--bench", tiny_bench, tmp_path / "missing", "--out", out], "results not found")
    _one_line_error(capsys, ["report", "--bench", tiny_bench, "--frames", "0", "--out", out], "--frames must be at least 1")
    (bench_copy / "pairs.csv").unlink()
    _one_line_error(capsys, ["report", "--bench", bench_copy, "--out", out], "lacks pairs.csv")
    assert not out.exists()


def test_partial_benchmark_refused_before_any_image(bench_copy, tmp_path, capsys, monkeypatch):
    b = Benchmark(bench_copy)
    first = R.sample_videos(b, 1)[0]
    b._store.path("inpaint", first, "npz").unlink()
    monkeypatch.setattr(R.Site, "clip", lambda *a, **k: pytest.fail("work started"))
    _one_line_error(capsys, ["report", "--bench", bench_copy, "--sample", "1", "--out", tmp_path / "rep"],
                    f"inpaint of '{first}'")
    assert not (tmp_path / "rep").exists()


def test_leaderboard_plot(runs, tmp_path, capsys):
    plots = tmp_path / "plots"
    assert main(["leaderboard", *map(str, runs), "-o", str(tmp_path / "b.csv"), "--plot", str(plots)]) == 0
    for name in ("bor_vs_oacc", "swaps", "p_vs_b"):
        for fmt in ("png", "pdf", "svg"):
            assert (plots / f"{name}.{fmt}").stat().st_size > 0
    assert "bor_vs_oacc: BOR against OAcc" in (plots / "captions.txt").read_text()
    first = {p.name: p.read_bytes() for p in plots.iterdir()}
    assert main(["leaderboard", *map(str, runs), "-o", str(tmp_path / "b.csv"), "--plot", str(plots)]) == 0
    assert {p.name: p.read_bytes() for p in plots.iterdir()} == first  # no dates or ids: reruns write the same bytes
    from hat.leaderboard import load_rows, merge

    from_csv = P.swap_data(merge(load_rows([tmp_path / "b.csv"])))  # the leaderboard alone gives the same numbers
    from_runs = P.swap_data(merge(load_rows(runs)))
    assert np.allclose(from_csv[["value", "lo", "hi"]], from_runs[["value", "lo", "hi"]], rtol=0, atol=1e-6)  # the CSV keeps 6 digits
    empty = tmp_path / "empty.csv"
    empty.write_text("benchmark,model\n")
    capsys.readouterr()
    _one_line_error(capsys, ["leaderboard", empty, "-o", tmp_path / "d.csv", "--plot", plots], "no rows to plot")
    assert not (tmp_path / "d.csv").exists()


# --- in a real browser --------------------------------------------------------------------------------

CHROMIUM = find_chromium()
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason=f"no chromium for the browser test; {INSTALL_HINT}")


@needs_chromium
def test_browser_check_can_fail(tmp_path):
    (tmp_path / "bad.html").write_text('<!DOCTYPE html><html><head><link rel="icon" href="data:,"></head><body>'
                                       '<img src="missing.png"><script>console.error("boom")</script></body></html>')
    with Chromium(CHROMIUM) as c:
        got = c.open((tmp_path / "bad.html").as_uri())
    assert got["broken_images"] == ["missing.png"]
    assert any("boom" in e for e in got["errors"]) and got["failed"]


@needs_chromium
@pytest.mark.slow
def test_report_loads_in_chromium(site, tmp_path):
    pages = ["index.html", "benchmark.html", "results.html", "runs/colour.html",
             next((site / "classes").glob("*.html")).relative_to(site).as_posix()]
    with Chromium(CHROMIUM) as c:
        for rel in pages:
            got = c.open((site / rel).resolve().as_uri())
            assert not got["errors"], (rel, got["errors"])
            assert not got["failed"], (rel, got["failed"])
            assert not got["broken_images"], (rel, got["broken_images"])
            assert got["images"] > 0, rel
            shot = tmp_path / f"{rel.replace('/', '_')}.png"
            shot.write_bytes(got["png"])
            assert got["png"][:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 5000


def test_board_table_shows_later_metrics_with_their_bars():
    df = pd.DataFrame([{"model": "m", "page": "m", "n_videos": 40, "oacc": 0.5, "oacc_lo": 0.4, "oacc_hi": 0.6,
                        "bor": 0.9, "hor": 0.3, "p_top1": 0.2, "b_top1": 0.1,
                        "scuba_places_top1": 0.25, "scuba_places_top1_std": 0.05}])
    html = R.board_table(df)
    assert "<th>scuba_places_top1</th>" in html and "scuba_places_top1_std</th>" not in html
    assert '<td class="num" data-v="0.25">25.0 <small>± 5.0</small></td>' in html
    assert '<td class="num" data-v="0.5">50.0 <small>[40.0, 60.0]</small></td>' in html
    assert 'href="runs/m.html"' in html
