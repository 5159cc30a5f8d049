"""Contrast accuracy, harmonic means, base/novel splits and restricted label spaces (issue 20), on hand-made predictions."""

import json
import textwrap

import numpy as np
import pandas as pd
import pytest

from hat.bench import Benchmark, Item
from hat.errors import HatError
from hat.evaluate import candidates_tag, evaluate, filter_items, read_class_list, restrict_scores
from hat.metrics import base_novel_metrics, compute_metrics, contrast_hits, harmonic_mean, per_class, video_hits
from hat.models.base import CallableClassifier, VideoClassifier


def _row(s, rep, vid, label, pred, bg_label=-1):
    r = {"set": s, "repeat": rep, "video_id": vid, "label": label, "bg_video": "", "bg_label": bg_label, "pred_1": pred}
    for j in range(2, 6):
        r[f"pred_{j}"] = (pred + j - 1) % 7
    return r


def _pred():
    """4 videos (labels 0, 0, 1, 2), 2 repeats. original: v0, v1, v2 right. SCUBA stripes / SCUFO stripes:
    repeat 0: SCUBA right on v0, v1, v2; SCUFO right on v1 -> contrast v0, v2 = 2/4
    repeat 1: SCUBA right on v0;         SCUFO right on v0 -> contrast 0/4"""
    labels = {"v0": 0, "v1": 0, "v2": 1, "v3": 2}
    rows = [_row("original", 0, v, l, l if v != "v3" else 5) for v, l in labels.items()]
    right = {("scuba", 0): {"v0", "v1", "v2"}, ("scufo", 0): {"v1"}, ("scuba", 1): {"v0"}, ("scufo", 1): {"v0"}}
    for (fam, rep), ok in right.items():
        for v, l in labels.items():
            rows.append(_row(f"{fam}_stripes", rep, v, l, l if v in ok else 6))
    return pd.DataFrame(rows)


def test_contrast_accuracy_is_computed_from_the_pairs():
    m = compute_metrics(_pred())
    assert m["scuba_stripes_top1"] == pytest.approx((3 / 4 + 1 / 4) / 2)
    assert m["scuba_stripes_top1_std"] == pytest.approx(0.25)
    assert m["scufo_stripes_top1"] == pytest.approx((1 / 4 + 1 / 4) / 2)
    # not SCUBA acc - SCUFO acc (0.25): per video, right on SCUBA and wrong on its own SCUFO twin
    assert m["contrast_stripes"] == pytest.approx((2 / 4 + 0) / 2)
    assert m["contrast_stripes_std"] == pytest.approx(0.25)
    assert m["n_scuba_stripes"] == 4 and m["repeats_scuba_stripes"] == 2
    assert m["scuba_still_top1"] is None and m["contrast_still"] is None
    # swapping which videos SCUFO gets right (same SCUFO accuracy) changes contrast: it is paired
    p = _pred()
    flip = (p["set"] == "scufo_stripes") & (p["repeat"] == 0)
    p.loc[flip & (p["video_id"] == "v1"), "pred_1"] = 6
    p.loc[flip & (p["video_id"] == "v3"), "pred_1"] = 2
    m2 = compute_metrics(p)
    assert m2["scufo_stripes_top1"] == m["scufo_stripes_top1"]
    assert m2["contrast_stripes"] == pytest.approx((3 / 4 + 0) / 2)


def test_contrast_ignores_scuba_clips_without_a_twin():
    p = _pred()
    p = p[~((p["set"] == "scufo_stripes") & (p["video_id"] == "v3"))]
    c = contrast_hits(video_hits(p), "stripes")
    assert len(c) == 6 and "v3" not in set(c["video_id"])


def test_harmonic_means():
    assert harmonic_mean(0.8, 0.2) == pytest.approx(0.32)
    assert harmonic_mean(0.0, 0.0) == 0.0 and harmonic_mean(None, 0.5) is None
    m = compute_metrics(_pred())
    assert m["oacc"] == 0.75
    assert m["hm_scuba_stripes"] == pytest.approx(harmonic_mean(0.75, 0.5))
    assert m["hm_scuba_stripes_top5"] == pytest.approx(harmonic_mean(m["oacc_top5"], m["scuba_stripes_top5"]))
    assert m["hm_swap_random"] is None  # no swap clips here
    pc = per_class(_pred(), ["a", "b", "c"])
    assert pc.loc[0, "contrast_stripes"] == pytest.approx(0.25)  # v0: r0 yes, r1 no; v1: never
    assert pc.loc[0, "hm_scuba_stripes"] == pytest.approx(harmonic_mean(1.0, 0.75))


def test_swap_hm_uses_shacc():
    rows = [_row("original", 0, f"v{i}", i % 2, i % 2) for i in range(4)]
    rows += [_row("swap_far", r, f"v{i}", i % 2, i % 2 if i < 1 + r else 3, bg_label=3) for r in range(2) for i in range(4)]
    m = compute_metrics(pd.DataFrame(rows))
    assert m["shacc_far"] == pytest.approx(0.375) and m["oacc"] == 1.0
    assert m["hm_swap_far"] == pytest.approx(harmonic_mean(1.0, 0.375))
    assert m["shacc_far_top5"] is not None and m["hm_swap_far_top5"] is not None


def test_base_novel_split():
    bn = base_novel_metrics(_pred(), [0])
    assert bn["base"]["oacc"] == 1.0 and bn["novel"]["oacc"] == 0.5
    assert bn["base"]["n_videos"] == 2 and bn["novel"]["n_videos"] == 2
    assert bn["hm"]["oacc"] == pytest.approx(harmonic_mean(1.0, 0.5))
    assert "n_videos" not in bn["hm"] and "oacc_std" not in bn["hm"]


def test_class_lists_by_name_or_index(tmp_path):
    classes = ["jump", "run", "wave"]
    f = tmp_path / "c.txt"
    f.write_text("wave\n# a comment\n0\n\n")
    assert read_class_list(f, classes) == [0, 2]
    f.write_text("Wave\n")
    with pytest.raises(HatError, match=r"'Wave' is not a class .*did you mean 'wave'"):
        read_class_list(f, classes)
    f.write_text("7\n")
    with pytest.raises(HatError, match="index 7 out of range"):
        read_class_list(f, classes)
    f.write_text("\n")
    with pytest.raises(HatError, match="no classes listed"):
        read_class_list(f, classes)


def test_restrict_scores_masks_or_expands():
    full = np.array([[5.0, 1.0, 3.0, 9.0]])
    out = restrict_scores(full, [1, 2], 4)
    assert np.isneginf(out[0, [0, 3]]).all() and out[0, 1] == 1.0 and out[0, 2] == 3.0
    only = restrict_scores(np.array([[0.2, 0.7]]), [1, 3], 4)  # a text classifier over the candidates
    assert only[0, 3] == 0.7 and only[0, 1] == 0.2 and np.isneginf(only[0, [0, 2]]).all()
    assert restrict_scores(full, None, 4) is full
    items = [Item("original", 0, "a", 0), Item("original", 0, "b", 2)]
    assert filter_items(items, [0, 1], drop_outside=True) == ([items[0]], 1)
    with pytest.raises(HatError, match=r"1 clips \(1 videos, e.g. b\) have a label outside the 2 candidate classes; add --drop-outside"):
        filter_items(items, [0, 1])


class _Favours3(VideoClassifier):
    """Prefers class 3 whatever it sees; a zero-shot stand-in returns one column per candidate."""

    name = "favours3"

    def __init__(self, zero_shot=False):
        self.zero_shot, self.cand = zero_shot, None

    def set_candidates(self, classes, candidates):
        if self.zero_shot:
            self.cand = candidates
        return self.zero_shot

    def predict(self, clips):
        if self.cand is not None:
            return np.tile(np.arange(len(self.cand), dtype=float)[::-1], (len(clips), 1))  # first candidate best
        return np.tile(np.array([0.0, 1.0, 2.0, 3.0]), (len(clips), 1))


def test_eval_with_candidates(tiny_bench, tmp_path):
    b = Benchmark(tiny_bench)
    cand = [0, 2]
    with pytest.raises(HatError, match="label outside the 2 candidate classes"):
        evaluate(_Favours3(), b, tmp_path / "x", sets=["original"], candidates=cand)
    assert not (tmp_path / "x").exists()
    res = evaluate(_Favours3(), b, tmp_path / "m", sets=["original", "scuba_stripes"], candidates=cand, drop_outside=True)
    pred = pd.read_parquet(tmp_path / "m" / "predictions.parquet")
    assert set(pred["label"]) <= set(cand) and "pred_3" not in pred.columns
    assert (pred["pred_1"] == 2).all() and (pred["pred_2"] == 0).all()  # class 3 is masked away
    assert res["eval"]["candidates"] == cand and res["eval"]["dropped_clips"] > 0
    assert res["eval"]["scored_by"] == "scores masked to the candidates"
    res = evaluate(_Favours3(zero_shot=True), b, tmp_path / "z", sets=["original"], candidates=cand, drop_outside=True)
    pred = pd.read_parquet(tmp_path / "z" / "predictions.parquet")
    assert (pred["pred_1"] == 0).all() and (pred["pred_2"] == 2).all()  # columns mapped back to class indices
    assert res["eval"]["scored_by"] == "text classifier over the candidates"
    # a run directory holding the full label space refuses a restricted run (and the other way round)
    evaluate(_Favours3(), b, tmp_path / "full", sets=["original"])
    with pytest.raises(HatError, match="already holds a run with other settings"):
        evaluate(_Favours3(), b, tmp_path / "full", sets=["original"], candidates=cand, drop_outside=True)


def test_cli_candidates_base_classes_and_leaderboard(tiny_bench, tmp_path, capsys, monkeypatch):
    from hat.cli import main

    monkeypatch.chdir(tmp_path)
    plug = tmp_path / "plug.py"
    plug.write_text(textwrap.dedent("""
        import numpy as np
        def make(classes):
            def f(clips):
                return np.tile(np.arange(len(classes), dtype=float), (len(clips), 1))
            return f
    """))
    b = Benchmark(tiny_bench)
    cf = tmp_path / "cand.txt"
    cf.write_text(f"{b.classes[1]}\n{b.classes[2]}\n")
    base = ["eval", "--model", f"python:{plug}:make", "--bench", str(tiny_bench), "--sets", "original,scuba_still,scufo_still"]
    capsys.readouterr()
    assert main(base + ["--candidates", str(cf)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--drop-outside" in err
    assert main(base + ["--drop-outside"]) == 2 and "applies to --candidates only" in capsys.readouterr().err
    assert main(base + ["--candidates", str(cf), "--drop-outside"]) == 0
    assert main(base) == 0
    runs = sorted(p.name for p in (tmp_path / "results").iterdir())
    tag = candidates_tag([1, 2])
    assert len(runs) == 2 and any(r.endswith(tag) for r in runs)
    restricted = next(tmp_path / "results" / r for r in runs if r.endswith(tag))
    full = next(tmp_path / "results" / r for r in runs if not r.endswith(tag))
    # base/novel split of every metric, recomputed from the predictions alone
    bf = tmp_path / "base.txt"
    bf.write_text("0\n1\n")
    assert main(["metrics", str(full / "predictions.parquet"), "--base-classes", str(bf)]) == 0
    res = json.loads((full / "results.json").read_text())
    assert res["base_novel"]["base_classes"] == [0, 1]
    assert res["base_novel"]["base"]["n_videos"] + res["base_novel"]["novel"]["n_videos"] == res["metrics"]["n_videos"]
    assert "scuba_still_top1" in res["base_novel"]["hm"]
    assert "base (2 classes) / novel" in capsys.readouterr().err
    # the leaderboard keeps the two label spaces apart and shows the SCUBA columns
    lb = tmp_path / "lb.csv"
    assert main(["leaderboard", str(full), str(restricted), "-o", str(lb), "--markdown", str(tmp_path / "lb.md")]) == 0
    df = pd.read_csv(lb, keep_default_na=False)
    assert len(df) == 2 and tag in set(df["protocol"])
    for c in ("scuba_still_top1", "scufo_still_top1", "contrast_still", "contrast_still_std", "hm_scuba_still", "hm_swap_far_top5"):
        assert c in df.columns
    md = (tmp_path / "lb.md").read_text()
    assert "SCUBA still" in md and "contrast still" in md and "HM SCUBA still" in md


def test_callable_models_scores_masked(tiny_bench, tmp_path):
    model = CallableClassifier(lambda clips: np.tile(np.array([4.0, 3.0, 2.0, 1.0]), (len(clips), 1)), "c")
    res = evaluate(model, Benchmark(tiny_bench), tmp_path / "r", sets=["original"], candidates=[1, 3], drop_outside=True)
    pred = pd.read_parquet(tmp_path / "r" / "predictions.parquet")
    assert (pred["pred_1"] == 1).all() and (pred["pred_2"] == 3).all()
    assert res["metrics"]["oacc"] == pytest.approx((pred["label"] == 1).mean())
