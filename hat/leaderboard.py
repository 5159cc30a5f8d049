"""Leaderboard tables: one row per (model, benchmark), merged from results files and other boards."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pandas as pd

from .errors import HatError
from .metrics import RATIO_METRICS, SMALL_N, interval_halfwidth
from .pairs import SWAP_TYPES
from .scuba import SCUBA_SOURCES
from .sets import CLIP_SETS, MASKED_SETS
from .stats import interval_keys
from .store import check_out_file, write_csv, write_text

#: pair metrics per swap type (SHAcc, SBErr), each a mean over repeats with its std
SWAP_METRICS = ("shacc", "sberr")
COLUMNS = (
    ["benchmark", "model", "arch", "protocol", "n_videos", "oacc", "oacc_top5"]
    + [k for cs in CLIP_SETS if cs.ratio for k in (cs.metric, cs.ratio)]
    + [f"{m}_{t}{s}" for t in SWAP_TYPES for m in SWAP_METRICS for s in ("", "_std")]
    + [cs.metric for cs in MASKED_SETS]
    + ["n_foregrounds", "repeats", "model_hash", "bench_hash", "manifest", "hat_version"]
)
#: in- / out-of-context columns (SCUBA, SCUFO, contrast accuracy, harmonic means), after the HAT ones
OOC_COLUMNS = (
    [f"{k}{s}" for src in SCUBA_SOURCES for k in (f"scuba_{src}_top1", f"scuba_{src}_top5", f"scufo_{src}_top1",
                                                   f"contrast_{src}") for s in ("", "_std")]
    + [f"hm_{x}{s}" for x in [f"swap_{t}" for t in SWAP_TYPES] + [f"scuba_{src}" for src in SCUBA_SOURCES] for s in ("", "_top5")]
)
COLUMNS = COLUMNS + OOC_COLUMNS
#: 95 % bounds of each metric column that has them (results written before intervals leave them empty)
COLUMNS += interval_keys(COLUMNS)
KEY = ["benchmark", "bench_hash", "model", "model_hash", "protocol"]
#: results.json metric keys that are deliberately not columns: per-set clip counts and repeats (the board
#: keeps n_videos, n_foregrounds and the largest repeats), the foreground-only OAcc, the top-5 accuracies
#: of the Background-Only, Human-Only and swap sets; and their interval bounds
EXCLUDED = re.compile(r"^(?:n_(?!videos$|foregrounds$)\w+|repeats_\w+|oacc_fg|(?:bo_acc|ho_acc|shacc_[a-z]+)_top5)(?:_lo|_hi)?$")


def is_column(key: str) -> bool:
    """Whether a results.json metric becomes a leaderboard column (every metric is one or an explicit exclusion)."""
    return key in COLUMNS or not EXCLUDED.match(key)


def row_from_results(res: dict[str, Any]) -> dict[str, Any]:
    m = res["metrics"]
    row = {c: m.get(c) for c in COLUMNS}
    row.update({k: v for k, v in m.items() if k not in row and is_column(k)})  # a new metric is never dropped silently
    row["repeats"] = max((m.get(f"repeats_{t}") or 0 for t in SWAP_TYPES), default=0)
    row.update(
        benchmark=res["benchmark"]["name"], bench_hash=res["benchmark"].get("hash", ""),
        model=res["model"].get("name", ""), arch=res["model"].get("arch", ""), protocol=res["model"].get("protocol", ""),
        model_hash=res["model"].get("hash", ""), hat_version=res.get("hat_version", ""),
        manifest=manifest_label(res["benchmark"].get("manifest")),
    )
    cand = (res.get("eval") or {}).get("candidates")
    if cand is not None:  # another label space: another row, whatever the model's own protocol
        from .evaluate import candidates_tag

        row["protocol"] = "; ".join(p for p in (row["protocol"], candidates_tag(cand)) if p)
    return row


def manifest_label(ref: dict[str, Any] | None) -> str:
    """``name@hash``: rows with the same label were rebuilt from the same published definition."""
    return f"{ref['name']}@{ref['hash']}" if ref else ""


def load_rows(paths: list[str | Path]) -> pd.DataFrame:
    frames = []
    for p in map(Path, paths):
        if p.is_dir():
            p = p / "results.json"
        if not p.is_file():
            raise HatError(f"results file not found: {p}")
        if p.suffix == ".json":
            try:
                frames.append(pd.DataFrame([row_from_results(json.loads(p.read_text()))]))
            except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as e:
                raise HatError(f"{p}: not a hat results file ({e})") from None
        elif p.suffix == ".csv":
            df = pd.read_csv(p, keep_default_na=True, dtype={"model_hash": str, "bench_hash": str, "protocol": str})
            missing = [c for c in ("benchmark", "model") if c not in df.columns]
            if missing:
                raise HatError(f"{p}: not a leaderboard CSV (no column {missing[0]})")
            frames.append(df)
        else:
            raise HatError(f"{p}: expected a results .json, a run directory or a leaderboard .csv")
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COLUMNS)


def merge(df: pd.DataFrame) -> pd.DataFrame:
    """Fixed columns, one row per (benchmark, model) identity (later inputs win), stable order."""
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:  # in one step: a column at a time fragments the frame (hundreds of interval columns)
        df = pd.concat([df, pd.DataFrame({c: [None] * len(df) for c in missing}, index=df.index, dtype=object)], axis=1)
    extra = [c for c in df.columns if c not in COLUMNS]
    df = df[COLUMNS + extra].copy()
    for c in KEY:
        df[c] = df[c].fillna("").astype(str)
    df = df.drop_duplicates(subset=KEY, keep="last")
    return df.sort_values(["benchmark", "model", "model_hash"], kind="stable").reset_index(drop=True)


def sample_size(r: dict[str, Any]) -> str:
    """``videos`` or ``videos / foregrounds×repeats``, marked when small (see metrics.SMALL_N)."""
    def num(v: Any) -> int:
        return 0 if v is None or (isinstance(v, float) and pd.isna(v)) else int(v)

    nv, nf, rep = num(r.get("n_videos")), num(r.get("n_foregrounds")), num(r.get("repeats"))
    text = str(nv) + (f" / {nf}×{rep}" if nf and rep else "")
    small = [n for n in (nv, nf) if n] and min(n for n in (nv, nf) if n) < SMALL_N
    return text + (" (small n)" if small else "")


_SWAP_HEADS = {"shacc": "SHAcc", "sberr": "SBErr"}


def to_markdown(df: pd.DataFrame) -> str:
    masked = [cs for cs in MASKED_SETS if cs.family == "base"]
    shown = ["benchmark", "model", "n", "oacc"] + [cs.ratio for cs in CLIP_SETS if cs.ratio] + [
        f"{m}_{t}" for t in SWAP_TYPES for m in SWAP_METRICS] + [cs.metric for cs in masked]
    heads = ["benchmark", "model", "n", "OAcc"] + [cs.ratio.upper() for cs in CLIP_SETS if cs.ratio] + [
        f"{_SWAP_HEADS[m]} {t}" for t in SWAP_TYPES for m in SWAP_METRICS] + [cs.head for cs in masked]

    def missing(v: Any) -> bool:
        return v is None or (isinstance(v, float) and pd.isna(v))

    def cell(col: str, v: Any) -> str:
        if missing(v):
            return "-"
        if col in RATIO_METRICS:
            return f"{float(v):.2f}"
        if isinstance(v, (int, float)):
            return f"{100 * float(v):.1f}"
        return str(v)

    with_manifest = "manifest" in df.columns and df["manifest"].fillna("").astype(str).ne("").any()
    if with_manifest:  # only then: boards without manifests keep their layout
        shown.insert(1, "manifest")
        heads.insert(1, "manifest")
    lines = ["| " + " | ".join(heads) + " |", "|" + "|".join("---" for _ in heads) + "|"]
    repeated = df.duplicated(["benchmark", "model"], keep=False) if len(df) else pd.Series(dtype=bool)
    for i, r in enumerate(df.to_dict("records")):
        vals = []
        for c in shown:
            text = sample_size(r) if c == "n" else cell(c, r.get(c))
            if c == "model" and repeated.iloc[i] and r.get("protocol"):
                text += f" ({r['protocol']})"  # one checkpoint under several protocols
            sd = r.get(f"{c}_std")
            if text != "-" and sd is not None and not pd.isna(sd) and c.startswith(("shacc", "sberr")):
                text += f" ± {100 * float(sd):.1f}"
            lo, hi = r.get(f"{c}_lo"), r.get(f"{c}_hi")
            if text != "-" and not missing(lo) and not missing(hi):
                text += f" [{cell(c, lo)}, {cell(c, hi)}]"
            vals.append(text)
        lines.append("| " + " | ".join(vals) + " |")
    lines += ["", f"n: usable videos (OAcc, BOR, HOR, P-top1 and B-top1 are over all of them) / foregrounds × repeats "
                  f"(SHAcc and SBErr are over foregrounds only); \"small n\": fewer than {SMALL_N}, where a 95 % interval "
                  f"on an accuracy is wider than ±{100 * interval_halfwidth(SMALL_N):.0f} points."]
    if with_manifest:
        lines += [""] + comparability_notes(df)
    if len(df) and any(f"{c}_lo" in df.columns and df[f"{c}_lo"].notna().any() for c in shown):
        lines += ["[lo, hi]: 95 % bootstrap interval over the videos (a foreground carries all its clips); "
                  "± : std over repeats."]
    lines += _ooc_markdown(df, cell)
    return "\n".join(lines) + "\n"


def comparability_notes(df: pd.DataFrame) -> list[str]:
    """Which rows share a manifest (the same published videos, frames and pairs: comparable) and which do not."""
    label = df["manifest"].fillna("").astype(str)
    out = []
    for m in sorted(set(label) - {""}):
        rows = df[label == m]
        copies = rows["bench_hash"].astype(str).nunique()
        also = (f"; built from {copies} local copies (n {', '.join(sorted(set(rows['n_videos'].map(lambda v: str(int(v)) if pd.notna(v) else '?'))))}): "
                "videos missing from a copy differ, compare on the same benchmark hash for exact numbers") if copies > 1 else ""
        out.append(f"- manifest {m}: {len(rows)} rows ({', '.join(rows['model'].astype(str))}) comparable{also}.")
    lone = df[label == ""]
    if len(lone):
        out.append(f"- no manifest: {len(lone)} rows ({', '.join(lone['model'].astype(str))}), comparable only within one benchmark hash.")
    return out


def _ooc_markdown(df: pd.DataFrame, cell) -> list[str]:
    """A second table for the in-/out-of-context view: SCUBA top-1, SCUFO top-1, contrast and HM per source,
    and HM with each swap type's SHAcc; only the sources and types some row has."""
    def has(c: str) -> bool:
        return c in df.columns and df[c].notna().any()

    cols: list[tuple[str, str]] = []
    for src in SCUBA_SOURCES:
        cols += [(c, h) for c, h in ((f"scuba_{src}_top1", f"SCUBA {src}"), (f"scufo_{src}_top1", f"SCUFO {src}"),
                                    (f"contrast_{src}", f"contrast {src}"), (f"hm_scuba_{src}", f"HM SCUBA {src}")) if has(c)]
    cols += [(f"hm_swap_{t}", f"HM swap {t}") for t in SWAP_TYPES if has(f"hm_swap_{t}")]
    if not cols:
        return []
    out = ["", "| benchmark | model | OAcc | " + " | ".join(h for _, h in cols) + " |", "|" + "|".join("---" for _ in range(len(cols) + 3)) + "|"]
    repeated = df.duplicated(["benchmark", "model"], keep=False)
    for i, r in enumerate(df.to_dict("records")):
        model = str(r.get("model")) + (f" ({r['protocol']})" if repeated.iloc[i] and r.get("protocol") else "")
        vals = [str(r.get("benchmark")), model, cell("oacc", r.get("oacc"))]
        for c, _ in cols:
            text = cell(c, r.get(c))
            sd = r.get(f"{c}_std")
            if text != "-" and sd is not None and not pd.isna(sd):
                text += f" ± {100 * float(sd):.1f}"
            vals.append(text)
        out.append("| " + " | ".join(vals) + " |")
    out += ["", "SCUBA: the person on a still background (top-1); SCUFO: the same with the person frozen to one frame; "
                "contrast: right on SCUBA and wrong on SCUFO (per video); HM: 2·OAcc·X / (OAcc + X), top-1; mean ± std over repeats."]
    return out


def write_leaderboard(inputs: list[str | Path], out: str | Path, markdown: str | Path | None = None) -> pd.DataFrame:
    for path in (out, markdown):
        if path:
            check_out_file(path, "the leaderboard")
    df = merge(load_rows(inputs))
    out = Path(out)
    if out.suffix == ".md":
        write_text(out, to_markdown(df))
    else:
        write_csv(out, df)
    if markdown:
        write_text(markdown, to_markdown(df))
    return df
