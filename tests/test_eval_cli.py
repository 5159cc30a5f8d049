"""Evaluation through the CLI: demo and plugin models, results, metrics rerun, leaderboard, export."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hat.bench import Benchmark, Item
from hat.cli import main
from hat.video import read_frames

PLUGIN = '''
import numpy as np

def constant(classes):
    """Always class 1 first, class 0 second."""
    def f(clips):
        s = np.zeros((len(clips), len(classes)))
        s[:, 1], s[:, 0] = 2.0, 1.0
        return s
    return f

def not_a_model():
    return 42

def nan_scores(classes):
    return lambda clips: np.full((len(clips), len(classes)), np.nan)
'''


def run(*args):
    return main([str(a) for a in args])


@pytest.fixture(scope="module")
def demo_ckpt(tiny_bench, tmp_path_factory):
    out = tmp_path_factory.mktemp("models") / "frame.pt"
    assert run("train-demo", "--bench", tiny_bench, "--arch", "demo-frame", "--epochs", "1", "--out", out) == 0
    return out


def test_eval_demo_model_metrics_and_leaderboard(tiny_bench, demo_ckpt, tmp_path):
    out = tmp_path / "run"
    assert run("eval", "--model", demo_ckpt, "--bench", tiny_bench, "--out", out, "--batch-size", "7") == 0
    res = json.loads((out / "results.json").read_text())
    assert res["model"]["arch"] == "demo-frame" and len(res["model"]["hash"]) == 16
    m = res["metrics"]
    for k in ("oacc", "bor", "hor", "shacc_random", "sberr_far", "p_top1", "b_top1", "shacc_same_std"):
        assert m[k] is not None, k
    pred = pd.read_parquet(out / "predictions.parquet")
    b = Benchmark(tiny_bench)
    n_pairs = len(b.pairs) + 2 * len(b.scuba)  # each SCUBA row gives a SCUBA and a SCUFO clip
    assert len(b.scuba) == 16 * 3 * 2  # stripes and still by default, 3 repeats
    assert len(pred) == 16 * 5 + n_pairs
    assert {"video_id", "bg_video", "label", "bg_label", "pred_1", "score_4"} <= set(pred.columns)
    # metrics recomputed from the predictions file alone are identical
    before = (out / "results.json").read_text()
    (out / "results.json").unlink()
    assert run("metrics", out / "predictions.parquet") == 0
    assert json.loads((out / "results.json").read_text())["metrics"] == json.loads(before)["metrics"]
    per_class = pd.read_csv(out / "per_class.csv")
    assert len(per_class) == 4
    # leaderboard: fixed columns, one row; merging the CSV with the same results again adds nothing
    lb = tmp_path / "lb.csv"
    assert run("leaderboard", out, "-o", lb, "--markdown", tmp_path / "lb.md") == 0
    df = pd.read_csv(lb)
    assert list(df.columns[:6]) == ["benchmark", "model", "arch", "protocol", "n_videos", "oacc"] and len(df) == 1
    assert run("leaderboard", lb, out / "results.json", "-o", tmp_path / "lb2.csv") == 0
    assert len(pd.read_csv(tmp_path / "lb2.csv")) == 1
    assert "SHAcc random" in (tmp_path / "lb.md").read_text()


def test_plugin_model_and_sets_subset(tiny_bench, tmp_path):
    plug = tmp_path / "myplug.py"
    plug.write_text(PLUGIN)
    out = tmp_path / "plug"
    assert run("eval", "--model", f"python:{plug}:constant", "--bench", tiny_bench, "--out", out,
               "--sets", "original,swap_random") == 0
    m = json.loads((out / "results.json").read_text())["metrics"]
    man = pd.read_csv(tiny_bench / "manifest.csv")
    assert m["oacc"] == pytest.approx((man["label"] == 1).mean())
    assert m["oacc_top5"] == 1.0  # 4 classes: the top 5 holds them all
    assert m["bo_acc"] is None and m["shacc_random"] is not None
    pairs = pd.read_csv(tiny_bench / "pairs.csv")
    r = pairs[pairs["set"] == "swap_random"]
    assert m["sberr_random"] == pytest.approx((r["bg_label"] == 1).mean())


def test_bad_input_one_line_exit_2(tiny_bench, tmp_path, capsys):
    plug = tmp_path / "badplug.py"
    plug.write_text(PLUGIN)
    cases = [
        (["build", "--source", "kinetics", "--out", tmp_path / "x"], "unknown source 'kinetics' (valid:"),
        (["build", "--inpainter", "lama", "--out", tmp_path / "x"], "unknown inpainter 'lama' (valid: e2fgvi, propagate)"),
        (["build", "--shard", "3/2", "--out", tmp_path / "x"], "--shard must look like i/N"),
        (["eval", "--model", f"python:{plug}:constant", "--bench", tiny_bench, "--sets", "swap_near"], "unknown set 'swap_near'"),
        (["eval", "--model", "nope.pt", "--bench", tiny_bench], "is not a checkpoint file, a registered model"),
        (["eval", "--model", f"python:{plug}:not_a_model", "--bench", tiny_bench], "returned a int"),
        (["eval", "--model", f"python:{plug}:missing", "--bench", tiny_bench], "has no 'missing'"),
        (["eval", "--model", "x", "--bench", tmp_path], "is not a finished benchmark"),
        (["export", "--bench", tiny_bench, "--set", "original", "--out", tmp_path / "e", "--format", "gif"], "unknown export format 'gif'"),
        (["metrics", tmp_path / "none.parquet"], "predictions file not found"),
        (["eval", "--model", f"python:{plug}:nan_scores", "--bench", tiny_bench, "--out", tmp_path / "n"], "NaN or infinite"),
        (["eval", "--model", f"python:{plug}:constant", "--bench", tiny_bench, "--batch-size", "0"], "batch size must be at least 1"),
        (["build", "--limit", "-3", "--out", tmp_path / "x"], "limit must be at least 1"),
        (["export", "--bench", tiny_bench, "--set", "swap_far", "--out", tmp_path / "e", "--repeat", "7"], "no repeat 7 in swap_far"),
        (["build", "--out", tmp_path / "x", "--bogus"], "No such option"),
    ]
    for args, msg in cases:
        assert run(*args) == 2, args
        err = capsys.readouterr().err.strip()
        assert msg in err, (args, err)
        assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert not (tmp_path / "x").exists() and not (tmp_path / "e").exists()


def test_missing_artifact_is_named(bench_copy, tmp_path, capsys):
    plug = tmp_path / "p.py"
    plug.write_text(PLUGIN)
    victim = sorted((bench_copy / "artifacts" / "inpaint").glob("*.npz"))[0]
    victim.unlink()
    assert run("eval", "--model", f"python:{plug}:constant", "--bench", bench_copy, "--out", tmp_path / "o") == 2
    err = capsys.readouterr().err
    assert "artifact missing for video" in err and victim.stem in err


def test_untrusted_pickle_refused(tiny_bench, tmp_path, capsys):
    import torch

    bad = tmp_path / "evil.pt"
    torch.save({"hat_arch": "demo-frame", "obj": Path("/")}, bad)
    assert run("eval", "--model", bad, "--bench", tiny_bench) == 2
    assert "--trust-checkpoint" in capsys.readouterr().err
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, other)
    assert run("eval", "--model", other, "--bench", tiny_bench) == 2
    assert "layout not recognised" in capsys.readouterr().err


@pytest.mark.parametrize("fmt", ["mp4", "frames"])
def test_export_is_pixel_identical(tiny_bench, tmp_path, fmt):
    out = tmp_path / "exp"
    assert run("export", "--bench", tiny_bench, "--set", "swap_close", "--out", out, "--format", fmt, "--repeat", "1") == 0
    table = pd.read_csv(out / "swap_close.csv", keep_default_na=False)
    b = Benchmark(tiny_bench)
    assert len(table) == ((b.pairs["set"] == "swap_close") & (b.pairs["repeat"] == 1)).sum()
    row = table.iloc[0]
    want = b.compose(Item("swap_close", 1, row["video_id"], int(row["label"]), row["bg_video"], int(row["bg_label"])))
    if fmt == "mp4":
        got = read_frames(out / row["file"], np.arange(len(want)))
    else:
        import cv2

        got = np.stack([cv2.imread(str(p))[..., ::-1] for p in sorted((out / row["file"]).glob("*.png"))])
    assert np.array_equal(got, want)


def test_console_script_and_module_entry(tiny_bench):
    r = subprocess.run([sys.executable, "-m", "hat", "list"], capture_output=True, text=True)
    assert r.returncode == 0 and "synthetic" in r.stdout and "propagate" in r.stdout and "swap_far" in r.stdout
    r = subprocess.run([sys.executable, "-m", "hat", "eval", "--model", "x", "--bench", "/nonexistent"], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.count("\n") == 1


@pytest.mark.parametrize("layout", ["rawframes", "videos"])
def test_export_mmaction_lists(tiny_bench, tmp_path, layout):
    """MMAction2's RawframeDataset / VideoDataset list files, per repeat for swaps, files pixel-identical."""
    import cv2

    out = tmp_path / "mm"
    assert run("export", "--bench", tiny_bench, "--set", "swap_random", "--out", out, "--format", "mmaction",
               "--layout", layout) == 0
    b = Benchmark(tiny_bench)
    sw = b.pairs[b.pairs["set"] == "swap_random"]
    whole = (out / f"swap_random_list_{layout}.txt").read_text().splitlines()
    assert len(whole) == len(sw)
    for rep in sorted(sw["repeat"].unique()):
        lines = (out / f"swap_random_r{rep}_list_{layout}.txt").read_text().splitlines()
        assert len(lines) == (sw["repeat"] == rep).sum()
    table = pd.read_csv(out / "swap_random.csv", keep_default_na=False)
    first = whole[0].split(" ")
    row = table.iloc[0]
    want = b.compose(Item("swap_random", int(row["repeat"]), row["video_id"], int(row["label"]), row["bg_video"], int(row["bg_label"])))
    if layout == "rawframes":
        rel, n, label = first
        assert int(n) == len(want) and int(label) == row["label"]
        got = np.stack([cv2.imread(str(out / rel / f"img_{t:05d}.png"))[..., ::-1] for t in range(1, len(want) + 1)])
    else:
        rel, label = first
        assert rel.endswith(".mp4") and int(label) == row["label"]
        got = read_frames(out / rel, np.arange(len(want)))
    assert np.array_equal(got, want)
    assert run("export", "--bench", tiny_bench, "--set", "original", "--out", out, "--format", "mmaction", "--layout", "lmdb") == 2
