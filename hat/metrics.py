"""Every metric from a predictions table alone (one row per clip, with ids and labels).

OAcc, Background-Only accuracy and BOR, Human-Only accuracy and HOR (HAT); SHAcc and SBErr per
swap type as mean and std over repeats; P-top1 and B-top1 (the masking paper); per-class tables.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .pairs import SWAP_TYPES
from .scuba import SCUBA_SOURCES, scuba_set, scufo_set
from .sets import CLIP_SETS, COUNTED_SETS, MASKED_SETS

PRED_BASE_COLUMNS = ["set", "repeat", "video_id", "label", "bg_video", "bg_label"]

#: below this many clips a top-1 accuracy's 95 % interval is wider than about ±18 points: say so
SMALL_N = 30
#: what each metric is computed over, as shown beside it
OVER_ALL = "all usable videos"
OVER_FG = "foregrounds × repeats"
OVER_OBJ = "videos with named objects"


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
    for cs in CLIP_SETS:  # keys in this order: top-1/top-5 accuracies, their ratios to OAcc, the masking sets
        if cs.top5:
            m[cs.metric], m[f"{cs.metric}_top5"] = _acc(get(cs.name)), _acc(get(cs.name), 5)
    for cs in CLIP_SETS:
        if cs.ratio:
            m[cs.ratio] = _ratio(m[cs.metric], m["oacc"])
    for cs in MASKED_SETS:
        m[cs.metric] = _acc(get(cs.name))
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
    hits = video_hits(pred)
    for t in SWAP_TYPES:
        m[f"shacc_{t}_top5"], _ = over_repeats(hits, f"swap_{t}", "hit5")
    m.update(scuba_metrics(hits))
    m.update(hm_metrics(m))
    return m


# ----------------------------------------------------------------------------- per-video counts, SCUBA, HM
# Every metric below is a function of per-video hits (one row per set, repeat and video: hit1, hit5 are the
# sums of that video's per-clip hits), so a bootstrap over videos can recompute it from a resampled table.


def video_hits(pred: pd.DataFrame) -> pd.DataFrame:
    """Per (set, repeat, video): clips n, top-1 hits hit1, top-5 hits hit5 (each set has one clip there)."""
    df = pd.DataFrame({"set": pred["set"], "repeat": pred["repeat"].astype(int), "video_id": pred["video_id"].astype(str),
                       "label": pred["label"].astype(int), "n": 1,
                       "hit1": _topk_hit(pred, 1).astype(int), "hit5": _topk_hit(pred, 5).astype(int)})
    return df.groupby(["set", "repeat", "video_id"], sort=True, as_index=False).agg(
        label=("label", "first"), n=("n", "sum"), hit1=("hit1", "sum"), hit5=("hit5", "sum"))


def contrast_hits(hits: pd.DataFrame, src: str) -> pd.DataFrame:
    """Per (repeat, video): 1 where the SCUBA clip is right (top-1) and its SCUFO twin wrong, from the pair.

    Only videos with both clips count: a SCUBA clip whose frozen twin was not scored says nothing.
    """
    a = hits[hits["set"] == scuba_set(src)][["repeat", "video_id", "label", "hit1"]]
    b = hits[hits["set"] == scufo_set(src)][["repeat", "video_id", "hit1"]]
    pair = a.merge(b, on=["repeat", "video_id"], suffixes=("_scuba", "_scufo"))
    return pair.assign(set=f"contrast_{src}", n=1, hit1=((pair["hit1_scuba"] > 0) & (pair["hit1_scufo"] == 0)).astype(int))


def over_repeats(hits: pd.DataFrame, set_name: str | None, col: str = "hit1") -> tuple[float | None, float | None]:
    """Mean and std over repeats of the per-repeat accuracy sum(col) / sum(n); (None, None) when absent."""
    df = hits if set_name is None else hits[hits["set"] == set_name]
    if df.empty:
        return None, None
    g = df.groupby("repeat")
    acc = (g[col].sum() / g["n"].sum()).to_numpy(dtype=np.float64)
    return float(acc.mean()), float(acc.std())


def harmonic_mean(ic: float | None, oc: float | None) -> float | None:
    """HM = 2·IC·OC / (IC + OC) of an in-context and an out-of-context accuracy (0 when both are 0)."""
    if ic is None or oc is None:
        return None
    return 2 * ic * oc / (ic + oc) if ic + oc else 0.0


def scuba_metrics(hits: pd.DataFrame) -> dict[str, Any]:
    """SCUBA top-1/top-5, SCUFO top-1 and contrast accuracy per background source, mean and std over repeats."""
    m: dict[str, Any] = {}
    for src in SCUBA_SOURCES:
        a, f = scuba_set(src), scufo_set(src)
        for key, set_name, col in ((f"{a}_top1", a, "hit1"), (f"{a}_top5", a, "hit5"), (f"{f}_top1", f, "hit1")):
            m[key], m[f"{key}_std"] = over_repeats(hits, set_name, col)
        m[f"contrast_{src}"], m[f"contrast_{src}_std"] = over_repeats(contrast_hits(hits, src), None)
        sub = hits[hits["set"] == a]
        m[f"n_{a}"] = int(sub["video_id"].nunique())
        m[f"repeats_{a}"] = int(sub["repeat"].nunique())
    return m


def hm_metrics(m: dict[str, Any]) -> dict[str, Any]:
    """HM of OAcc (in context) with each out-of-context accuracy: each swap type's SHAcc, each SCUBA source."""
    out: dict[str, Any] = {}
    for t in SWAP_TYPES:
        out[f"hm_swap_{t}"] = harmonic_mean(m.get("oacc"), m.get(f"shacc_{t}"))
        out[f"hm_swap_{t}_top5"] = harmonic_mean(m.get("oacc_top5"), m.get(f"shacc_{t}_top5"))
    for src in SCUBA_SOURCES:
        out[f"hm_scuba_{src}"] = harmonic_mean(m.get("oacc"), m.get(f"scuba_{src}_top1"))
        out[f"hm_scuba_{src}_top5"] = harmonic_mean(m.get("oacc_top5"), m.get(f"scuba_{src}_top5"))
    return out


#: metrics that are accuracies (fractions), so a base and a novel value have a harmonic mean
def _is_accuracy(key: str, value: Any) -> bool:
    return isinstance(value, float) and not key.startswith(("n_", "repeats_")) and not key.endswith("_std") \
        and key not in ("bor", "hor")


def base_novel_metrics(pred: pd.DataFrame, base: list[int]) -> dict[str, Any]:
    """Every metric over the base classes' videos and over the others (novel), and HM(base, novel) of each accuracy.

    The base-to-novel protocol of open-vocabulary papers; a clip belongs to its (foreground) label's half.
    """
    is_base = pred["label"].astype(int).isin(set(base))
    b, n = compute_metrics(pred[is_base]), compute_metrics(pred[~is_base])
    hm = {k: harmonic_mean(b[k], n.get(k)) for k, v in b.items() if _is_accuracy(k, v) and isinstance(n.get(k), float)}
    return {"base_classes": sorted(int(c) for c in base), "base": b, "novel": n, "hm": hm}


def _per_class_over_repeats(hits: pd.DataFrame) -> dict[int, float]:
    """Per label: the mean over repeats of sum(hit1) / sum(n), as :func:`over_repeats` computes it for one class."""
    g = hits.groupby(["label", "repeat"], sort=True)
    acc = g["hit1"].sum() / g["n"].sum()
    return {int(c): float(a.to_numpy(dtype=np.float64).mean()) for c, a in acc.groupby(level=0)}


def per_class(pred: pd.DataFrame, classes: list[str]) -> pd.DataFrame:
    """A row per class (as the foreground / true class): accuracy on every set.

    One groupby over all clips (a filter per class and set took a minute at Kinetics size).
    """
    g = pd.DataFrame({"set": pred["set"], "label": pred["label"], "top1": _topk_hit(pred, 1), "top5": _topk_hit(pred, 5),
                      "bg1": (pred["pred_1"] == pred["bg_label"]).to_numpy()}).groupby(["set", "label"])
    mean = g[["top1", "top5", "bg1"]].mean()
    top1, top5, bg1, count = mean["top1"].to_dict(), mean["top5"].to_dict(), mean["bg1"].to_dict(), g.size().to_dict()
    hits = video_hits(pred) if pred["set"].str.startswith("scu").any() else None
    rows = []
    for c, name in enumerate(classes):
        row: dict[str, Any] = {"label": c, "class": name, "n": int(count.get(("original", c), 0))}
        for s in (cs.name for cs in CLIP_SETS):
            row[f"{s}_top1"] = float(top1[(s, c)]) if (s, c) in top1 else None
        for t in SWAP_TYPES:
            key = (f"swap_{t}", c)
            row[f"shacc_{t}"] = float(top1[key]) if key in top1 else None
            row[f"sberr_{t}"] = float(bg1[key]) if key in bg1 else None
        rows.append(row)
    # SCUBA / SCUFO pooled over repeats; contrast and its mean over repeats from the per-video pairs
    for src in SCUBA_SOURCES:
        for set_name, col, key in ((scuba_set(src), top1, f"scuba_{src}_top1"), (scuba_set(src), top5, f"scuba_{src}_top5"),
                                   (scufo_set(src), top1, f"scufo_{src}_top1")):
            for row in rows:
                row[key] = float(col[(set_name, row["label"])]) if (set_name, row["label"]) in col else None
        contrast = _per_class_over_repeats(contrast_hits(hits, src)) if hits is not None else {}
        for row in rows:
            row[f"contrast_{src}"] = contrast.get(row["label"])
    for row in rows:
        for t in SWAP_TYPES:
            row[f"hm_swap_{t}"] = harmonic_mean(row["original_top1"], row[f"shacc_{t}"])
        for src in SCUBA_SOURCES:
            row[f"hm_scuba_{src}"] = harmonic_mean(row["original_top1"], row[f"scuba_{src}_top1"])
    return pd.DataFrame(rows)


#: the terminal's longer names of the masking metrics (tables use ClipSet.head)
_SUMMARY_LABEL = {"p_top1": "P-top1 (background masked)", "b_top1": "B-top1 (person boxes masked)"}


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
    for src in SCUBA_SOURCES:
        if m.get(f"scuba_{src}_top1") is not None:
            pm = lambda k: f"{pct(m.get(k))} ± {pct(m.get(f'{k}_std'))}"  # noqa: E731
            n = f"{m.get(f'n_scuba_{src}', 0)} × {m.get(f'repeats_scuba_{src}', 0)}"
            rows.append((f"SCUBA {src}: top-1 / top-5", f"{pm(f'scuba_{src}_top1')} / {pct(m.get(f'scuba_{src}_top5'))}", n,
                         OVER_FG, (f"scuba_{src}_top1", f"scuba_{src}_top5")))
            rows.append((f"SCUFO {src} top-1, contrast acc", f"{pm(f'scufo_{src}_top1')}, {pm(f'contrast_{src}')}", n, OVER_FG,
                         (f"scufo_{src}_top1", f"contrast_{src}")))
    for x, what in [(f"swap_{t}", f"SHAcc {t}") for t in SWAP_TYPES] + [(f"scuba_{s}", f"SCUBA {s}") for s in SCUBA_SOURCES]:
        if m.get(f"hm_{x}") is not None:
            rows.append((f"HM(OAcc, {what}) top-1 / top-5", f"{pct(m[f'hm_{x}'])} / {pct(m.get(f'hm_{x}_top5'))}", "",
                         "in/out of context", (f"hm_{x}", f"hm_{x}_top5")))
    for cs in MASKED_SETS:  # the base ones always (a dash when absent), the object ones where measured
        if cs.family == "base" or m.get(cs.metric) is not None:
            rows.append((_SUMMARY_LABEL.get(cs.metric, cs.head), pct(m[cs.metric]), n_of(cs.name),
                         OVER_ALL if cs.family == "base" else OVER_OBJ, (cs.metric,)))
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
    counts += [m.get(f"n_scuba_{s}", 0) for s in SCUBA_SOURCES if m.get(f"scuba_{s}_top1") is not None]
    counts = [c for c in counts if c]
    if not counts or min(counts) >= SMALL_N:
        return None
    n = min(counts)
    return (f"small sample: {n} clips behind some metrics (fewer than {SMALL_N}); an accuracy over {n} clips has a 95 % "
            f"interval up to ±{100 * interval_halfwidth(n):.0f} points, so differences of that size are noise")
