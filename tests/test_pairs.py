import numpy as np
import pandas as pd

from hat.pairs import candidate_classes, sample_pairs

# 5 classes on a line: distance = |a - b|
DIST = np.abs(np.arange(5)[:, None] - np.arange(5)[None, :]).astype(float)
CLASSES = list("abcde")


def videos(per_class=3, fg_ok=lambda c, i: True, bg_ok=lambda c, i: True):
    rows = []
    for c in range(5):
        for i in range(per_class):
            rows.append({"video_id": f"{CLASSES[c]}{i}", "label": c, "fg_ok": fg_ok(c, i), "bg_ok": bg_ok(c, i)})
    return pd.DataFrame(rows)


def test_candidates_follow_scene_ranking():
    has = np.ones(5, bool)
    assert candidate_classes("close", 0, DIST, has, 2, 2).tolist() == [1, 2]
    assert candidate_classes("far", 0, DIST, has, 2, 2).tolist() == [4, 3]
    assert candidate_classes("random", 2, DIST, has, 2, 2).tolist() == [0, 1, 3, 4]
    assert candidate_classes("same", 2, DIST, has, 2, 2).tolist() == [2]
    has[1] = False  # a class without backgrounds is skipped, not counted
    assert candidate_classes("close", 0, DIST, has, 2, 2).tolist() == [2, 3]


def test_pairs_rules_and_columns():
    pairs, rep = sample_pairs(videos(), DIST, CLASSES, repeats=3, k_close=1, k_far=1, seed=7)
    assert list(pairs.columns) == ["set", "repeat", "fg_video", "fg_label", "fg_class", "bg_video", "bg_label",
                                   "bg_class", "scene_distance", "rank", "seed"]
    for s in ("swap_random", "swap_close", "swap_far", "swap_same"):
        assert (pairs["set"] == s).sum() == 15 * 3
    r = pairs[pairs["set"] == "swap_random"]
    assert (r["fg_label"] != r["bg_label"]).all()
    c = pairs[pairs["set"] == "swap_close"]
    assert ((c["fg_label"] - c["bg_label"]).abs() == 1).all() and (c["rank"] == 1).all()
    f = pairs[pairs["set"] == "swap_far"]
    assert (f["rank"] == 4).all() and (f["scene_distance"] >= 2).all()
    s = pairs[pairs["set"] == "swap_same"]
    assert (s["fg_label"] == s["bg_label"]).all() and (s["fg_video"] != s["bg_video"]).all()
    # the bg video really is of the bg class
    assert (pairs["bg_video"].str[0] == pairs["bg_class"]).all()
    # same foreground set in every repeat, distinct seeds
    fgs = [set(g["fg_video"]) for _, g in r.groupby("repeat")]
    assert fgs[0] == fgs[1] == fgs[2]
    assert pairs["seed"].nunique() == len(pairs)


def test_pairs_deterministic_and_order_independent():
    v = videos()
    a, _ = sample_pairs(v, DIST, CLASSES, seed=1, k_close=1, k_far=1)
    b, _ = sample_pairs(v, DIST, CLASSES, seed=1, k_close=1, k_far=1)
    assert a.equals(b)
    shuffled, _ = sample_pairs(v.sample(frac=1, random_state=0), DIST, CLASSES, seed=1, k_close=1, k_far=1)
    key = ["set", "repeat", "fg_video"]
    assert a.sort_values(key).reset_index(drop=True).equals(shuffled.sort_values(key).reset_index(drop=True))
    c, _ = sample_pairs(v, DIST, CLASSES, seed=2, k_close=1, k_far=1)
    assert not a.equals(c)


def test_filters_and_missing_report():
    # only 1 video per class: Same has no partner; class 'e' videos are never backgrounds
    v = videos(per_class=1, fg_ok=lambda c, i: c != 0, bg_ok=lambda c, i: c != 4)
    pairs, rep = sample_pairs(v, DIST, CLASSES, repeats=1, k_close=1, k_far=1)
    assert "a0" not in set(pairs["fg_video"])  # not a foreground
    assert "e0" not in set(pairs["bg_video"])  # not a background
    assert rep.missing[("same", "no other background video of the same class")] == 4
    assert (pairs[pairs["fg_video"] == "d0"]["bg_label"].isin([0, 1, 2])).all()


def test_scene_heatmap_and_extremes_by_hand():
    import cv2

    from hat.scene.ranking import extremes_table, heatmap_png, spectral_order

    # two scene families, interleaved in label order: {0, 2, 4} and {1, 3, 5}
    fam = np.array([0, 1, 0, 1, 0, 1])
    dist = np.where(fam[:, None] == fam[None, :], 0.1, 1.0) + 0.01 * np.abs(np.arange(6)[:, None] - np.arange(6)[None, :])
    np.fill_diagonal(dist, 0)
    order = spectral_order(dist)
    assert {tuple(sorted(order[:3])), tuple(sorted(order[3:]))} == {(0, 2, 4), (1, 3, 5)}  # families side by side
    names = [f"class {i}" for i in range(6)]
    img = cv2.imdecode(np.frombuffer(heatmap_png(dist, names), np.uint8), cv2.IMREAD_COLOR)
    assert img.shape[0] == 6 * 24 and img.shape[1] > 6 * 24  # 24 px cells and a margin for the names
    assert heatmap_png(dist, names) == heatmap_png(dist, names)
    ext = extremes_table(dist, names, k_close=2, n_far=1)
    assert ext.loc[0, "closest"] == "class 2; class 4" and ext.loc[0, "farthest"] == "class 5"
