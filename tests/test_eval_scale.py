"""Eval at scale (issue 12, eval half): parts written as they complete, resume, loader workers, several models.

Every path must give the bytes one serial, uninterrupted run gives: ``SOURCE_DATE_EPOCH`` pins the
one field that would differ (when the run was written).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from hat.bench import Benchmark
from hat.cli import main
from hat.engines.eval import LocalEngine, default_loader_workers, video_blocks
from hat.evaluate import PARTS_DIR, evaluate, evaluate_many, predict_items, write_predictions
from hat.models import load_model

ROOT = Path(__file__).resolve().parents[1]
FILES = ("predictions.parquet", "results.json", "per_class.csv")
SETS = "original,human_only,swap_random"

#: scores from the pixels (so a wrong clip shows), and hooks a test arms by writing a file next to the plugin:
#: kill-at N kills this process at the N-th forward call, kill-children-at N kills its child processes
PLUGIN = '''
import multiprocessing, os, signal
from pathlib import Path
import numpy as np

HERE = Path(__file__).resolve().parent
calls = [0]

def _armed(name):
    trigger = HERE / name
    if trigger.is_file() and calls[0] >= int(trigger.read_text()):
        trigger.unlink()  # once: a retried or resumed run goes through
        return True
    return False

def make(classes):
    def f(clips):
        calls[0] += 1
        if _armed("kill-at"):
            os.kill(os.getpid(), signal.SIGKILL)
        if _armed("kill-children-at"):
            for p in multiprocessing.active_children():
                os.kill(p.pid, signal.SIGKILL)
        x = clips.reshape(len(clips), -1).astype(np.float64)
        return np.stack([x[:, j::7].mean(1) for j in range(len(classes))], 1)
    return f
'''


def plugin(folder: Path, name: str = "pix.py") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(PLUGIN)
    return path


def same_files(a: Path, b: Path) -> None:
    for name in FILES:
        assert (a / name).read_bytes() == (b / name).read_bytes(), f"{name} differs between {a} and {b}"


@pytest.fixture(autouse=True)
def _pinned_time(monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")


def test_video_blocks_keep_a_videos_clips_together():
    from hat.bench import Item

    items = [Item("original", 0, v, 0) for v in "aaabbc"]
    assert video_blocks(items, [0, 1, 2, 3, 4, 5]) == [[0, 1, 2], [3, 4], [5]]
    assert video_blocks(items, [0, 2, 3, 5]) == [[0], [2], [3], [5]]  # a gap starts a new block
    assert video_blocks(items, [0, 1, 2], max_clips=2) == [[0, 1], [2]]
    assert 0 <= default_loader_workers() <= 4


def test_parts_are_today_serial_predictions(tiny_bench, tmp_path):
    """Written through parts (several, one per 8 clips) = the serial loop's rows written at once."""
    b = Benchmark(tiny_bench)
    model = load_model(f"python:{plugin(tmp_path)}:make", classes=b.classes)
    res = evaluate(model, b, tmp_path / "parts", sets=SETS.split(","), batch_size=4, part_size=8)
    pred = predict_items(model, b, list(b.items(SETS.split(","))), batch_size=4)
    got = pd.read_parquet(tmp_path / "parts" / "predictions.parquet")
    pd.testing.assert_frame_equal(got, pred)
    assert res["metrics"]["n_videos"] == len(b.videos)
    assert not (tmp_path / "parts" / PARTS_DIR).exists(), "parts are removed once the run is complete"
    # the file equals what today's single write gives for the same rows and description
    import pyarrow.parquet as pq
    import json

    meta = json.loads(pq.read_table(tmp_path / "parts" / "predictions.parquet").schema.metadata[b"hat"])
    write_predictions(tmp_path / "once.parquet", pred, meta)
    assert (tmp_path / "once.parquet").read_bytes() == (tmp_path / "parts" / "predictions.parquet").read_bytes()


def test_loader_workers_give_the_serial_bytes(tiny_bench, tmp_path):
    b = Benchmark(tiny_bench)
    model = load_model(f"python:{plugin(tmp_path)}:make", classes=b.classes)
    sets = SETS.split(",")
    evaluate(model, b, tmp_path / "serial", sets=sets, batch_size=4, part_size=8, engine=LocalEngine(0))
    evaluate(model, b, tmp_path / "two", sets=sets, batch_size=4, part_size=8, engine=LocalEngine(2, prefetch=1))
    same_files(tmp_path / "serial", tmp_path / "two")


def _eval_cmd(bench: Path, model: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "hat", "eval", "--model", f"python:{model}:make", "--bench", str(bench), "--out", str(out),
            "--sets", SETS, "--batch-size", "4", "--part-size", "8", *extra]


def test_killed_eval_resumes_to_the_same_bytes(tiny_bench, tmp_path):
    model = plugin(tmp_path / "m")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "SOURCE_DATE_EPOCH": "1700000000"}
    whole = subprocess.run(_eval_cmd(tiny_bench, model, tmp_path / "whole", "--loader-workers", "0"), env=env,
                           capture_output=True, text=True, timeout=300)
    assert whole.returncode == 0, whole.stderr
    (model.parent / "kill-at").write_text("7")  # two forward calls a part: three parts written, the fourth lost
    cmd = _eval_cmd(tiny_bench, model, tmp_path / "run", "--loader-workers", "1")
    killed = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert killed.returncode == -9, killed.stderr
    parts = sorted(p.name for p in (tmp_path / "run" / PARTS_DIR).glob("part-*.parquet"))
    assert parts == ["part-000000.parquet", "part-000001.parquet", "part-000002.parquet"]
    assert not (tmp_path / "run" / "predictions.parquet").exists()
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    same_files(tmp_path / "whole", tmp_path / "run")


def test_dead_compose_worker_is_one_error_and_the_rerun_resumes(tiny_bench, tmp_path, capsys):
    model = plugin(tmp_path / "m")
    args = ["eval", "--model", f"python:{model}:make", "--bench", str(tiny_bench), "--sets", SETS, "--batch-size", "4",
            "--part-size", "8"]
    assert main([*args, "--out", str(tmp_path / "whole"), "--loader-workers", "0"]) == 0
    (model.parent / "kill-children-at").write_text("5")
    capsys.readouterr()
    assert main([*args, "--out", str(tmp_path / "run"), "--loader-workers", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "compose worker process died" in err and "rerun the same command" in err
    assert len(list((tmp_path / "run" / PARTS_DIR).glob("part-*.parquet"))) >= 2
    assert main([*args, "--out", str(tmp_path / "run"), "--loader-workers", "1"]) == 0
    same_files(tmp_path / "whole", tmp_path / "run")


def test_parts_of_other_settings_are_never_mixed_in(tiny_bench, tmp_path, capsys):
    model = plugin(tmp_path / "m")
    out = tmp_path / "run"
    (model.parent / "kill-children-at").write_text("3")
    args = ["eval", "--model", f"python:{model}:make", "--bench", str(tiny_bench), "--out", str(out), "--batch-size", "4"]
    assert main([*args, "--sets", SETS, "--part-size", "8", "--loader-workers", "1"]) == 2
    assert (out / PARTS_DIR / "part-000000.parquet").is_file()
    capsys.readouterr()
    assert main([*args, "--sets", "original", "--part-size", "8"]) == 2
    err = capsys.readouterr().err
    assert "unfinished parts of a run with other settings" in err and "sets" in err and "--overwrite" in err
    assert main([*args, "--sets", SETS, "--part-size", "16"]) == 2
    assert "--part-size 8" in capsys.readouterr().err
    assert main([*args, "--sets", "original", "--part-size", "8", "--overwrite"]) == 0
    assert pd.read_parquet(out / "predictions.parquet")["set"].eq("original").all()


def test_several_models_compose_once_and_write_what_each_writes_alone(tiny_bench, tmp_path, monkeypatch):
    b = Benchmark(tiny_bench)
    a = load_model(f"python:{plugin(tmp_path / 'a')}:make", classes=b.classes)
    c = load_model(f"python:{plugin(tmp_path / 'c', 'other.py')}:make", classes=b.classes)
    sets = SETS.split(",")
    evaluate(a, b, tmp_path / "a_alone", sets=sets, batch_size=4, part_size=8)
    evaluate(c, b, tmp_path / "c_alone", sets=sets, batch_size=4, part_size=8)
    composed = []
    real = Benchmark.compose
    monkeypatch.setattr(Benchmark, "compose", lambda self, item: composed.append(item) or real(self, item))
    evaluate_many([a, c], b, [tmp_path / "a", tmp_path / "c"], sets=sets, batch_size=4, part_size=8)
    assert len(composed) == len(list(b.items(sets))), "each clip composed once for both models"
    same_files(tmp_path / "a_alone", tmp_path / "a")
    same_files(tmp_path / "c_alone", tmp_path / "c")


def test_several_models_on_the_command_line(tiny_bench, tmp_path, capsys):
    ma, mb = plugin(tmp_path / "a"), plugin(tmp_path / "b", "other.py")
    base = ["eval", "--bench", str(tiny_bench), "--sets", "original", "--loader-workers", "0"]
    assert main([*base, "--model", f"python:{ma}:make", "--out", str(tmp_path / "a_alone")]) == 0
    assert main([*base, "--model", f"python:{mb}:make", "--out", str(tmp_path / "b_alone")]) == 0
    assert main([*base, "--model", f"python:{ma}:make", "--model", f"python:{mb}:make",
                 "--out", str(tmp_path / "a"), "--out", str(tmp_path / "b")]) == 0
    same_files(tmp_path / "a_alone", tmp_path / "a")
    same_files(tmp_path / "b_alone", tmp_path / "b")
    capsys.readouterr()
    assert main([*base, "--model", f"python:{ma}:make", "--model", f"python:{mb}:make", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "one --out per --model" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("extra, says", [
    (["--ray-address", "auto"], "--ray-address applies to --engine ray"),
    (["--loader-workers", "-1"], "--loader-workers must be 0"),
    (["--engine", "ray", "--loader-workers", "2"], "--loader-workers applies to --engine local"),
    (["--part-size", "0"], "--part-size must be at least 1"),
])
def test_bad_engine_flags_one_line_nothing_written(tiny_bench, tmp_path, capsys, extra, says):
    out = tmp_path / "run"
    assert main(["eval", "--model", f"python:{plugin(tmp_path)}:make", "--bench", str(tiny_bench), "--out", str(out),
                 *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert says in err and len(err.splitlines()) == 1
    assert not out.exists()
