"""``hat report``: a benchmark and its results as a static site that opens from ``file://``.

Pages: ``index.html`` (summary, leaderboard, figures), ``benchmark.html`` (counts, build settings,
coverage, flagged and failed videos, scene distances, sample strips), ``classes/<class>.html`` (a
class's videos with thumbnails), ``results.html`` (sortable leaderboard, HAT's figures) and
``runs/<run>.html`` (per-class bias, swap confusion, clips right only thanks to the scene).

Size stays bounded whatever the benchmark's size: strips for a deterministic sample plus flagged
videos (capped), a few thumbnails per class, clips one video at a time (nothing held across
videos), mask_quality.csv read in chunks. The site is written to a temporary sibling folder and
moved into place at the end, so an interrupted run leaves the previous report as it was.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from .. import plots as P
from ..bench import OBJECT_SETS, Benchmark
from ..errors import HatError
from ..layout import MASK_QUALITY_CSV, SCENE_EXTREMES_CSV, SCENE_HEATMAP_PNG
from ..leaderboard import COLUMNS, row_from_results, sample_size
from ..metrics import format_summary
from ..pairs import SWAP_TYPES
from ..show import sheet_rows
from ..store import check_out_dir, safe_name, stable_seed, write_bytes, write_text
from . import strips as S
from .html import CSS, JS, cell, esc, figure, page, pct, ratio, table

#: a file in every report folder: only such a folder is replaced by a new report
MARK = ".hat-report"
#: the default report folder, under the benchmark (never part of its hashes)
REPORT_DIR = "report"
#: further metrics shown as leaderboard columns when a run has them (SCUBA/SCUFO sets, harmonic means)
EXTRA_METRIC = re.compile(r"^(?!.*_(?:std|lo|hi)$)(?:(?:scuba|scufo)_[a-z]+_top1|contrast_[a-z]+|hm_\w+)$")
#: the benchmark page's sections (anchor, title)
TOC = (("sets", "sets"), ("classes", "classes"), ("build", "build"), ("coverage", "mask coverage"),
       ("flagged", "flagged videos"), ("failed", "failed videos"), ("scene", "scene distance"), ("samples", "sample strips"))
#: at most this many rows in a listing on the benchmark page (the rest are in manifest.csv)
MAX_ROWS = 2000


@dataclass
class ReportConfig:
    """How much the report shows; every bound keeps the site small for any benchmark size."""

    sample: int = 24  # videos with strips, a deterministic sample of the usable ones
    max_flagged: int = 60  # flagged videos with strips (all are listed)
    frames: int = 4  # evaluation frames per strip
    thumbs: int = 8  # thumbnails per class page
    max_clips: int = 12  # strips per run of clips right only thanks to the scene

    def check(self) -> None:
        for name in ("sample", "max_flagged", "thumbs", "max_clips"):
            if getattr(self, name) < 0:
                raise HatError(f"--{name.replace('_', '-')} must be 0 or more (got {getattr(self, name)})")
        if self.frames < 1:
            raise HatError(f"--frames must be at least 1 (got {self.frames})")


@dataclass
class Run:
    """One evaluated run: its results and, when present, its predictions file."""

    path: Path  # results.json
    results: dict[str, Any]
    page: str  # file stem of its page
    predictions: Path | None = None

    @property
    def title(self) -> str:
        return f"{self.results['model'].get('name', '?')} ({self.path.parent.name})"


def find_results(paths: list[str | Path]) -> list[Path]:
    """results.json files from run folders, results files, or folders of run folders (``results/``)."""
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_file():
            found.append(p)
        elif (p / "results.json").is_file():
            found.append(p / "results.json")
        elif p.is_dir():
            inner = sorted(p.glob("*/results.json"))
            if not inner:
                raise HatError(f"no results in {p}: no results.json in it or in its subfolders (run 'hat eval' first)")
            found += inner
        else:
            raise HatError(f"results not found: {p}")
    return list(dict.fromkeys(found))


def load_runs(paths: list[str | Path], bench: Benchmark) -> list[Run]:
    """Read and check every run before any work: a run of another benchmark is refused (its video ids and
    clips would not be this benchmark's)."""
    runs: list[Run] = []
    stems: set[str] = set()
    for p in find_results(paths):
        try:
            res = json.loads(p.read_text())
            name, got = res["benchmark"]["name"], res["benchmark"].get("hash", "")
            _ = (res["metrics"], res["model"])
        except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError) as e:
            raise HatError(f"{p}: not a hat results file ({e})") from None
        if got != bench.hash:
            raise HatError(f"{p.parent} was evaluated on benchmark '{name}' (hash {got or 'none'}), not on {bench.root} "
                           f"('{bench.name}', hash {bench.hash}); report it with the benchmark it was made on, or compare "
                           "runs of several benchmarks with 'hat leaderboard ... --plot DIR'")
        stem = safe_name(p.parent.name or "run")
        while stem in stems:
            stem += "_"
        stems.add(stem)
        pred = p.parent / str(res.get("predictions") or "predictions.parquet")
        runs.append(Run(p, res, stem, pred if pred.is_file() else None))
    return runs


#: the predictions' columns the run pages use (only these are read: a Kinetics run has millions of rows)
PRED_COLUMNS = ["set", "video_id", "label", "bg_label", "pred_1"]


def read_columns(path: Path) -> pd.DataFrame:
    try:
        pred = pq.read_table(path, columns=PRED_COLUMNS).to_pandas()
    except (pa.ArrowInvalid, OSError, KeyError) as e:
        raise HatError(f"{path}: not a predictions file with columns {', '.join(PRED_COLUMNS)} ({e})") from None
    return pred.assign(video_id=pred["video_id"].astype(str))


def board(runs: list[Run]) -> pd.DataFrame:
    """One leaderboard row per run, in the order given, with any interval bounds its metrics carry."""
    rows = []
    for r in runs:
        row = row_from_results(r.results)
        row.update({k: v for k, v in r.results["metrics"].items() if k not in row})  # bounds, sets added later
        row["page"] = r.page
        rows.append(row)
    df = pd.DataFrame(rows)
    return df[[c for c in COLUMNS if c in df] + [c for c in df if c not in COLUMNS]] if rows else df


def sample_videos(bench: Benchmark, n: int) -> list[str]:
    """``n`` usable videos in a fixed order (by a hash of the build seed and the id): the same on every run."""
    ids = bench.videos["video_id"].astype(str).tolist()
    seed = bench.config.get("seed", 0)
    return sorted(ids, key=lambda v: stable_seed("report-sample", seed, v))[:n]


def _flags(df: pd.DataFrame) -> pd.Series:
    return df["flags"].astype(str) if "flags" in df else pd.Series("", index=df.index)


def check_artifacts(bench: Benchmark, video_ids: list[str]) -> None:
    """Every file the shown videos need (theirs, and their first swap backgrounds'), before any work."""
    need = set(video_ids)
    pairs = bench.pairs[bench.pairs["fg_video"].astype(str).isin(need)]
    need |= set(pairs.drop_duplicates(["fg_video", "set"])["bg_video"].astype(str))
    missing = [(v, stage) for v in sorted(need) for stage, ext in (("frames", "npz"), ("segment", "json"), ("inpaint", "npz"))
               if not bench._store.exists(stage, v, ext)]
    if missing:
        v, stage = missing[0]
        raise HatError(f"benchmark {bench.root} is partial: {len(missing)} artifacts missing (first: {stage} of '{v}'); "
                       f"rerun 'hat build' on it")


@dataclass
class Site:
    """The report being written under ``root`` (a temporary folder until it is complete)."""

    root: Path
    bench: Benchmark
    cfg: ReportConfig
    progress: Callable[[int, int], None] | None = None
    strips: set[str] = field(default_factory=set)
    total: int = 0
    done: int = 0

    def tick(self) -> None:
        self.done += 1
        if self.progress:
            self.progress(self.done, max(self.total, self.done))

    def write(self, rel: str, data: bytes | str) -> None:
        path = self.root / rel
        if isinstance(data, str):
            write_text(path, data)
        else:
            write_bytes(path, data)

    def clip(self, video_id: str) -> tuple[str, str]:
        """Strip and animated preview of a video (written once), as paths relative to the root."""
        name = safe_name(video_id)
        strip_rel, anim_rel = f"strips/{name}.jpg", f"previews/{name}.webp"
        if video_id not in self.strips:
            rows = sheet_rows(self.bench, video_id)
            self.write(strip_rel, S.jpeg(S.strip(rows, self.cfg.frames)))
            fps = float(self.bench.parts(video_id).fps) or 8.0
            self.write(anim_rel, S.webp(S.preview_frames(rows), fps=min(max(fps / 3, 4.0), 12.0)))
            self.strips.add(video_id)
            self.tick()
        return strip_rel, anim_rel

    def clip_html(self, video_id: str, depth: int, note: str = "") -> str:
        strip_rel, anim_rel = self.clip(video_id)
        up = "../" * depth
        row = self.bench.manifest[self.bench.manifest["video_id"].astype(str) == video_id].iloc[0]
        flags = str(row.get("flags", "") or "")
        head = f"{esc(video_id)}: {esc(row['class'])}" + (f' <span class="flag">[{esc(flags)}]</span>' if flags else "")
        extra = f'<div class="muted">{esc(row.get("notes", ""))}</div>' if str(row.get("notes", "")) else ""
        return (f'<div class="clip" id="v-{esc(safe_name(video_id))}"><h3>{head}</h3>{esc(note)}{extra}'
                f'<img src="{up}{strip_rel}" alt="strip of {esc(video_id)}" loading="lazy">'
                f'<img src="{up}{anim_rel}" alt="animated preview of {esc(video_id)}" loading="lazy"></div>')

    def thumb(self, video_id: str) -> str:
        rel = f"thumbs/{safe_name(video_id)}.jpg"
        if not (self.root / rel).is_file():
            frames = self.bench.parts(video_id).frames
            self.write(rel, S.jpeg(S.fit(frames[len(frames) // 2], S.THUMB_SIZE)))
            self.tick()
        return rel

    def figure(self, plot: P.Plot, depth: int = 0) -> str:
        fig = plot.draw(plot.data)
        P.save_figure(fig, self.root / "img", plot.name)
        up = "../" * depth
        links = f' <a href="{up}img/{plot.name}.pdf">PDF</a> <a href="{up}img/{plot.name}.svg">SVG</a>'
        return figure(f"{up}img/{plot.name}.png", f"{plot.title}. {plot.caption}", plot.title, links)


# --- benchmark -----------------------------------------------------------------------------------------


def set_counts(bench: Benchmark) -> list[list[str]]:
    """Clips and videos per set this benchmark has (swap sets: foregrounds × repeats)."""
    ok = bench.videos
    objects = int((ok["objects"].astype(str) != "").sum()) if "objects" in ok else 0
    rows = []
    paired = set(bench.pairs["set"])
    for s in bench.available_sets():
        if s in paired:
            p = bench.pairs[bench.pairs["set"] == s]
            fg, reps = p["fg_video"].nunique(), p["repeat"].nunique()
            rows.append([s, cell(len(p), len(p), num=True), cell(fg, fg, num=True), f"{fg} foregrounds × {reps} repeats"])
        else:
            n = objects if s in OBJECT_SETS else len(ok)
            rows.append([s, cell(n, n, num=True), cell(n, n, num=True),
                         "videos with named objects" if s in OBJECT_SETS else "all usable videos"])
    return rows


def class_table(bench: Benchmark) -> pd.DataFrame:
    m = bench.manifest
    ok = m["status"] == "ok"
    fl = _flags(m) != ""
    rows = []
    for c, name in enumerate(bench.classes):
        sel = m["label"].astype(int) == c
        rows.append({"label": c, "class": name, "videos": int(sel.sum()), "usable": int((sel & ok).sum()),
                     "foregrounds": int((sel & ok & m["fg_ok"].astype(bool)).sum()) if "fg_ok" in m else 0,
                     "backgrounds": int((sel & ok & m["bg_ok"].astype(bool)).sum()) if "bg_ok" in m else 0,
                     "failed": int((sel & ~ok).sum()), "flagged": int((sel & fl).sum())})
    return pd.DataFrame(rows)


def class_page_name(name: str) -> str:
    return f"classes/{safe_name(name)}.html"


def coverage_data(bench: Benchmark, bins: int = 50) -> dict[str, np.ndarray]:
    """Histograms over [0, 1] of each evaluation frame's person coverage (mask_quality.csv, read in chunks) and of
    each usable video's smallest and largest one."""
    edges = np.linspace(0, 1, bins + 1)
    frames = np.zeros(bins, np.int64)
    path = bench.root / MASK_QUALITY_CSV
    if path.is_file():
        for chunk in pd.read_csv(path, usecols=["eval", "coverage"], chunksize=200_000):
            cov = chunk.loc[chunk["eval"].astype(str).str.lower() == "true", "coverage"].to_numpy(float)
            frames += np.histogram(cov[np.isfinite(cov)], edges)[0]
    ok = bench.videos
    vmin = np.histogram(pd.to_numeric(ok.get("cov_min"), errors="coerce").dropna(), edges)[0] if "cov_min" in ok else frames * 0
    vmax = np.histogram(pd.to_numeric(ok.get("cov_max"), errors="coerce").dropna(), edges)[0] if "cov_max" in ok else frames * 0
    return {"edges": edges, "frames": frames, "video_min": vmin, "video_max": vmax}


def draw_coverage(data: dict[str, np.ndarray], lo: float, hi: float):
    fig = P._figure(P.TWO_COLUMNS)
    axes = fig.subplots(1, 2)
    e = data["edges"] * 100
    axes[0].stairs(data["frames"], e, fill=True, color="C0", alpha=0.7)
    axes[0].set_title("evaluation frames", fontsize=7)
    axes[1].stairs(data["video_min"], e, color="C2", label="video's smallest")
    axes[1].stairs(data["video_max"], e, color="C3", label="video's largest")
    axes[1].set_title("usable videos", fontsize=7)
    axes[1].legend(fontsize=6, frameon=False)
    for ax in axes:
        for x in (lo, hi):
            ax.axvline(100 * x, color="k", ls="--", lw=0.8)
        ax.set_xlabel("person coverage of the frame (%)", fontsize=7)
        ax.tick_params(labelsize=6)
    axes[0].set_ylabel("count", fontsize=7)
    return fig


def _listing(df: pd.DataFrame, cols: list[str], site: Site, depth: int = 0) -> str:
    rows = []
    for r in df.head(MAX_ROWS).to_dict("records"):
        vid = str(r["video_id"])
        shown = f'<a href="{"../" * depth}benchmark.html#v-{esc(safe_name(vid))}">{esc(vid)}</a>' if vid in site.strips else esc(vid)
        rows.append([cell(shown, vid, raw=True)] + [cell(r.get(c, "")) for c in cols])
    more = f"<p class=muted>... and {len(df) - MAX_ROWS} more (see manifest.csv)</p>" if len(df) > MAX_ROWS else ""
    return table(["video"] + cols, rows) + more


def benchmark_page(site: Site, sample: list[str], flagged_shown: list[str]) -> str:
    b, cfg = site.bench, site.bench.config
    m = b.manifest
    counts = b.meta.get("counts") or {}
    parts = [f"<p>{esc(b.root)}: benchmark <b>{esc(b.name)}</b> (hash {esc(b.hash)}), source "
             f"<b>{esc(cfg.get('source'))}</b>, split {esc(cfg.get('split'))}, {len(b.classes)} classes, "
             f"{len(m)} videos, {len(b.videos)} usable.</p>",
             "<p>" + " · ".join(f'<a href="#{k}">{t}</a>' for k, t in TOC) + "</p>"]
    parts.append('<h2 id="sets">Sets</h2>' + table(["set", "clips", "videos", "over"], set_counts(b)))
    ct = class_table(b)
    parts.append('<h2 id="classes">Classes</h2>' + table(
        ["class", "videos", "usable", "foregrounds", "backgrounds", "failed", "flagged"],
        [[cell(f'<a href="{class_page_name(r["class"])}">{esc(r["class"])}</a>', r["class"], raw=True)]
         + [cell(r[k], r[k], num=True) for k in ("videos", "usable", "foregrounds", "backgrounds", "failed", "flagged")]
         for r in ct.to_dict("records")]))
    backends = {k: b.meta.get(k) for k in ("source", "segmenter", "inpainter", "scene") if k in b.meta}
    parts.append('<h2 id="build">Build</h2>' "<h3>Backends</h3><pre>" + esc(yaml.safe_dump(backends, sort_keys=False)) + "</pre>"
                 "<h3>Settings</h3><pre>" + esc(yaml.safe_dump(cfg, sort_keys=False)) + "</pre>"
                 + ("<h3>Counts</h3><pre>" + esc(yaml.safe_dump(counts, sort_keys=False)) + "</pre>" if counts else "")
                 + ("<h3>Notes</h3><ul>" + "".join(f"<li>{esc(n)}</li>" for n in b.meta.get("notes") or []) + "</ul>"
                    if b.meta.get("notes") else "")
                 + ("<h3>Versions</h3><pre>" + esc(yaml.safe_dump(b.meta["versions"], sort_keys=False)) + "</pre>"
                    if b.meta.get("versions") else ""))
    lo, hi = float(cfg.get("cov_min", 0.05)), float(cfg.get("cov_max", 0.5))
    cov = coverage_data(b)
    cov_plot = P.Plot("coverage", "Person coverage", f"Share of the frame the person's mask covers; dashed: cov_min "
                      f"{lo:g} and cov_max {hi:g} (a foreground stays inside on every evaluation frame, a background "
                      f"needs only the upper bound).", pd.DataFrame(), lambda _d: draw_coverage(cov, lo, hi))
    parts.append('<h2 id="coverage">Mask coverage</h2>' + site.figure(cov_plot))
    fl = m[_flags(m) != ""]
    parts.append('<h2 id="flagged">' f"Flagged videos ({len(fl)})</h2><p class=muted>no_human: frames with no person; flicker: a "
                 "mask unlike both neighbours; low_cov / high_cov: outside the coverage limits; residual: a person "
                 "still found on Background-Only; truncated: fewer frames decode than the header says.</p>"
                 + (_listing(fl, [c for c in ("class", "status", "flags", "frames_no_human", "flicker", "cov_min", "cov_max",
                                                 "residual_cov", "notes") if c in m], site) if len(fl) else "<p>none</p>"))
    if flagged_shown:
        parts.append(f"<h3>Strips of {len(flagged_shown)} of them</h3>" + "".join(site.clip_html(v, 0) for v in flagged_shown))
    failed = m[m["status"] != "ok"]
    parts.append('<h2 id="failed">' f"Failed videos ({len(failed)})</h2>"
                 + (_listing(failed, ["class", "reason"], site) if len(failed) else "<p>none</p>"))
    parts.append('<h2 id="scene">Scene distance</h2>')
    if (b.root / SCENE_HEATMAP_PNG).is_file():
        site.write(f"img/{SCENE_HEATMAP_PNG}", (b.root / SCENE_HEATMAP_PNG).read_bytes())
        parts.append(figure(f"img/{SCENE_HEATMAP_PNG}", "Class-to-class scene distance (L1 between class-averaged scene "
                            "descriptors; dark: near), classes in spectral order.", "scene distance heat-map"))
    if (b.root / SCENE_EXTREMES_CSV).is_file():
        ex = pd.read_csv(b.root / SCENE_EXTREMES_CSV, keep_default_na=False)
        parts.append(f"<p>Close swaps take backgrounds from the k_close = {esc(cfg.get('k_close'))} nearest classes, "
                     f"Far swaps from the k_far = {esc(cfg.get('k_far'))} farthest.</p>"
                     + table(list(ex.columns), ex.astype(str).values.tolist()))
    parts.append('<h2 id="samples">' f"Sample strips ({len(sample)} videos)</h2><p class=muted>A fixed sample (the same on every run) of "
                 f"usable videos: each row one clip exactly as eval sees it, {site.cfg.frames} evaluation frames; "
                 "right: every frame, animated.</p>" + "".join(site.clip_html(v, 0) for v in sample))
    return page(f"Benchmark {b.name}", "\n".join(parts))


def class_page(site: Site, label: int, name: str) -> str:
    m = site.bench.manifest
    mine = m[m["label"].astype(int) == label]
    ok = mine[mine["status"] == "ok"]["video_id"].astype(str).tolist()
    seed = site.bench.config.get("seed", 0)
    shown = sorted(ok, key=lambda v: stable_seed("report-sample", seed, v))[:site.cfg.thumbs]
    thumbs = "".join(
        f'<a href="{"../benchmark.html#v-" + esc(safe_name(v)) if v in site.strips else "../" + site.thumb(v)}">'
        f'<img src="../{site.thumb(v)}" alt="{esc(v)}" loading="lazy">{esc(v)}</a>' for v in shown)
    cols = [c for c in ("status", "flags", "cov_min", "cov_mean", "cov_max", "fg_ok", "bg_ok", "notes", "reason") if c in mine]
    body = (f"<p>{len(mine)} videos, {len(ok)} usable; thumbnails of {len(shown)} (the middle evaluation frame).</p>"
            f'<div class="thumbs">{thumbs}</div><h2>Videos</h2>' + _listing(mine, cols, site, depth=1))
    return page(f"Class {name}", body, depth=1)


# --- results -------------------------------------------------------------------------------------------


def _metric_cell(r: dict[str, Any], m: str) -> str:
    v, lo, hi, kind = P.interval(r, m)
    if v is None:
        return cell("-")
    fmt = ratio if m in P.RATIOS else pct
    text = esc(fmt(v))
    if kind == P.ERR_CI:
        text += f" <small>[{esc(fmt(lo))}, {esc(fmt(hi))}]</small>"
    elif kind == P.ERR_STD:
        text += f" <small>± {esc(fmt(v - lo))}</small>"
    return cell(text, v, raw=True, num=True)


def board_table(df: pd.DataFrame, depth: int = 0) -> str:
    shown = [("oacc", "OAcc"), ("bor", "BOR"), ("hor", "HOR")]
    shown += [(f"{m}_{t}", f"{'SHAcc' if m == 'shacc' else 'SBErr'} {t}") for t in SWAP_TYPES for m in ("shacc", "sberr")
              if f"{m}_{t}" in df and df[f"{m}_{t}"].notna().any()]
    shown += [("p_top1", "P-top1"), ("b_top1", "B-top1")]
    shown += [(c, c) for c in df.columns if EXTRA_METRIC.match(c) and df[c].notna().any()]
    rows = []
    for r in df.to_dict("records"):
        link = f'<a href="{"../" * depth}runs/{esc(r["page"])}.html">{esc(r["model"])}</a>'
        rows.append([cell(link, r["model"], raw=True), cell(sample_size(r))] + [_metric_cell(r, m) for m, _ in shown])
    return (table(["model", "n"] + [h for _, h in shown], rows)
            + "<p class=muted>Accuracies in %, BOR and HOR as ratios; [low, high]: 95 % bootstrap interval, ± : std over "
              "swap repeats. Click a column head to sort.</p>")


def results_page(site: Site, df: pd.DataFrame, figs: str) -> str:
    if df.empty:
        return page("Results", "<p>No runs given: <code>hat report --bench DIR results/*/</code> adds them.</p>")
    return page("Results", "<h2>Leaderboard</h2>" + board_table(df) + "<h2>Figures</h2>" + figs)


def run_page(site: Site, run: Run) -> str:
    b, cfg = site.bench, site.cfg
    res = run.results
    lines = format_summary(res["metrics"])
    body = [f"<p>{esc(run.path)}; model <b>{esc(res['model'].get('name'))}</b> ({esc(res['model'].get('arch', ''))}), "
            f"created {esc(res.get('created', ''))}.</p>",
            table(["metric", "value", "n", "over"], [list(x) for x in lines], sortable=False)]
    if run.predictions is None:
        body.append(f"<p class=warn>No predictions file beside {esc(run.path)}: per-class figures, the swap confusion and "
                    "the scene-dependent clips need it.</p>")
        return page(f"Run {run.title}", "\n".join(body), depth=1)
    pred = read_columns(run.predictions)
    k = min(10, len(b.classes))
    cb = P.class_bias_data(pred, b.classes)
    stem = f"{run.page}_classes"
    body.append("<h2>Classes that lean on the scene</h2>" + site.figure(P.Plot(
        stem, "Largest Background-Only accuracy and SBErr per class",
        f"The {k} classes with the largest Background-Only top-1 (left) and the largest SBErr over all swap types "
        "pooled (right): their accuracy depends most on the scene.", cb, lambda d: P.draw_class_bars(d, k)), depth=1))
    n, as_bg = P.swap_confusion(pred, len(b.classes))
    out = P.swap_outcomes(pred)
    if len(out):
        body.append("<h2>Swapped clips: predicted as which class</h2>" + table(
            ["set", "clips", "as the person's class", "as the background's class", "as another class"],
            [[r["set"]] + [cell(r[c], r[c], num=True) for c in ("clips", "as_person", "as_background", "other")]
             for r in out.to_dict("records")]))
        body.append(site.figure(P.Plot(f"{run.page}_confusion", "Swap confusion",
                                       "Person's class × background's class: the share of swapped clips (all types) "
                                       "predicted as the background's class; blank: no such pair"
                                       + (" (the 30 classes with the most swapped clips)." if len(b.classes) > 30 else "."),
                                       pd.DataFrame(), lambda _d: P.draw_confusion(n, as_bg, b.classes)), depth=1))
        top = P.top_confusions(pred, b.classes)
        body.append("<h3>Most frequent mistakes on swapped clips</h3>" + table(list(top.columns), top.values.tolist()))
    ids = P.scene_right(pred)
    shown = ids[:cfg.max_clips]
    body.append(f"<h2>Right only thanks to the scene ({len(ids)} videos)</h2><p class=muted>Right on the original and on "
                f"Background-Only, wrong on Human-Only; strips of {len(shown)}.</p>"
                + ("<p>" + ", ".join(esc(v) for v in ids[:MAX_ROWS]) + "</p>" if ids else "")
                + "".join(site.clip_html(v, 1) for v in shown))
    return page(f"Run {run.title}", "\n".join(body), depth=1)


def index_page(site: Site, runs: list[Run], df: pd.DataFrame, figs: str) -> str:
    b = site.bench
    counts = b.meta.get("counts") or {}
    cards = [("classes", len(b.classes)), ("videos", len(b.manifest)), ("usable", len(b.videos)),
             ("foregrounds", counts.get("foregrounds", "-")), ("sets", len(b.available_sets())), ("runs", len(runs))]
    body = ['<div class="cards">' + "".join(f"<span><b>{esc(v)}</b> {esc(k)}</span>" for k, v in cards) + "</div>",
            f'<p>Benchmark <a href="benchmark.html">{esc(b.name)}</a> (hash {esc(b.hash)}); '
            f'{len(b.classes)} <a href="benchmark.html#classes">class pages</a>.</p>']
    if runs:
        body.append("<h2>Leaderboard</h2>" + board_table(df) + "<h2>Figures</h2>" + figs)
    else:
        body.append('<p>No runs in this report; <code>hat report --bench DIR results/*/</code> adds them.</p>')
    return page(f"hat report: {b.name}", "\n".join(body))


# --- the whole site ------------------------------------------------------------------------------------


def check_out(out: Path) -> None:
    """The report folder: new, empty, or an earlier report (replaced); never some other folder."""
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / MARK).is_file())):
        raise HatError(f"{out} exists and is not a hat report; give another --out (a report replaces only an earlier report)")
    check_out_dir(out.parent, "the report")


def write_report(bench_dir: str | Path, results: list[str | Path], out: str | Path | None = None,
                 cfg: ReportConfig | None = None, progress: Callable[[int, int], None] | None = None) -> Path:
    """Write the report; every input is checked before any image is made. Returns the index page."""
    cfg = cfg or ReportConfig()
    cfg.check()
    bench = Benchmark(bench_dir)
    out = Path(out) if out else bench.root / REPORT_DIR
    check_out(out)
    runs = load_runs(results, bench)
    sample = sample_videos(bench, cfg.sample)
    ok_ids = set(bench.videos["video_id"].astype(str))
    flagged = [v for v in bench.manifest.loc[_flags(bench.manifest) != "", "video_id"].astype(str) if v in ok_ids]
    flagged_shown = [v for v in sorted(flagged, key=lambda v: stable_seed("report-sample", bench.config.get("seed", 0), v))
                     if v not in sample][:cfg.max_flagged]
    check_artifacts(bench, sample + flagged_shown)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    site = Site(tmp, bench, cfg, progress, total=len(sample) + len(flagged_shown) + cfg.thumbs * len(bench.classes))
    try:
        site.write(MARK, "written by 'hat report'; a new report replaces this folder\n")
        site.write("assets/style.css", CSS)
        site.write("assets/sort.js", JS)
        for v in sample + flagged_shown:  # first, so every listing can link to the strips
            site.clip(v)
        df = board(runs)
        figs = "".join(site.figure(p) for p in P.board_plots(df)) if runs else ""
        site.write("benchmark.html", benchmark_page(site, sample, flagged_shown))
        for c, name in enumerate(bench.classes):
            site.write(class_page_name(name), class_page(site, c, name))
        for run in runs:
            site.write(f"runs/{run.page}.html", run_page(site, run))
        site.write("results.html", results_page(site, df, figs))
        site.write("index.html", index_page(site, runs, df, figs))
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        if out.exists():
            os.replace(out, old)
        os.replace(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out / "index.html"
