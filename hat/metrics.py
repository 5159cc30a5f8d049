"""Every metric from a predictions table alone (one row per clip, with ids and labels).

OAcc, Background-Only accuracy and BOR, Human-Only accuracy and HOR (HAT); SHAcc and SBErr per
swap type as mean and std over repeats; P-top1 and B-top1 (the masking paper); per-class tables.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .pairs import SWAP_TYPES

PRED_BASE_COLUMNS = ["set", "repeat", "video_id", "label", "bg_video", "bg_label"]

#: below this many clips a top-1 accuracy's 95 % interval is wider than about ±18 points: say so
SMALL_N = 30
#: what each metric is computed over, as shown beside it
OVER_ALL = "all usable videos"
OVER_FG = "foregrounds × repeats"
OVER_OBJ = "videos with named objects"
#: per-set clip counts recorded in the metrics (``n_<set>``); swaps have ``n_swap_<type>`` × ``repeats_<type>``
COUNTED_SETS = ("background_only", "human_only", "masked_background", "masked_person",
                "masked_object_box", "masked_object_shape", "masked_background_objects")


#: metrics shown as ratios (two decimals), not percentages
RATIO_METRICS = ("bor", "hor")


def interval_halfwidth(n: int) -> float:
    """The widest 95 % normal-approximation half-width of an accuracy over n clips (at 50 %)."""
    return 1.96 * (0.25 / n) ** 0.5 if n else 1.0


def _topk_hit(df: pd.DataFrame, k: int) -> np.ndarray:
    cols = [c for c in (f"pred_{i}" for i in range(1, k + 1)) if c in df.columns]
    return (df[cols].to_numpy() == df["label"].to_numpy()[:, None]).any(axis=1)


def _acc(df: pd.DataFrame, k: int = 1) -> float | None:
    return float(_topk_hit(df, k).mean()) if len(df) else None


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def compute_metrics(pred: pd.DataFrame) -> dict[str, Any]:
    """Flat dict of metrics (fractions in 0..1; None where a set is absent)."""
    by_set = {s: g for s, g in pred.groupby("set")}
    empty = pred.iloc[:0]
    get = lambda s: by_set.get(s, empty)  # noqa: E731
    m: dict[str, Any] = {}
    orig = get("original")
    m["n_videos"] = int(len(orig))
    m["oacc"], m["oacc_top5"] = _acc(orig), _acc(orig, 5)
    m["bo_acc"], m["bo_acc_top5"] = _acc(get("background_only")), _acc(get("background_only"), 5)
    m["ho_acc"], m["ho_acc_top5"] = _acc(get("human_only")), _acc(get("human_only"), 5)
    m["bor"], m["hor"] = _ratio(m["bo_acc"], m["oacc"]), _ratio(m["ho_acc"], m["oacc"])
    m["p_top1"], m["b_top1"] = _acc(get("masked_background")), _acc(get("masked_person"))
    m["obj_box_top1"], m["obj_shape_top1"] = _acc(get("masked_object_box")), _acc(get("masked_object_shape"))
    m["p_obj_top1"] = _acc(get("masked_background_objects"))
    for s in COUNTED_SETS:
        m[f"n_{s}"] = int(len(get(s)))
    fg_ids: set[str] = set()
    for t in SWAP_TYPES:
        sw = get(f"swap_{t}")
        fg_ids |= set(sw["video_id"])
        sh, sb = [], []
        for _, g in sw.groupby("repeat"):
            sh.append(float((g["pred_1"] == g["label"]).mean()))
            sb.append(float((g["pred_1"] == g["bg_label"]).mean()))
        m[f"shacc_{t}"] = float(np.mean(sh)) if sh else None
        m[f"shacc_{t}_std"] = float(np.std(sh)) if sh else None
        m[f"sberr_{t}"] = float(np.mean(sb)) if sb else None
        m[f"sberr_{t}_std"] = float(np.std(sb)) if sb else None
        m[f"n_swap_{t}"] = int(len(sw) // max(len(sh), 1)) if sh else 0
        m[f"repeats_{t}"] = len(sh)
    m["n_foregrounds"] = len(fg_ids)
    m["oacc_fg"] = _acc(orig[orig["video_id"].isin(fg_ids)]) if fg_ids else None
    return m


def per_class(pred: pd.DataFrame, classes: list[str]) -> pd.DataFrame:
    """A row per class (as the foreground / true class): accuracy on every set.

    One groupby over all clips (a filter per class and set took a minute at Kinetics size).
    """
    g = pd.DataFrame({"set": pred["set"], "label": pred["label"], "top1": _topk_hit(pred, 1),
                      "bg1": (pred["pred_1"] == pred["bg_label"]).to_numpy()}).groupby(["set", "label"])
    mean = g[["top1", "bg1"]].mean()
    top1, bg1, count = mean["top1"].to_dict(), mean["bg1"].to_dict(), g.size().to_dict()
    rows = []
    for c, name in enumerate(classes):
        row: dict[str, Any] = {"label": c, "class": name, "n": int(count.get(("original", c), 0))}
        for s in ("original", "background_only", "human_only", "masked_background", "masked_person",
                  "masked_object_box", "masked_object_shape", "masked_background_objects"):
            row[f"{s}_top1"] = float(top1[(s, c)]) if (s, c) in top1 else None
        for t in SWAP_TYPES:
            key = (f"swap_{t}", c)
            row[f"shacc_{t}"] = float(top1[key]) if key in top1 else None
            row[f"sberr_{t}"] = float(bg1[key]) if key in bg1 else None
        rows.append(row)
    return pd.DataFrame(rows)


def format_summary(m: dict[str, Any], intervals: bool = False) -> list[tuple[str, ...]]:
    """(metric, value, n, what it covers) lines for the terminal, fractions shown as percentages.

    n is the number of clips behind the value, so one foreground video never reads like a result.
    ``intervals``: (metric, value, interval, n, what it covers), the interval ``[lo, hi]`` of each value
    shown from the ``<metric>_lo`` / ``_hi`` keys (blank for results written without them).
    """
    pct = lambda v: "-" if v is None else f"{100 * v:.1f}"  # noqa: E731
    ratio = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
    nv = m.get("n_videos", 0)
    n_of = lambda s: str(m.get(f"n_{s}", nv))  # noqa: E731  (results written before per-set counts)
    rows: list[tuple[str, str, str, str, tuple[str, ...]]] = [
        ("OAcc top-1 / top-5", f"{pct(m['oacc'])} / {pct(m['oacc_top5'])}", str(nv), OVER_ALL, ("oacc", "oacc_top5")),
        ("Background-Only acc, BOR", f"{pct(m['bo_acc'])}, {ratio(m['bor'])}", n_of("background_only"), OVER_ALL,
         ("bo_acc", "bor")),
        ("Human-Only acc, HOR", f"{pct(m['ho_acc'])}, {ratio(m['hor'])}", n_of("human_only"), OVER_ALL, ("ho_acc", "hor"))]
    for t in SWAP_TYPES:
        if m.get(f"shacc_{t}") is not None:
            rows.append((f"Swap {t}: SHAcc, SBErr", f"{pct(m[f'shacc_{t}'])} ± {pct(m[f'shacc_{t}_std'])}, "
                         f"{pct(m[f'sberr_{t}'])} ± {pct(m[f'sberr_{t}_std'])}",
                         f"{m[f'n_swap_{t}']} × {m[f'repeats_{t}']}", OVER_FG, (f"shacc_{t}", f"sberr_{t}")))
    rows.append(("P-top1 (background masked)", pct(m["p_top1"]), n_of("masked_background"), OVER_ALL, ("p_top1",)))
    rows.append(("B-top1 (person boxes masked)", pct(m["b_top1"]), n_of("masked_person"), OVER_ALL, ("b_top1",)))
    for key, s, what in (("obj_box_top1", "masked_object_box", "Object boxes masked top-1"),
                         ("obj_shape_top1", "masked_object_shape", "Object shapes masked top-1"),
                         ("p_obj_top1", "masked_background_objects", "Background + objects masked top-1")):
        if m.get(key) is not None:
            rows.append((what, pct(m[key]), n_of(s), OVER_OBJ, (key,)))
    if not intervals:
        return [r[:4] for r in rows]

    def bounds(key: str) -> str:
        lo, hi = m.get(f"{key}_lo"), m.get(f"{key}_hi")
        if lo is None or hi is None:
            return "-"
        f = ratio if key in RATIO_METRICS else pct
        return f"[{f(lo)}, {f(hi)}]"

    return [(label, value, ", ".join(map(bounds, keys)) if any(f"{k}_lo" in m for k in keys) else "", n, over)
            for label, value, n, over, keys in rows]


def small_n_warning(m: dict[str, Any]) -> str | None:
    """One line when the smallest sample behind a shown metric is too small to read differences from."""
    counts = [m.get("n_videos", 0)] + [m[f"n_swap_{t}"] for t in SWAP_TYPES if m.get(f"shacc_{t}") is not None]
    counts = [c for c in counts if c]
    if not counts or min(counts) >= SMALL_N:
        return None
    n = min(counts)
    return (f"small sample: {n} clips behind some metrics (fewer than {SMALL_N}); an accuracy over {n} clips has a 95 % "
            f"interval up to ±{100 * interval_halfwidth(n):.0f} points, so differences of that size are noise")
