"""HAT's published pair pickles: read as plain data only, reported honestly, usable in a build."""

from __future__ import annotations

import pickle

import pandas as pd
import pytest

from conftest import SHARED, tiny_config
from hat.errors import HatError
from hat.hatpairs import import_hat_pairs, read_plain_pickle

PAIRS = SHARED / "data" / "hat-published-pairs"
K400 = SHARED / "data" / "labels" / "k400.txt"


class Evil:
    def __reduce__(self):
        import os

        return (os.system, ("touch hacked",))


def test_restricted_unpickler_refuses_globals(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "evil.pickle").write_bytes(pickle.dumps({"a/b": Evil()}, protocol=4))
    with pytest.raises(HatError, match="refused global posix.system|refused global os.system"):
        read_plain_pickle(tmp_path / "evil.pickle")
    assert not (tmp_path / "hacked").exists()
    (tmp_path / "ok.pickle").write_bytes(pickle.dumps({"c/v": ["d/w", 300, 2], "t": (1, 2.5, None, True)}, protocol=4))
    assert read_plain_pickle(tmp_path / "ok.pickle") == {"c/v": ["d/w", 300, 2], "t": (1, 2.5, None, True)}


@pytest.mark.skipif(not PAIRS.is_dir(), reason="../shared/data/hat-published-pairs not present")
def test_published_pairs_import_and_report():
    classes = [c for c in K400.read_text().splitlines() if c]
    pairs, rep = import_hat_pairs(PAIRS, classes)
    assert len(rep.files) == 12 and len(pairs) == sum(rep.files.values())
    assert set(pairs["set"]) == {"swap_random", "swap_close", "swap_far", "swap_same"}
    assert sorted(pairs["repeat"].unique()) == [0, 1, 2]
    # what the paper's numbers silently include
    assert rep.self_pairs.get("swap_same", 0) > 0
    assert not all(rep.same_foregrounds.values())  # some repeats cover different foreground sets
    assert {5631, 7860} <= {n for counts in rep.foregrounds.values() for n in counts}
    assert len(rep.missing_classes) == 3
    same = pairs[pairs["set"] == "swap_same"]
    assert (same["fg_class"] == same["bg_class"]).all()
    row = pairs.iloc[0]
    assert row["fg_class"] == classes[row["fg_label"]] and row["bg_class"] == classes[row["bg_label"]]
    assert len(row["fg_video"]) == len("--AbCB6WSN0_000018_000028")  # our k400 video ids


def test_build_with_given_pairs(tmp_path, tiny_bench):
    """A build told to use given pairs keeps exactly those whose videos are usable, with our labels and ranks."""
    from hat.pipeline import build

    sampled = pd.read_csv(tiny_bench / "pairs.csv", dtype={"fg_video": str, "bg_video": str})
    given = sampled[sampled["repeat"] == 0].copy()
    extra = given.iloc[:1].copy()
    extra["bg_video"] = "no-such-video"
    given = pd.concat([given, extra])[["set", "repeat", "fg_video", "bg_video", "fg_label"]]
    path = tmp_path / "given.csv"
    given.to_csv(path, index=False)
    out = tmp_path / "bench"
    summary = build(tiny_config(pairs_file=str(path)), out)
    got = pd.read_csv(out / "pairs.csv", dtype={"fg_video": str, "bg_video": str})
    assert len(got) == len(given) - 1 and (got["seed"] == -1).all()
    key = ["set", "repeat", "fg_video", "bg_video"]
    merged = got.merge(sampled, on=key, suffixes=("", "_s"))
    assert len(merged) == len(got)
    assert (merged["rank"] == merged["rank_s"]).all() and (merged["bg_label"] == merged["bg_label_s"]).all()
    assert any("1 given pairs dropped: background not usable here" in n for n in summary.notes)
    with pytest.raises(HatError, match="pairs file not found"):
        build(tiny_config(pairs_file=str(tmp_path / "nope.csv")), tmp_path / "bench2")
    assert not (tmp_path / "bench2").exists()  # refused before anything is written
