"""The figures of HAT's paper from a leaderboard table or one run's predictions (matplotlib, Agg).

Each figure has a *data* function (a small DataFrame: exactly the numbers drawn, testable against
results.json) and a *draw* function (a matplotlib Figure from that frame). Error bars are the 95 %
bootstrap bounds ``<metric>_lo``/``<metric>_hi`` where the results carry them, else ± the std over
swap repeats where there is one; every caption says which.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from .errors import HatError
from .pairs import SWAP_TYPES
from .store import check_out_dir, write_bytes

#: paper sizes (inches): one column, and two for wide figures; PNGs for the page at this dpi
ONE_COLUMN = (3.4, 2.6)
TWO_COLUMNS = (7.0, 2.8)
PNG_DPI = 150
#: formats each figure is saved in: PNG for the page, PDF and SVG for papers
FORMATS = ("png", "pdf", "svg")
#: how an error bar was derived, as the caption says it
ERR_CI = "ci"
ERR_STD = "std"
ERR_TEXT = {ERR_CI: "95 % bootstrap intervals", ERR_STD: "± std over swap repeats"}
#: metrics shown as percentages (the rest, BOR and HOR, are ratios)
RATIOS = ("bor", "hor")


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if np.isnan(f) else f


def interval(row: dict[str, Any], metric: str) -> tuple[float | None, float | None, float | None, str]:
    """(value, low, high, kind) of a metric in a results or leaderboard row; kind '' when there is no bar."""
    v = _num(row.get(metric))
    if v is None:
        return None, None, None, ""
    lo, hi = _num(row.get(f"{metric}_lo")), _num(row.get(f"{metric}_hi"))
    if lo is not None and hi is not None:
        return v, lo, hi, ERR_CI
    sd = _num(row.get(f"{metric}_std"))
    if sd is not None:
        return v, v - sd, v + sd, ERR_STD
    return v, v, v, ""


def run_labels(df: pd.DataFrame) -> list[str]:
    """One label per row: the model, plus the protocol or benchmark where that alone repeats."""
    labels = []
    for r in df.to_dict("records"):
        text = str(r.get("model") or "?")
        same = df[df["model"].astype(str) == str(r.get("model"))] if "model" in df else df.iloc[:0]
        if len(same) > 1 and "benchmark" in df and same["benchmark"].nunique() > 1:
            text += f" ({r.get('benchmark')})"
        if len(same) > 1 and str(r.get("protocol") or "") not in ("", "nan"):
            text += f" [{r['protocol']}]"
        labels.append(text)
    return labels


def caption_bars(kinds: set[str]) -> str:
    """The caption's sentence about error bars, from the kinds of bars drawn."""
    kinds = {k for k in kinds if k}
    if not kinds:
        return "No error bars: these results carry neither intervals nor repeats."
    return "Bars: " + "; ".join(ERR_TEXT[k] for k in sorted(kinds)) + "."


def _scale(metric: str) -> float:
    return 1.0 if metric in RATIOS else 100.0


def scatter_data(df: pd.DataFrame, x: str, y: str) -> pd.DataFrame:
    """One point per run with both metrics: label, x, x_lo, x_hi, x_err, y, ... (as in the results, unscaled)."""
    rows = []
    for label, r in zip(run_labels(df), df.to_dict("records")):
        xv, xl, xh, xk = interval(r, x)
        yv, yl, yh, yk = interval(r, y)
        if xv is None or yv is None:
            continue
        rows.append({"label": label, "x": xv, "x_lo": xl, "x_hi": xh, "x_err": xk, "y": yv, "y_lo": yl, "y_hi": yh, "y_err": yk})
    return pd.DataFrame(rows, columns=["label", "x", "x_lo", "x_hi", "x_err", "y", "y_lo", "y_hi", "y_err"])


def swap_data(df: pd.DataFrame) -> pd.DataFrame:
    """SHAcc and SBErr per run and swap type (types some run has): label, swap, metric, value, lo, hi, err."""
    rows = []
    for label, r in zip(run_labels(df), df.to_dict("records")):
        for t in SWAP_TYPES:
            for m in ("shacc", "sberr"):
                v, lo, hi, kind = interval(r, f"{m}_{t}")
                if v is not None:
                    rows.append({"label": label, "swap": t, "metric": m, "value": v, "lo": lo, "hi": hi, "err": kind})
    return pd.DataFrame(rows, columns=["label", "swap", "metric", "value", "lo", "hi", "err"])


@dataclass
class Plot:
    """A figure as the report shows it: file stem, title, caption, and the numbers drawn."""

    name: str
    title: str
    caption: str
    data: pd.DataFrame
    draw: Callable[[pd.DataFrame], Any]


def _figure(size: tuple[float, float]):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=PNG_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _errs(v: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    return np.vstack([np.maximum(v - lo, 0), np.maximum(hi - v, 0)])


def draw_scatter(data: pd.DataFrame, xlabel: str, ylabel: str, xs: float, ys: float, diagonal: bool = False):
    """Points with their bars, each named; values multiplied by (xs, ys) for display."""
    fig = _figure(ONE_COLUMN)
    ax = fig.add_subplot()
    x, y = data["x"].to_numpy(float) * xs, data["y"].to_numpy(float) * ys
    ax.scatter(x, y, s=18, color="C0", zorder=3)
    if len(data):
        xe = _errs(x, data["x_lo"].to_numpy(float) * xs, data["x_hi"].to_numpy(float) * xs)
        ye = _errs(y, data["y_lo"].to_numpy(float) * ys, data["y_hi"].to_numpy(float) * ys)
        if xe.any() or ye.any():
            ax.errorbar(x, y, xerr=xe, yerr=ye, fmt="none", ecolor="0.45", elinewidth=0.8, capsize=2, zorder=2)
    for xi, yi, text in zip(x, y, data["label"]):
        ax.annotate(text, (xi, yi), xytext=(3, 3), textcoords="offset points", fontsize=6)
    if diagonal:
        ax.axline((0, 0), slope=1, color="0.75", lw=0.6, ls="--", zorder=1)
    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3, lw=0.4)
    return fig


def draw_swaps(data: pd.DataFrame):
    """Two panels (SHAcc, SBErr): per swap type one bar per run, with its bar."""
    fig = _figure(TWO_COLUMNS)
    axes = fig.subplots(1, 2, sharey=True)
    labels = list(dict.fromkeys(data["label"]))
    types = [t for t in SWAP_TYPES if t in set(data["swap"])]
    width = 0.8 / max(len(labels), 1)
    for ax, m, title in zip(axes, ("shacc", "sberr"), ("SHAcc (predicts the person's class; high is good)",
                                                       "SBErr (predicts the background's class; low is good)")):
        sub = data[data["metric"] == m]
        for i, label in enumerate(labels):
            s = sub[sub["label"] == label].set_index("swap").reindex(types)
            pos = np.arange(len(types)) + (i - (len(labels) - 1) / 2) * width
            v = s["value"].to_numpy(float) * 100
            ok = ~np.isnan(v)
            ax.bar(pos[ok], v[ok], width * 0.95, label=label, color=f"C{i % 10}")
            e = _errs(v[ok], s["lo"].to_numpy(float)[ok] * 100, s["hi"].to_numpy(float)[ok] * 100)
            if e.any():
                ax.errorbar(pos[ok], v[ok], yerr=e, fmt="none", ecolor="0.2", elinewidth=0.7, capsize=1.5)
        ax.set_xticks(np.arange(len(types)), types, fontsize=7)
        ax.set_title(title, fontsize=7)
        ax.tick_params(labelsize=7)
        ax.grid(axis="y", alpha=0.3, lw=0.4)
    axes[0].set_ylabel("% of swapped clips", fontsize=8)
    if labels:
        axes[1].legend(fontsize=6, frameon=False)
    return fig


def board_plots(df: pd.DataFrame) -> list[Plot]:
    """The figures a leaderboard alone gives: BOR vs OAcc, SHAcc/SBErr per swap type, P-top1 vs B-top1."""
    out = []
    d = scatter_data(df, "oacc", "bor")
    out.append(Plot("bor_vs_oacc", "BOR against OAcc",
                    "One point per run. BOR = Background-Only accuracy / OAcc: near 1, the model does as well with "
                    "the person removed. " + caption_bars(set(d["x_err"]) | set(d["y_err"])), d,
                    lambda d: draw_scatter(d, "OAcc (%)", "BOR", 100, 1)))
    d = swap_data(df)
    if len(d):
        out.append(Plot("swaps", "SHAcc and SBErr per swap type",
                        "Mean over repeats of the share of swapped clips classified as the person's class (SHAcc) "
                        "and as the background's class (SBErr). " + caption_bars(set(d["err"])), d, draw_swaps))
    d = scatter_data(df, "b_top1", "p_top1")
    if len(d):
        out.append(Plot("p_vs_b", "P-top1 against B-top1",
                        "P-top1: only the person visible; B-top1: the person's boxes masked. Above the diagonal the "
                        "person tells the model more than the scene. " + caption_bars(set(d["x_err"]) | set(d["y_err"])),
                        d, lambda d: draw_scatter(d, "B-top1 (%)", "P-top1 (%)", 100, 100, diagonal=True)))
    return out


# --- one run's predictions ---------------------------------------------------------------------------


def class_bias_data(pred: pd.DataFrame, classes: list[str], k: int = 10) -> pd.DataFrame:
    """Per class: Background-Only top-1 and SBErr (all swap types pooled), with clip counts; sorted by class."""
    bo = pred[pred["set"] == "background_only"]
    sw = pred[pred["set"].astype(str).str.startswith("swap_")]
    rows = []
    for c, name in enumerate(classes):
        b = bo[bo["label"] == c]
        s = sw[sw["label"] == c]
        rows.append({"label": c, "class": name, "n_bo": len(b), "bo_acc": float((b["pred_1"] == c).mean()) if len(b) else None,
                     "n_swap": len(s), "sberr": float((s["pred_1"] == s["bg_label"]).mean()) if len(s) else None})
    return pd.DataFrame(rows, columns=["label", "class", "n_bo", "bo_acc", "n_swap", "sberr"])


def top_classes(data: pd.DataFrame, metric: str, k: int = 10) -> pd.DataFrame:
    """The k classes with the largest value of ``metric`` (ties: class order)."""
    d = data.dropna(subset=[metric])
    return d.sort_values([metric, "label"], ascending=[False, True], kind="stable").head(k)


def draw_class_bars(data: pd.DataFrame, k: int = 10):
    fig = _figure((TWO_COLUMNS[0], max(1.6, 0.16 * k + 0.8)))
    axes = fig.subplots(1, 2)
    for ax, m, title, color in zip(axes, ("bo_acc", "sberr"), ("Background-Only top-1 (%)", "SBErr, swaps pooled (%)"),
                                   ("C1", "C3")):
        d = top_classes(data, m, k).iloc[::-1]
        ax.barh(np.arange(len(d)), d[m].to_numpy(float) * 100, color=color)
        ax.set_yticks(np.arange(len(d)), list(d["class"]), fontsize=6)
        ax.set_xlim(0, 100)
        ax.set_title(title, fontsize=7)
        ax.tick_params(labelsize=6)
        ax.grid(axis="x", alpha=0.3, lw=0.4)
    return fig


def swap_confusion(pred: pd.DataFrame, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Swapped clips (every swap set) by foreground class × background class: (clips, clips predicted as the background's class)."""
    sw = pred[pred["set"].astype(str).str.startswith("swap_")]
    n = np.zeros((n_classes, n_classes), np.int64)
    as_bg = np.zeros((n_classes, n_classes), np.int64)
    fg, bg = sw["label"].to_numpy(np.int64), sw["bg_label"].to_numpy(np.int64)
    np.add.at(n, (fg, bg), 1)
    np.add.at(as_bg, (fg, bg), (sw["pred_1"].to_numpy(np.int64) == bg).astype(np.int64))
    return n, as_bg


def swap_outcomes(pred: pd.DataFrame) -> pd.DataFrame:
    """Per swap set: clips predicted as the person's class, as the background's class, as another class."""
    rows = []
    for s, g in pred[pred["set"].astype(str).str.startswith("swap_")].groupby("set", sort=False):
        fg, bg = (g["pred_1"] == g["label"]), (g["pred_1"] == g["bg_label"])
        rows.append({"set": s, "clips": len(g), "as_person": int(fg.sum()), "as_background": int((bg & ~fg).sum()),
                     "other": int((~fg & ~bg).sum())})
    return pd.DataFrame(rows, columns=["set", "clips", "as_person", "as_background", "other"])


def top_confusions(pred: pd.DataFrame, classes: list[str], k: int = 15) -> pd.DataFrame:
    """The most frequent (person's class, background's class -> predicted class) among wrong swapped clips."""
    sw = pred[pred["set"].astype(str).str.startswith("swap_") & (pred["pred_1"] != pred["label"])]
    if sw.empty:
        return pd.DataFrame(columns=["person", "background", "predicted", "clips"])
    g = sw.groupby(["label", "bg_label", "pred_1"]).size().reset_index(name="clips")
    g = g.sort_values(["clips", "label", "bg_label", "pred_1"], ascending=[False, True, True, True], kind="stable").head(k)
    return pd.DataFrame({"person": [classes[i] for i in g["label"]], "background": [classes[i] for i in g["bg_label"]],
                         "predicted": [classes[i] for i in g["pred_1"]], "clips": g["clips"].to_numpy()})


def draw_confusion(n: np.ndarray, as_bg: np.ndarray, classes: list[str], max_classes: int = 30):
    """Heat-map of the share predicted as the background's class; the classes with the most swapped clips when many."""
    keep = np.sort(np.argsort(-(n.sum(0) + n.sum(1)), kind="stable")[:max_classes])
    frac = np.where(n > 0, as_bg / np.maximum(n, 1), np.nan)[np.ix_(keep, keep)]
    side = min(7.0, 1.6 + 0.17 * len(keep))
    fig = _figure((side + 0.8, side))
    ax = fig.add_subplot()
    im = ax.imshow(frac * 100, vmin=0, vmax=100, cmap="magma", interpolation="nearest")
    names = [classes[i] for i in keep]
    fs = 6 if len(keep) <= 20 else 4
    ax.set_xticks(np.arange(len(keep)), names, rotation=90, fontsize=fs)
    ax.set_yticks(np.arange(len(keep)), names, fontsize=fs)
    ax.set_xlabel("background's class", fontsize=7)
    ax.set_ylabel("person's class", fontsize=7)
    cb = fig.colorbar(im, ax=ax, shrink=0.8)
    cb.ax.tick_params(labelsize=6)
    cb.set_label("% predicted as the background's class", fontsize=6)
    return fig


def scene_right(pred: pd.DataFrame) -> list[str]:
    """Videos right on original and on Background-Only but wrong on Human-Only: right thanks to the scene."""
    def right(s: str) -> pd.Series:
        d = pred[pred["set"] == s]
        return pd.Series((d["pred_1"] == d["label"]).to_numpy(), index=d["video_id"].astype(str))

    o, b, h = right("original"), right("background_only"), right("human_only")
    ids = [v for v in o.index if o[v] and b.get(v, False) and not h.get(v, True)]
    return ids


# --- writing -------------------------------------------------------------------------------------------


def figure_bytes(fig, fmt: str) -> bytes:
    """The figure in one format, with no date or software stamp, so reruns write identical files."""
    import matplotlib

    buf = io.BytesIO()
    meta = {"png": {"Software": None}, "pdf": {"CreationDate": None, "Producer": None, "Creator": None},
            "svg": {"Date": None, "Creator": None}}[fmt]
    with matplotlib.rc_context({"svg.hashsalt": "hat", "svg.fonttype": "none"}):
        fig.savefig(buf, format=fmt, dpi=PNG_DPI, metadata=meta)
    return buf.getvalue()


def save_figure(fig, folder: str | Path, name: str, formats: tuple[str, ...] = FORMATS) -> list[Path]:
    paths = []
    for i, fmt in enumerate(formats):
        p = Path(folder) / f"{name}.{fmt}"
        write_bytes(p, figure_bytes(fig, fmt))
        paths.append(p)
        if i == 0:  # laid out once: the other formats keep those positions (constrained layout is slow)
            fig.set_layout_engine("none")
    return paths


def write_board_plots(df: pd.DataFrame, out: str | Path) -> list[Path]:
    """``hat leaderboard --plot DIR``: each leaderboard figure as PNG, PDF and SVG, with a captions file."""
    if df.empty:
        raise HatError("no rows to plot: the leaderboard is empty")
    check_out_dir(out, "plots")
    paths: list[Path] = []
    lines = []
    for p in board_plots(df):
        paths += save_figure(p.draw(p.data), out, p.name)
        lines.append(f"{p.name}: {p.title}. {p.caption}")
    from .store import write_text

    write_text(Path(out) / "captions.txt", "\n".join(lines) + "\n")
    return paths
