"""``--out`` that cannot be created: one line, exit 2, before any work (issue 19 item 1)."""

from __future__ import annotations

from pathlib import Path

import pytest

import hat.pipeline
from hat.cli import main


def _blocked(tmp_path: Path) -> Path:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    return blocker


def _no_work(*_a, **_k):
    raise AssertionError("work started before --out was checked")


@pytest.mark.parametrize("where", ["under-a-file", "proc"])
def test_every_command_refuses_an_out_it_cannot_make(tiny_bench, tmp_path, capsys, monkeypatch, where):
    if where == "proc" and not Path("/proc/self").is_dir():
        pytest.skip("no /proc on this system")
    base = _blocked(tmp_path) if where == "under-a-file" else Path("/proc")
    monkeypatch.setattr(hat.pipeline, "make_context", _no_work)
    monkeypatch.setattr("hat.export.export_masks", _no_work)
    (tmp_path / "pickles").mkdir()
    classes = tmp_path / "classes.txt"
    classes.write_text("a\nb\n")
    commands = {
        "build": ["build", "--out", base / "bench"],
        "eval": ["eval", "--model", "python:nowhere:make", "--bench", tiny_bench, "--out", base / "run"],
        "export": ["export", "--bench", tiny_bench, "--set", "masks", "--out", base / "exported"],
        "leaderboard": ["leaderboard", tmp_path / "no-results", "-o", base / "lb.csv"],
        "leaderboard --markdown": ["leaderboard", tmp_path / "no-results", "-o", tmp_path / "lb.csv", "--markdown", base / "lb.md"],
        "import-pairs": ["import-pairs", tmp_path / "pickles", "--classes", classes, "--out", base / "pairs.csv"],
        "publish": ["publish", "--bench", tiny_bench, "--out", base / "manifest"],
    }
    for name, args in commands.items():
        assert main([str(a) for a in args]) == 2, name
        err = capsys.readouterr().err.strip()
        assert err.startswith("hat: error: cannot write") and str(base) in err and len(err.splitlines()) == 1, (name, err)
    assert not (tmp_path / "lb.csv").exists()


def test_a_file_out_that_is_a_directory_is_refused(tmp_path, capsys):
    assert main(["leaderboard", str(tmp_path / "none"), "-o", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err
