"""Bootstrap intervals on every metric, and paired comparisons of two runs, from predictions alone.

The resampling unit is the video: a foreground video carries all its clips (original, its sets, its
swaps over every repeat), so the dependence between them is kept. Each clip's outcome is reduced once
to a video × cell matrix S of sums (clips and hits per set, repeat and kind of hit); a resample is a
vector of video weights (multinomial counts), so every resample's sums are one row of W @ S and each
metric is a small function of those sums. Metrics are declared once in :data:`METRICS` (and per class
in :data:`PER_CLASS`); the point estimate from the same declaration equals
:func:`hat.metrics.compute_metrics` exactly, so intervals and values never disagree.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import numpy as np
import pandas as pd

from .errors import HatError
from .metrics import _topk_hit, compute_metrics
from .pairs import SWAP_TYPES
from .scuba import SCUBA_SOURCES
from .sets import CLIP_SETS, MASKED_SETS

METHOD = "bootstrap-percentile"
LEVEL = 0.95
DEFAULT_RESAMPLES = 1000
DEFAULT_SEED = 0
#: resampling is stratified by class when the smallest class has at least this share of the largest's videos
BALANCED_RATIO = 0.8
#: per class, fewer originals right than this (the denominator of BOR and HOR) makes the ratios noise
MIN_RATIO_VIDEOS = 10
#: weights entries held at once (8 bytes each): bounds memory whatever the number of resamples
CHUNK_ENTRIES = 1 << 22


# ---------------------------------------------------------------------------------------------------------
# Cells: per video, a sum over its clips


@dataclass(frozen=True)
class Cell:
    """One column of the video × cell matrix: per video, how many of its clips of ``set`` (at ``repeat``) count.

    ``stat``: ``n`` (clips), ``top1`` / ``top5`` (the clip's label among the top k), ``bg1`` (top-1 is the
    background's class). With ``vs``, clips are matched with the clip of set ``vs`` of the same video and
    repeat, ``n`` counts matched pairs and a hit is ``stat`` holding on ``set`` and failing on ``vs``
    (SCUBA's contrast: right on the still background, wrong on its frozen twin). ``among="fg"`` counts
    only swap foregrounds.
    """

    set: str
    repeat: int
    stat: str
    vs: str = ""
    among: str = ""


Layout = dict[str, tuple[int, ...]]  # set -> repeats present
Getter = Callable[[Cell], np.ndarray]


def _hits(df: pd.DataFrame, stat: str) -> np.ndarray:
    if stat == "n":
        return np.ones(len(df), dtype=bool)
    if stat == "top1":
        return (df["pred_1"] == df["label"]).to_numpy()
    if stat == "top5":
        return _topk_hit(df, 5)
    if stat == "bg1":
        return (df["pred_1"] == df["bg_label"]).to_numpy()
    raise ValueError(f"unknown cell stat {stat!r}")


# ---------------------------------------------------------------------------------------------------------
# Metric declarations: each a function of cell sums (arrays of any shape, resamples on the leading axes)


class Metric:
    def cells(self, layout: Layout) -> list[Cell] | None:
        """The cells this metric reads, or None where the data lacks a set it needs."""
        raise NotImplementedError

    def value(self, get: Getter, layout: Layout) -> np.ndarray:
        raise NotImplementedError

    def clips(self) -> tuple[str, str, str] | None:
        """(set, stat, among) when the metric is a plain accuracy over clips (McNemar applies), else None."""
        return None


def _div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b != 0, a / np.where(b != 0, b, 1), np.nan)


@dataclass(frozen=True)
class Acc(Metric):
    """Hits over clips of one set, pooled over its repeats."""

    set: str
    stat: str = "top1"
    among: str = ""

    def cells(self, layout):
        reps = layout.get(self.set)
        if not reps:
            return None
        return [Cell(self.set, r, s, among=self.among) for r in reps for s in ("n", self.stat)]

    def value(self, get, layout):
        reps = layout[self.set]
        n = sum(get(Cell(self.set, r, "n", among=self.among)) for r in reps)
        h = sum(get(Cell(self.set, r, self.stat, among=self.among)) for r in reps)
        return _div(h, n)

    def clips(self):
        return (self.set, self.stat, self.among)


@dataclass(frozen=True)
class RepeatMean(Metric):
    """The accuracy of each repeat, averaged over repeats (SHAcc, SBErr; SCUBA's contrast with ``vs``)."""

    set: str
    stat: str = "top1"
    vs: str = ""

    def cells(self, layout):
        reps = layout.get(self.set)
        if not reps or (self.vs and not layout.get(self.vs)):
            return None
        return [Cell(self.set, r, s, vs=self.vs) for r in reps for s in ("n", self.stat)]

    def value(self, get, layout):
        per = [_div(get(Cell(self.set, r, self.stat, vs=self.vs)), get(Cell(self.set, r, "n", vs=self.vs)))
               for r in layout[self.set]]
        return np.stack(per, axis=-1).mean(axis=-1)  # rows contiguous: the same sum as np.mean of the list

    def clips(self):
        return None if self.vs else (self.set, self.stat, "")


@dataclass(frozen=True)
class Ratio(Metric):
    """num / den (BOR, HOR): undefined where den is 0."""

    num: Metric
    den: Metric

    def cells(self, layout):
        a, b = self.num.cells(layout), self.den.cells(layout)
        return None if a is None or b is None else a + b

    def value(self, get, layout):
        return _div(self.num.value(get, layout), self.den.value(get, layout))


@dataclass(frozen=True)
class HarmonicMean(Metric):
    """2ab / (a + b): in-context and out-of-context accuracy in one number (Open-MeDe's HM); 0 when both are 0."""

    a: Metric
    b: Metric

    def cells(self, layout):
        a, b = self.a.cells(layout), self.b.cells(layout)
        return None if a is None or b is None else a + b

    def value(self, get, layout):
        a, b = self.a.value(get, layout), self.b.value(get, layout)
        return np.where(a + b == 0, 0.0, _div(2 * a * b, a + b))


def _declare() -> dict[str, Metric]:
    m: dict[str, Metric] = {}
    for cs in CLIP_SETS:  # the same order as compute_metrics: accuracies with top-5, ratios, masking sets
        if cs.top5:
            m[cs.metric], m[f"{cs.metric}_top5"] = Acc(cs.name), Acc(cs.name, "top5")
    for cs in CLIP_SETS:
        if cs.ratio:
            m[cs.ratio] = Ratio(m[cs.metric], m["oacc"])
    for cs in MASKED_SETS:
        m[cs.metric] = Acc(cs.name)
    for t in SWAP_TYPES:
        m[f"shacc_{t}"], m[f"sberr_{t}"] = RepeatMean(f"swap_{t}"), RepeatMean(f"swap_{t}", "bg1")
        m[f"shacc_{t}_top5"] = RepeatMean(f"swap_{t}", "top5")
        m[f"hm_swap_{t}"] = HarmonicMean(m["oacc"], m[f"shacc_{t}"])
        m[f"hm_swap_{t}_top5"] = HarmonicMean(m["oacc_top5"], m[f"shacc_{t}_top5"])
    m["oacc_fg"] = Acc("original", among="fg")
    for src in SCUBA_SOURCES:
        a, b = f"scuba_{src}", f"scufo_{src}"
        m[f"{a}_top1"], m[f"{a}_top5"], m[f"{b}_top1"] = RepeatMean(a), RepeatMean(a, "top5"), RepeatMean(b)
        m[f"contrast_{src}"] = RepeatMean(a, "top1", vs=b)
        m[f"hm_{a}"] = HarmonicMean(m["oacc"], m[f"{a}_top1"])
        m[f"hm_{a}_top5"] = HarmonicMean(m["oacc_top5"], m[f"{a}_top5"])
    return m


#: every metric with an interval, by its results.json key; one line per new metric. Only those that
#: :func:`compute_metrics` reports are written (a declaration waiting for its metric is harmless).
METRICS: dict[str, Metric] = _declare()


def _declare_per_class() -> dict[str, Metric]:
    m: dict[str, Metric] = {f"{cs.name}_top1": Acc(cs.name) for cs in CLIP_SETS}
    for t in SWAP_TYPES:
        m[f"shacc_{t}"], m[f"sberr_{t}"] = Acc(f"swap_{t}"), Acc(f"swap_{t}", "bg1")
    for src in SCUBA_SOURCES:  # issue 20's per-class columns
        a, b = f"scuba_{src}", f"scufo_{src}"
        m[f"{a}_top1"], m[f"{a}_top5"], m[f"{b}_top1"] = Acc(a), Acc(a, "top5"), Acc(b)
        m[f"contrast_{src}"] = RepeatMean(a, "top1", vs=b)
    for t in SWAP_TYPES:
        m[f"hm_swap_{t}"] = HarmonicMean(m["original_top1"], m[f"shacc_{t}"])
    for src in SCUBA_SOURCES:
        m[f"hm_scuba_{src}"] = HarmonicMean(m["original_top1"], m[f"scuba_{src}_top1"])
    m["bor"] = Ratio(m["background_only_top1"], m["original_top1"])
    m["hor"] = Ratio(m["human_only_top1"], m["original_top1"])
    return m


#: per_class.csv's columns with intervals (a class as the foreground / true class; swaps pooled over repeats)
PER_CLASS: dict[str, Metric] = _declare_per_class()


def interval_keys(names: list[str]) -> list[str]:
    """``<m>_lo``, ``<m>_hi`` for each name that has an interval, in order (leaderboard columns)."""
    return [f"{c}_{b}" for c in names if c in METRICS for b in ("lo", "hi")]


# ---------------------------------------------------------------------------------------------------------
# The video × cell matrix


@dataclass
class Videos:
    """The resampling units, sorted by class so that each class is one contiguous block."""

    ids: pd.Index
    labels: np.ndarray
    blocks: list[tuple[int, int, int]]  # (label, start, stop)

    @classmethod
    def of(cls, *preds: pd.DataFrame) -> "Videos":
        lab = pd.concat([p[["video_id", "label"]] for p in preds]).drop_duplicates()
        twice = lab["video_id"].duplicated()
        if twice.any():
            raise HatError(f"video {lab['video_id'][twice].iloc[0]} has clips with two labels: not a hat predictions file")
        lab = lab.sort_values(["label", "video_id"], kind="stable")
        labels = lab["label"].to_numpy(dtype=np.int64)
        cut = np.flatnonzero(np.diff(labels)) + 1
        starts, stops = np.r_[0, cut], np.r_[cut, len(labels)]
        blocks = [(int(labels[a]), int(a), int(b)) for a, b in zip(starts, stops) if b > a]
        return cls(pd.Index(lab["video_id"].to_numpy()), labels, blocks)

    def __len__(self) -> int:
        return len(self.ids)

    def balanced(self) -> bool:
        sizes = [b - a for _, a, b in self.blocks]
        return len(sizes) > 1 and min(sizes) >= BALANCED_RATIO * max(sizes)


def layout_of(pred: pd.DataFrame) -> Layout:
    return {s: tuple(sorted(int(r) for r in g.unique())) for s, g in pred.groupby("set")["repeat"]}


def matrix(pred: pd.DataFrame, videos: Videos, cells: list[Cell]) -> np.ndarray:
    """S [videos, cells]: per video, the sum of each cell over its clips."""
    V = len(videos)
    S = np.zeros((V, len(cells)))
    by_set = {s: g for s, g in pred.groupby("set")}
    unit = {s: videos.ids.get_indexer(g["video_id"]) for s, g in by_set.items()}
    fg = np.zeros(V, dtype=bool)
    for s, u in unit.items():
        if s.startswith("swap_"):
            fg[u] = True
    memo: dict[tuple, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def rows(c: Cell) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(video index, repeat, hit) of every clip (or matched pair) the cell sums over."""
        key = (c.set, c.stat, c.vs)
        if key not in memo:
            g = by_set[c.set]
            if c.vs:
                other = by_set[c.vs][["video_id", "repeat", "pred_1", "label", "bg_label"] +
                                     [f"pred_{k}" for k in range(2, 6) if f"pred_{k}" in by_set[c.vs].columns]]
                both = g.merge(other, on=["video_id", "repeat"], suffixes=("", "_vs"))
                hit = _hits(both, c.stat)
                if c.stat != "n":
                    alt = both[[k for k in both.columns if k.endswith("_vs")]].rename(columns=lambda k: k[:-3])
                    alt = alt.assign(label=both["label"], bg_label=both["bg_label"])
                    hit = hit & ~_hits(alt, c.stat)
                memo[key] = (videos.ids.get_indexer(both["video_id"]), both["repeat"].to_numpy(), hit)
            else:
                memo[key] = (unit[c.set], g["repeat"].to_numpy(), _hits(g, c.stat))
        return memo[key]

    for j, c in enumerate(cells):
        u, rep, hit = rows(c)
        keep = (rep == c.repeat) & hit
        if c.among == "fg":
            keep &= fg[u]
        S[:, j] = np.bincount(u[keep], minlength=V)
    return S


@dataclass
class Table:
    """One run's sums, with where each cell is, over a given set of videos."""

    S: np.ndarray
    index: dict[Cell, int]
    layout: Layout
    metrics: dict[str, Metric]  # the declared metrics this run's data defines
    per_class: dict[str, Metric]

    @classmethod
    def of(cls, pred: pd.DataFrame, videos: Videos, names: list[str] | None = None) -> "Table":
        layout = layout_of(pred)
        wanted = METRICS if names is None else {k: METRICS[k] for k in names if k in METRICS}
        ms = {k: m for k, m in wanted.items() if m.cells(layout) is not None}
        pcs = {k: m for k, m in PER_CLASS.items() if m.cells(layout) is not None}
        cells = list(dict.fromkeys(c for m in (*ms.values(), *pcs.values()) for c in m.cells(layout)))
        return cls(matrix(pred, videos, cells), {c: j for j, c in enumerate(cells)}, layout, ms, pcs)

    def evaluate(self, T: np.ndarray, which: dict[str, Metric]) -> np.ndarray:
        """Metric values [..., len(which)] from sums T [..., cells]."""
        get = lambda c: T[..., self.index[c]]  # noqa: E731
        if not which:
            return np.zeros(T.shape[:-1] + (0,))
        return np.stack([m.value(get, self.layout) for m in which.values()], axis=-1)

    def class_sums(self, videos: Videos) -> np.ndarray:
        """[classes, cells]: the sums of each class block."""
        return np.stack([self.S[a:b].sum(0) for _, a, b in videos.blocks]) if videos.blocks else np.zeros((0, self.S.shape[1]))


# ---------------------------------------------------------------------------------------------------------
# Resampling


def weights(videos: Videos, resamples: int, seed: int, stratified: bool, width: int = 0) -> Iterator[np.ndarray]:
    """Chunks [b, videos] of multinomial video counts, resample i drawn from its own seeded stream.

    Resample i is the same whatever the chunking, and the same for two runs over the same videos,
    which is what makes a comparison paired. Stratified: each class keeps its number of videos. A chunk
    holds at most :data:`CHUNK_ENTRIES` / max(videos, ``width``) resamples (``width``: what the caller
    keeps per resample).
    """
    V = len(videos)
    if stratified:
        start = np.empty(V)
        size = np.empty(V)
        for _, a, b in videos.blocks:
            start[a:b], size[a:b] = a, b - a
    else:
        start, size = np.zeros(V), np.full(V, float(V))
    chunk = max(1, min(resamples, CHUNK_ENTRIES // max(V, width, 1)))
    for first in range(0, resamples, chunk):
        b = min(chunk, resamples - first)
        u = np.stack([np.random.default_rng([seed, first + i]).random(V) for i in range(b)])
        idx = (start + np.floor(u * size)).astype(np.int64)
        idx += (np.arange(b, dtype=np.int64) * V)[:, None]
        yield np.bincount(idx.ravel(), minlength=b * V).reshape(b, V).astype(np.float64)


def _percentiles(vals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bounds over axis 0 (numpy's linear rule), ignoring resamples where a metric is undefined.

    A resample can leave a ratio without its denominator (no original right); those are dropped, not zeros.
    """
    q = (1 - LEVEL) / 2
    srt = np.sort(vals, axis=0)  # NaN last
    n = np.isfinite(srt).sum(0)
    out = []
    for p in (q, 1 - q):
        h = np.maximum(n - 1, 0) * p
        i = np.floor(h).astype(np.int64)
        j = np.minimum(i + 1, np.maximum(n - 1, 0))
        a = np.take_along_axis(srt, i[None], 0)[0]
        b = np.take_along_axis(srt, j[None], 0)[0]
        out.append(np.where(n > 0, a + (h - i) * (b - a), np.nan))
    return out[0], out[1]


def _resample(tables: list[Table], videos: Videos, resamples: int, seed: int, stratified: bool, by_class: bool
              ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Metric values of every resample: per table [B, metrics], and per table [classes, B, per-class metrics]."""
    overall = [np.empty((resamples, len(t.metrics))) for t in tables]
    classes = [np.empty((len(videos.blocks), resamples, len(t.per_class)), dtype=np.float32) if by_class else None
               for t in tables]
    done = 0
    width = len(videos.blocks) * max(t.S.shape[1] for t in tables) if by_class else 0  # the per-class sums
    for W in weights(videos, resamples, seed, stratified, width):
        b = len(W)
        for k, t in enumerate(tables):
            if by_class:
                Tc = np.empty((len(videos.blocks), b, t.S.shape[1]))  # [classes, b, cells]
                for i, (_, a, z) in enumerate(videos.blocks):
                    np.matmul(W[:, a:z], t.S[a:z], out=Tc[i])
                classes[k][:, done:done + b] = t.evaluate(Tc, t.per_class)
                T = Tc.sum(0)
            else:
                T = W @ t.S
            overall[k][done:done + b] = t.evaluate(T, t.metrics)
        done += b
    return overall, classes


def _none(x: float) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


# ---------------------------------------------------------------------------------------------------------
# One run: intervals


@dataclass
class Intervals:
    """Bounds of every metric a run defines, per class too, and how they were computed."""

    bounds: dict[str, tuple[float | None, float | None]]
    per_class: pd.DataFrame  # label, then <m>, <m>_lo, <m>_hi for each per-class metric
    info: dict[str, Any] = field(default_factory=dict)

    def flat(self, values: dict[str, Any]) -> dict[str, float | None]:
        """``<m>_lo`` and ``<m>_hi`` for each metric ``values`` reports (None where the value is None)."""
        out: dict[str, float | None] = {}
        for k in METRICS:
            if k in values:
                lo, hi = self.bounds.get(k, (None, None)) if values[k] is not None else (None, None)
                out[f"{k}_lo"], out[f"{k}_hi"] = lo, hi
        return out


def _info(resamples: int, seed: int, stratified: bool) -> dict[str, Any]:
    return {"method": METHOD, "level": LEVEL, "resamples": int(resamples), "seed": int(seed), "unit": "video",
            "stratified": bool(stratified)}


def _check(resamples: int) -> None:
    if resamples < 1:
        raise HatError(f"bootstrap resamples must be at least 1 (got {resamples}; 0 turns intervals off)")


def bootstrap(pred: pd.DataFrame, resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED,
              stratify: bool | None = None) -> Intervals:
    """Percentile intervals of every declared metric and per-class metric (``stratify`` None: when class-balanced)."""
    _check(resamples)
    videos = Videos.of(pred)
    stratified = videos.balanced() if stratify is None else bool(stratify)
    t = Table.of(pred, videos)
    (vals,), (cls_vals,) = _resample([t], videos, resamples, seed, stratified, by_class=True)
    lo, hi = _percentiles(vals)
    bounds = {k: (_none(a), _none(b)) for k, a, b in zip(t.metrics, lo, hi)}
    point = t.evaluate(t.class_sums(videos), t.per_class)  # [classes, metrics]
    rows: dict[str, Any] = {"label": [lab for lab, _, _ in videos.blocks]}
    for j, k in enumerate(t.per_class):
        clo, chi = _percentiles(cls_vals[:, :, j].T.astype(np.float64))
        rows[k], rows[f"{k}_lo"], rows[f"{k}_hi"] = point[:, j], clo, chi
    return Intervals(bounds, pd.DataFrame(rows), _info(resamples, seed, stratified))


def per_class_with_intervals(pc: pd.DataFrame, iv: Intervals) -> pd.DataFrame:
    """per_class.csv with BOR / HOR, each value followed by its bounds, and the classes too small for a ratio.

    ``few_videos``: fewer than :data:`MIN_RATIO_VIDEOS` of the class's videos are right on the original
    set, the denominator of its BOR and HOR.
    """
    ext = iv.per_class.set_index("label").reindex(pc["label"])
    cols: dict[str, Any] = {}
    for k in list(pc.columns) + [k for k in PER_CLASS if k in ext.columns and k not in pc.columns]:
        cols[k] = pc[k].to_numpy() if k in pc.columns else ext[k].to_numpy()
        if k in PER_CLASS:
            for b in ("lo", "hi"):
                cols[f"{k}_{b}"] = ext[f"{k}_{b}"].to_numpy() if f"{k}_{b}" in ext.columns else np.nan
    out = pd.DataFrame(cols)
    right = pc["original_top1"].fillna(0) * pc["n"]
    out["few_videos"] = np.rint(right.to_numpy()).astype(int) < MIN_RATIO_VIDEOS
    return out


def results_intervals(pred: pd.DataFrame, metrics: dict[str, Any], pc: pd.DataFrame, resamples: int, seed: int,
                      stratify: bool | None = None) -> tuple[dict[str, Any], dict[str, Any], pd.DataFrame]:
    """(flat bounds for results.json's metrics, its ``intervals`` block, per_class.csv) of one run."""
    iv = bootstrap(pred, resamples, seed, stratify)
    return iv.flat(metrics), iv.info, per_class_with_intervals(pc, iv)


# ---------------------------------------------------------------------------------------------------------
# Two runs: paired differences


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value: the binomial test of b successes in b + c discordant pairs at 1/2."""
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    if n <= 1024:  # exact integers, one correctly rounded division
        return min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n)
    logs = [math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) - n * math.log(2) for i in range(k + 1)]
    top = max(logs)
    return min(1.0, 2 * math.exp(top) * math.fsum(math.exp(v - top) for v in logs))


def holm(p: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error), in the input's order."""
    p = np.asarray(p, dtype=float)
    m = len(p)
    if not m:
        return p
    order = np.argsort(p, kind="stable")
    adj = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = adj
    return out


def _boot_p(d: np.ndarray) -> np.ndarray:
    """Two-sided paired-bootstrap p-value of a difference: twice the smaller share of resamples on either side of 0.

    p < 1 - LEVEL exactly when the percentile interval leaves out 0 (up to interpolation).
    """
    ok = np.isfinite(d)
    n = ok.sum(0)
    below = ((d <= 0) & ok).sum(0)
    above = ((d >= 0) & ok).sum(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.minimum(1.0, 2 * (np.minimum(below, above) + 1) / (n + 1))
    return np.where(n > 0, p, np.nan)


CLIP_KEY = ["set", "repeat", "video_id", "bg_video"]


class Paired:
    """The clips both runs scored (matched on set, repeat, video, background), each run's hits at hand."""

    def __init__(self, a: pd.DataFrame, b: pd.DataFrame):
        preds = [f"pred_{k}" for k in range(1, 6) if f"pred_{k}" in a.columns and f"pred_{k}" in b.columns]
        both = a[CLIP_KEY + ["label", "bg_label"] + preds].merge(b[CLIP_KEY + preds], on=CLIP_KEY, suffixes=("", "_b"))
        self.by_set = {s: g for s, g in both.groupby("set")}
        self.fg = a.loc[a["set"].str.startswith("swap_"), "video_id"].unique()
        self.preds = preds

    def hits(self, set_name: str, stat: str, among: str = "") -> pd.DataFrame | None:
        """Columns label, repeat, ao (right only in A), bo (right only in B) of the set's paired clips."""
        g = self.by_set.get(set_name)
        if g is None:
            return None
        if among == "fg":
            g = g[g["video_id"].isin(self.fg)]
        ha = _hits(g, stat)
        hb = _hits(g[[f"{p}_b" for p in self.preds] + ["label", "bg_label"]].rename(columns=lambda k: k.removesuffix("_b")),
                   stat)
        return pd.DataFrame({"label": g["label"].to_numpy(), "repeat": g["repeat"].to_numpy(), "ao": ha & ~hb,
                             "bo": ~ha & hb})


@functools.lru_cache(maxsize=1 << 16)
def _mcnemar_cached(b: int, c: int) -> float:
    return mcnemar_exact(b, c)


def mcnemar_repeats(hits: pd.DataFrame, by: str | None = None) -> pd.DataFrame:
    """Per group (``by``, or all clips): a_only, b_only and McNemar's exact p per repeat, the largest over repeats.

    Within a repeat each video has one clip, so the pairs are independent; the clips of one foreground
    over several repeats are not, and pooling them would overstate the evidence. Requiring every repeat
    to differ (the largest p) keeps the test valid.
    """
    keys = ([by] if by else []) + ["repeat"]
    per = hits.groupby(keys)[["ao", "bo"]].sum().reset_index()
    per["p"] = [_mcnemar_cached(int(x), int(y)) for x, y in zip(per["ao"], per["bo"])]
    if not by:
        return pd.DataFrame({"a_only": [int(per["ao"].sum())], "b_only": [int(per["bo"].sum())],
                             "p": [float(per["p"].max()) if len(per) else 1.0], "n": [len(hits)]})
    g = per.groupby(by)
    return pd.DataFrame({"a_only": g["ao"].sum(), "b_only": g["bo"].sum(), "p": g["p"].max(),
                         "n": hits.groupby(by).size()})


def compare(pred_a: pd.DataFrame, pred_b: pd.DataFrame, resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED,
            stratify: bool | None = None, alpha: float = 1 - LEVEL) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Run A minus run B on every metric both define, and per class, over the same video resamples.

    Returns (metrics: metric, a, b, diff, diff_lo, diff_hi, p_bootstrap, a_only, b_only, p_mcnemar, significant
    (McNemar's p for accuracies, else the bootstrap's, below ``alpha``); the per-class accuracy differences
    significant after Holm's correction (McNemar per class, family = the classes of one metric); the
    intervals block).
    """
    _check(resamples)
    videos = Videos.of(pred_a, pred_b)
    stratified = videos.balanced() if stratify is None else bool(stratify)
    va, vb = compute_metrics(pred_a), compute_metrics(pred_b)
    names = [k for k in METRICS if va.get(k) is not None and vb.get(k) is not None]
    ta, tb = Table.of(pred_a, videos, names), Table.of(pred_b, videos, names)
    names = [k for k in names if k in ta.metrics and k in tb.metrics]
    ta.metrics = {k: ta.metrics[k] for k in names}
    tb.metrics = {k: tb.metrics[k] for k in names}
    pcs = [k for k in PER_CLASS if k in ta.per_class and k in tb.per_class]
    ta.per_class = {k: ta.per_class[k] for k in pcs}
    tb.per_class = {k: tb.per_class[k] for k in pcs}
    (ra, rb), (ca, cb) = _resample([ta, tb], videos, resamples, seed, stratified, by_class=True)
    d = ra - rb
    lo, hi = _percentiles(d)
    p = _boot_p(d)
    paired = Paired(pred_a, pred_b)
    rows = []
    for j, k in enumerate(names):
        row = {"metric": k, "a": va[k], "b": vb[k], "diff": va[k] - vb[k], "diff_lo": _none(lo[j]), "diff_hi": _none(hi[j]),
               "p_bootstrap": _none(p[j]), "a_only": None, "b_only": None, "p_mcnemar": None}
        clips = METRICS[k].clips()
        hits = paired.hits(*clips) if clips else None
        if hits is not None and len(hits):
            mc = mcnemar_repeats(hits).iloc[0]
            row["a_only"], row["b_only"], row["p_mcnemar"] = int(mc["a_only"]), int(mc["b_only"]), float(mc["p"])
        test = row["p_mcnemar"] if row["p_mcnemar"] is not None else row["p_bootstrap"]
        row["significant"] = bool(test is not None and test < alpha)
        rows.append(row)
    table = pd.DataFrame(rows, columns=["metric", "a", "b", "diff", "diff_lo", "diff_hi", "p_bootstrap", "a_only", "b_only",
                                        "p_mcnemar", "significant"])
    names = pred_a.drop_duplicates("label").set_index("label")["class"] if "class" in pred_a.columns else pd.Series(dtype=str)
    classes = _class_differences(paired, names.to_dict(), videos, ta, tb, ca, cb, alpha)
    return table, classes, _info(resamples, seed, stratified)


CLASS_COLUMNS = ["metric", "label", "class", "n", "a", "b", "diff", "diff_lo", "diff_hi", "a_only", "b_only", "p_mcnemar",
                 "p_holm"]


def _class_differences(paired: Paired, names: dict[int, str], videos: Videos, ta: Table, tb: Table,
                       ca: np.ndarray, cb: np.ndarray, alpha: float) -> pd.DataFrame:
    pa, pb = ta.evaluate(ta.class_sums(videos), ta.per_class), tb.evaluate(tb.class_sums(videos), tb.per_class)
    pos = {lab: i for i, (lab, _, _) in enumerate(videos.blocks)}
    rows = []
    for j, k in enumerate(ta.per_class):
        clips = PER_CLASS[k].clips()
        hits = paired.hits(*clips) if clips else None  # ratios: no exact test, and resamples cannot reach Holm's bar
        if hits is None or hits.empty:
            continue
        mc = mcnemar_repeats(hits, by="label")
        mc["p_holm"] = holm(mc["p"].to_numpy())
        lo, hi = _percentiles((ca[:, :, j] - cb[:, :, j]).T.astype(np.float64))
        for lab, r in mc[mc["p_holm"] < alpha].iterrows():
            i = pos[lab]
            rows.append({"metric": k, "label": int(lab), "class": names.get(lab, str(lab)), "n": int(r["n"]),
                         "a": _none(pa[i, j]), "b": _none(pb[i, j]), "diff": _none(pa[i, j] - pb[i, j]),
                         "diff_lo": _none(lo[i]), "diff_hi": _none(hi[i]), "a_only": int(r["a_only"]),
                         "b_only": int(r["b_only"]), "p_mcnemar": float(r["p"]), "p_holm": float(r["p_holm"])})
    return pd.DataFrame(rows, columns=CLASS_COLUMNS)
