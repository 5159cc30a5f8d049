"""Metrics on hand-made prediction tables with known answers, including oracle predictors."""

import numpy as np
import pandas as pd
import pytest

from hat.metrics import compute_metrics, per_class


def table(rows):
    df = pd.DataFrame(rows, columns=["set", "repeat", "video_id", "label", "bg_video", "bg_label", "pred_1", "pred_2"])
    return df


def base_rows(preds):
    """preds: {set: [(label, pred1, pred2), ...]}"""
    rows = []
    for s, items in preds.items():
        for i, (y, p1, p2) in enumerate(items):
            rows.append([s, 0, f"v{i}", y, "", -1, p1, p2])
    return rows


def swap_rows(n_rep, pairs, predict):
    rows = []
    for r in range(n_rep):
        for i, (ya, yb) in enumerate(pairs):
            p = predict(ya, yb, r, i)
            rows.append(["swap_random", r, f"v{i}", ya, f"b{i}", yb, p, (p + 1) % 5])
    return rows


PAIRS = [(0, 1), (1, 2), (2, 3), (3, 4)]


def test_known_accuracies_and_ratios():
    rows = base_rows({
        "original": [(0, 0, 1), (1, 1, 0), (2, 0, 2), (3, 0, 1)],  # top1 2/4, top5 3/4
        "background_only": [(0, 0, 1), (1, 0, 1), (2, 0, 1), (3, 0, 1)],  # 1/4
        "human_only": [(0, 0, 1), (1, 1, 0), (2, 2, 0), (3, 3, 0)],  # 4/4
        "masked_background": [(0, 0, 1), (1, 2, 0), (2, 1, 0), (3, 0, 1)],  # 1/4
        "masked_person": [(0, 1, 0), (1, 0, 1), (2, 0, 1), (3, 0, 1)],  # 0/4
    })
    m = compute_metrics(table(rows))
    assert m["n_videos"] == 4
    assert m["oacc"] == 0.5 and m["oacc_top5"] == 0.75
    assert m["bo_acc"] == 0.25 and m["bor"] == 0.5
    assert m["ho_acc"] == 1.0 and m["hor"] == 2.0
    assert m["p_top1"] == 0.25 and m["b_top1"] == 0.0
    assert m["shacc_close"] is None and m["repeats_close"] == 0


def test_oracle_background_predictor_has_sberr_one():
    m = compute_metrics(table(swap_rows(3, PAIRS, lambda ya, yb, r, i: yb)))
    assert m["sberr_random"] == 1.0 and m["shacc_random"] == 0.0
    assert m["sberr_random_std"] == 0.0 and m["repeats_random"] == 3 and m["n_swap_random"] == 4


def test_oracle_foreground_predictor_has_shacc_one():
    m = compute_metrics(table(swap_rows(3, PAIRS, lambda ya, yb, r, i: ya)))
    assert m["shacc_random"] == 1.0 and m["sberr_random"] == 0.0
    assert m["n_foregrounds"] == 4


def test_mean_and_std_over_repeats():
    # repeat 0: all right; repeat 1: half right; repeat 2: none right
    def pred(ya, yb, r, i):
        return ya if (r == 0 or (r == 1 and i < 2)) else yb
    m = compute_metrics(table(swap_rows(3, PAIRS, pred)))
    assert m["shacc_random"] == pytest.approx(0.5)
    assert m["shacc_random_std"] == pytest.approx(np.std([1.0, 0.5, 0.0]))
    assert m["sberr_random"] == pytest.approx(0.5)


def test_missing_original_gives_no_ratio():
    m = compute_metrics(table(base_rows({"background_only": [(0, 0, 1)]})))
    assert m["oacc"] is None and m["bor"] is None and m["bo_acc"] == 1.0


def test_per_class_table():
    rows = base_rows({"original": [(0, 0, 1), (0, 1, 0), (1, 1, 0)]}) + swap_rows(1, [(0, 1), (1, 0)], lambda ya, yb, r, i: yb)
    pc = per_class(table(rows), ["a", "b", "c"])
    assert pc["class"].tolist() == ["a", "b", "c"]
    assert pc.loc[0, "original_top1"] == 0.5 and pc.loc[1, "original_top1"] == 1.0
    assert pc.loc[0, "sberr_random"] == 1.0 and pc.loc[0, "shacc_random"] == 0.0
    assert pc.loc[2, "n"] == 0 and pd.isna(pc.loc[2, "original_top1"])
