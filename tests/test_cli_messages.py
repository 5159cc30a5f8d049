"""Errors and notes are one line each, never folded at 80 columns; --workers below 1 refused (issue 19 items 3, 9)."""

from __future__ import annotations

from collections import Counter

import pytest

import hat.pipeline
from hat.cli import main
from hat.errors import HatError
from hat.pipeline import BuildSummary


@pytest.mark.parametrize("workers", ["0", "-1"])
def test_workers_below_one_refused(tmp_path, capsys, monkeypatch, workers):
    monkeypatch.setattr(hat.pipeline, "make_context", lambda *a, **k: pytest.fail("work started"))
    assert main(["build", "--out", str(tmp_path / "b"), "--workers", workers]) == 2
    err = capsys.readouterr().err.strip()
    assert "--workers" in err and workers in err and len(err.splitlines()) == 1, err
    with pytest.raises(HatError, match="workers must be 1 or more"):
        hat.pipeline.build(None, tmp_path / "b", workers=int(workers))


def test_long_notes_and_reasons_are_not_folded(tmp_path, capsys, monkeypatch):
    note = "a long note naming [something] " + " ".join(f"video_{i:03d}" for i in range(40))
    reason = "frames: cannot open video: " + "x" * 150
    summary = BuildSummary(out=tmp_path, total=3, failed=Counter({reason: 2}), notes=[note])
    monkeypatch.setattr(hat.pipeline, "build", lambda *a, **k: summary)
    assert main(["build", "--out", str(tmp_path / "b"), "--segmenter", "gt"]) == 0
    lines = capsys.readouterr().err.splitlines()
    assert f"note: {note}" in lines, lines
    assert f"  skipped 2: {reason}" in lines, lines


def test_long_error_is_one_line(tmp_path, capsys):
    long = "x" * 200
    assert main(["build", "--out", str(tmp_path / "b"), "--shard", long]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and long in err


def test_multi_line_error_is_printed_on_one_line(tmp_path, capsys, monkeypatch):
    def fail(*_a, **_k):
        raise HatError("cannot read x (torch says:\n  line two\n  line three)")

    monkeypatch.setattr(hat.pipeline, "build", fail)
    assert main(["build", "--out", str(tmp_path / "b"), "--segmenter", "gt"]) == 2
    assert capsys.readouterr().err == "hat: error: cannot read x (torch says: line two line three)\n"
