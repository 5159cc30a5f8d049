"""Runs name themselves, never overwrite another run's settings silently, and show their sample size."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from hat.bench import Benchmark
from hat.cli import main
from hat.evaluate import protocol_tag
from hat.leaderboard import sample_size, to_markdown
from hat.metrics import SMALL_N, format_summary, small_n_warning

PLUGIN = '''
import numpy as np

def make(classes):
    def f(clips):
        s = np.zeros((len(clips), len(classes)))
        s[:, {top}] = 1.0
        return s
    return f
'''


def run(*args):
    return main([str(a) for a in args])


def plugin(folder, name, top=1):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(PLUGIN.format(top=top))
    return path


def test_two_plugins_named_make_get_their_own_runs(tiny_bench, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    a, b = plugin(tmp_path / "x", "alpha.py", 1), plugin(tmp_path / "y", "beta.py", 2)
    assert run("eval", "--model", f"python:{a}:make", "--bench", tiny_bench, "--sets", "original") == 0
    assert run("eval", "--model", f"python:{b}:make", "--bench", tiny_bench, "--sets", "original") == 0
    runs = sorted(p.name for p in (tmp_path / "results").iterdir())
    assert runs == [f"alpha-make__{tiny_bench.name}", f"beta-make__{tiny_bench.name}"]
    res = json.loads((tmp_path / "results" / runs[0] / "results.json").read_text())
    assert res["model"]["name"] == "alpha:make"


def test_rerun_with_other_settings_is_refused_before_work(tiny_bench, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    a = plugin(tmp_path / "x", "alpha.py", 1)
    out = tmp_path / "run"
    assert run("eval", "--model", f"python:{a}:make", "--bench", tiny_bench, "--out", out, "--sets", "original") == 0
    before = (out / "predictions.parquet").read_bytes()
    # the same settings again: allowed (the same run)
    assert run("eval", "--model", f"python:{a}:make", "--bench", tiny_bench, "--out", out, "--sets", "original") == 0
    capsys.readouterr()
    # other sets, or another model file under the same name: refused, nothing touched
    assert run("eval", "--model", f"python:{a}:make", "--bench", tiny_bench, "--out", out, "--sets", "original,human_only") == 2
    err = capsys.readouterr().err.strip()
    assert "already holds a run with other settings" in err and "sets" in err and "--overwrite" in err
    assert len(err.splitlines()) == 1
    a.write_text(PLUGIN.format(top=2))
    assert run("eval", "--model", f"python:{a}:make", "--bench", tiny_bench, "--out", out, "--sets", "original") == 2
    assert "model.hash" in capsys.readouterr().err
    assert (out / "predictions.parquet").read_bytes()[:100] == before[:100]
    assert run("eval", "--model", f"python:{a}:make", "--bench", tiny_bench, "--out", out, "--sets", "original",
               "--overwrite") == 0
    pred = pd.read_parquet(out / "predictions.parquet")
    assert (pred["pred_1"] == 2).all()


def test_out_that_cannot_be_made_fails_before_work(tiny_bench, tmp_path, capsys):
    a = plugin(tmp_path / "x", "alpha.py", 1)
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert run("eval", "--model", f"python:{a}:make", "--bench", tiny_bench, "--out", blocker / "run") == 2
    assert "is not a directory" in capsys.readouterr().err


def test_plugin_module_found_in_current_directory(tiny_bench, tmp_path, monkeypatch):
    """python:pkg.mod:fn finds modules in the current directory, as python -m does."""
    pkg = tmp_path / "mypkg"
    plugin(pkg, "models.py", 1)
    (pkg / "__init__.py").write_text("")
    monkeypatch.chdir(tmp_path)
    assert run("eval", "--model", "python:mypkg.models:make", "--bench", tiny_bench, "--sets", "original") == 0
    assert (tmp_path / "results" / f"mypkg.models-make__{tiny_bench.name}" / "results.json").is_file()


def test_predictions_carry_class_names(tiny_bench, tmp_path):
    a = plugin(tmp_path / "x", "alpha.py", 1)
    out = tmp_path / "run"
    assert run("eval", "--model", f"python:{a}:make", "--bench", tiny_bench, "--out", out,
               "--sets", "original,swap_random") == 0
    pred = pd.read_parquet(out / "predictions.parquet")
    classes = Benchmark(tiny_bench).classes
    assert (pred["class"] == [classes[i] for i in pred["label"]]).all()
    assert (pred["pred_1_class"] == classes[1]).all()
    swaps = pred[pred["set"] == "swap_random"]
    assert (swaps["bg_class"] == [classes[i] for i in swaps["bg_label"]]).all()
    assert (pred.loc[pred["set"] == "original", "bg_class"] == "").all()


def test_protocol_tag_only_for_options_off_the_model_protocol():
    class M:
        default_templates = "photo"
        templates = ("a photo of a {}.",)

    assert protocol_tag(M(), {"device": "cuda", "precision": "fp32", "templates": "photo"}) == ""
    m = M()
    m.templates = ("a video of {}.",)
    tag = protocol_tag(m, {"frames": 16, "precision": "fp16", "templates": "a video of {}."})
    assert tag.startswith("16f-fp16-tpl") and len(tag) == len("16f-fp16-tpl") + 6


def test_summary_shows_n_and_what_each_metric_covers(tiny_bench, tmp_path, capsys):
    a = plugin(tmp_path / "x", "alpha.py", 1)
    out = tmp_path / "run"
    assert run("eval", "--model", f"python:{a}:make", "--bench", tiny_bench, "--out", out) == 0
    err = capsys.readouterr().err
    m = json.loads((out / "results.json").read_text())["metrics"]
    assert m["n_videos"] == 16 and m["n_background_only"] == 16 and m["n_masked_person"] == 16
    rows = {r[0]: r for r in format_summary(m)}
    assert rows["OAcc top-1 / top-5"][2:] == ("16", "all usable videos")
    assert rows["Swap random: SHAcc, SBErr"][2] == f"{m['n_swap_random']} × {m['repeats_random']}"
    assert rows["Swap random: SHAcc, SBErr"][3] == "foregrounds × repeats"
    assert "small sample" in err and "±" in err  # 16 videos < SMALL_N
    big = {**m, "n_videos": 500, **{f"n_swap_{t}": 400 for t in ("random", "close", "far", "same")}}
    assert small_n_warning(big) is not None  # the 16 SCUBA foregrounds are still a small sample
    assert small_n_warning({**big, "n_scuba_stripes": 400, "n_scuba_still": 400}) is None


def test_leaderboard_markdown_shows_n():
    row = {"benchmark": "b", "model": "m", "n_videos": 12, "n_foregrounds": 5, "repeats": 3, "oacc": 0.5}
    assert sample_size(row) == "12 / 5×3 (small n)"
    assert sample_size({**row, "n_videos": 19000, "n_foregrounds": 7000}) == "19000 / 7000×3"
    md = to_markdown(pd.DataFrame([row]))
    assert "| n |" in md and "12 / 5×3 (small n)" in md and f"fewer than {SMALL_N}" in md


@pytest.mark.parametrize("n", [1, 29])
def test_small_n_warning_names_the_interval(n):
    text = small_n_warning({"n_videos": n})
    assert text and f"{n} clips" in text
