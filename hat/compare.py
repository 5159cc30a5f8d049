"""``hat compare``: two runs of one benchmark, metric by metric, from their predictions files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from . import __version__
from .errors import HatError
from .evaluate import read_predictions
from .metrics import RATIO_METRICS
from .stats import DEFAULT_RESAMPLES, DEFAULT_SEED, compare
from .store import check_out_file, write_csv, write_json

#: what --out may be
OUT_FORMATS = (".csv", ".json")


@dataclass
class Report:
    name_a: str
    name_b: str
    bench: str
    metrics: pd.DataFrame  # one row per metric both runs define
    per_class: pd.DataFrame  # per-class accuracy differences significant after Holm
    info: dict[str, Any]


def predictions_path(run: str | Path) -> Path:
    """A run directory, its results.json or its predictions.parquet -> the predictions file."""
    p = Path(run)
    if p.is_dir():
        p = p / "predictions.parquet"
    elif p.suffix == ".json":
        p = p.with_name("predictions.parquet")
    if not p.is_file():
        raise HatError(f"no predictions file for run {run} (looked for {p}); give a run directory written by 'hat eval'")
    return p


def _name(meta: dict[str, Any], run: str | Path) -> str:
    name = meta.get("model", {}).get("name") or Path(run).name
    protocol = meta.get("model", {}).get("protocol")
    return f"{name} ({protocol})" if protocol else str(name)


def compare_runs(run_a: str | Path, run_b: str | Path, *, resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED,
                 out: str | Path | None = None) -> Report:
    """Paired differences A − B; refused unless both runs are on the same benchmark (its hash)."""
    if out is not None:
        if Path(out).suffix not in OUT_FORMATS:
            raise HatError(f"--out {out}: give a file ending in {' or '.join(OUT_FORMATS)}")
        check_out_file(out, "the comparison")
    pa, ma = read_predictions(predictions_path(run_a))
    pb, mb = read_predictions(predictions_path(run_b))
    ha, hb = ma["benchmark"].get("hash"), mb["benchmark"].get("hash")
    if ha != hb:
        raise HatError(f"runs are on different benchmarks ({run_a}: {ma['benchmark'].get('name')} {ha}, "
                       f"{run_b}: {mb['benchmark'].get('name')} {hb}); compare runs of the same benchmark")
    table, per_class, info = compare(pa, pb, resamples, seed)
    if table.empty:
        raise HatError(f"{run_a} and {run_b} share no metric (evaluated on different sets?)")
    report = Report(_name(ma, run_a), _name(mb, run_b), f"{ma['benchmark'].get('name')} {ha}", table, per_class, info)
    if out is not None:
        write_report(report, Path(out), run_a, run_b)
    return report


def write_report(report: Report, out: Path, run_a: str | Path, run_b: str | Path) -> None:
    """CSV: the metric rows (scope ``all``) then the per-class rows (scope ``class``); JSON: both lists and the setup."""
    if out.suffix == ".csv":
        m = report.metrics.assign(scope="all")
        c = report.per_class.assign(scope="class")
        cols = ["scope", "metric", "label", "class", "n", "a", "b", "diff", "diff_lo", "diff_hi", "p_bootstrap",
                "a_only", "b_only", "p_mcnemar", "p_holm", "significant"]
        both = pd.concat([m, c.assign(significant=True)], ignore_index=True) if len(c) else m
        write_csv(out, both.reindex(columns=cols))
    else:
        rows = lambda df: [{k: (None if pd.isna(v) else v) for k, v in r.items()}  # noqa: E731
                           for r in df.astype(object).to_dict("records")]
        write_json(out, {"a": {"run": str(run_a), "name": report.name_a}, "b": {"run": str(run_b), "name": report.name_b},
                         "benchmark": report.bench, "intervals": report.info, "metrics": rows(report.metrics),
                         "per_class_significant": rows(report.per_class), "hat_version": __version__})


def format_rows(table: pd.DataFrame) -> list[tuple[str, ...]]:
    """Terminal rows: values in % (ratios as they are), the interval of A − B, p-values, a star when significant."""
    out = []
    for r in table.to_dict("records"):
        ratio = r["metric"] in RATIO_METRICS
        f = (lambda v: "-" if v is None or pd.isna(v) else f"{v:.2f}") if ratio else \
            (lambda v: "-" if v is None or pd.isna(v) else f"{100 * v:.1f}")
        diff = "-" if pd.isna(r["diff"]) else (f"{r['diff']:+.2f}" if ratio else f"{100 * r['diff']:+.1f}")
        p = lambda v: "-" if v is None or pd.isna(v) else f"{v:.2g}"  # noqa: E731
        counts = "-" if r["a_only"] is None or pd.isna(r["a_only"]) else f"{int(r['a_only'])} / {int(r['b_only'])}"
        out.append((r["metric"], f(r["a"]), f(r["b"]), diff, f"[{f(r['diff_lo'])}, {f(r['diff_hi'])}]",
                    p(r["p_bootstrap"]), counts, p(r["p_mcnemar"]), "*" if r["significant"] else ""))
    return out
