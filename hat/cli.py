"""The ``hat`` command: a thin layer over the library (every command is a function call)."""

from __future__ import annotations

import contextlib
import dataclasses
import sys
from pathlib import Path
from typing import Callable, Iterator

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from .config import BuildConfig
from .engines.build import ENGINES
from .errors import HatError

console = Console(stderr=True, highlight=False)
if not console.is_terminal:  # logs and pipes: tables wide enough that no row folds at 80 columns
    console = Console(stderr=True, highlight=False, width=120)


@contextlib.contextmanager
def progress_bar(desc: str) -> Iterator[Callable[[int, int], None]]:
    with Progress(
        TextColumn(desc), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
        console=console, transient=False, disable=not console.is_terminal,
    ) as bar:
        task = bar.add_task(desc, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def _csv_list(text: str | None) -> list[str] | None:
    return [s.strip() for s in text.split(",") if s.strip()] if text else None


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(package_name="hat-bias", prog_name="hat")
def cli() -> None:
    """How much does an action-recognition model look at the person, and how much at the scene?"""


def _config_option(name: str) -> Callable:
    """``hat build``'s option for a BuildConfig field: flag, type, default and help from its metadata."""
    f = _CONFIG_FIELDS[name]
    meta = f.metadata["cli"]
    default = meta["default"] if meta["default"] is not None else f.default
    default = None if default is dataclasses.MISSING else default
    kw: dict = {} if meta["help"] is None else {"help": meta["help"]}
    if "bool" in str(f.type):
        kw["is_flag"] = True
    elif default is not None:  # click takes the type from the default
        kw.update(default=default, show_default=True)
    elif meta["path"] is not None:
        kw["type"] = click.Path(**meta["path"])
    elif "int" in str(f.type):
        kw["type"] = int
    decls = [meta["flag"] or "--" + name.replace("_", "-")]
    if meta["flag"]:
        decls.append(name)
    return click.option(*decls, **kw)


_CONFIG_FIELDS = {f.name: f for f in dataclasses.fields(BuildConfig) if "cli" in f.metadata}
#: the BuildConfig fields ``hat build`` takes as they are typed (scuba and the backend options are parsed)
_CONFIG_FLAGS = tuple(_CONFIG_FIELDS)


@cli.command()
@_config_option("source")
@click.option("--out", "out", type=click.Path(file_okay=False), help="benchmark directory [benchmarks/<source>]")
@_config_option("split")
@click.option("--source-opt", "-S", multiple=True, metavar="KEY=VALUE", help="source option (repeatable)")
@_config_option("segmenter")
@click.option("--segmenter-opt", multiple=True, metavar="KEY=VALUE")
@_config_option("inpainter")
@click.option("--inpainter-opt", multiple=True, metavar="KEY=VALUE")
@_config_option("scene")
@click.option("--scene-opt", multiple=True, metavar="KEY=VALUE")
@_config_option("num_frames")
@_config_option("context_frames")
@_config_option("short_side")
@_config_option("k_close")
@_config_option("k_far")
@_config_option("cov_min")
@_config_option("cov_max")
@_config_option("mask_smooth")
@_config_option("flicker_ratio")
@_config_option("max_residual")
@click.option("--gdino-config", type=click.Path(dir_okay=False), help="grounded-sam: GroundingDINO config [SwinT OGC]")
@click.option("--gdino-ckpt", type=click.Path(dir_okay=False), help="grounded-sam: groundingdino_swint_ogc.pth")
@click.option("--gdino-text-encoder", type=click.Path(file_okay=False), help="grounded-sam: local bert-base-uncased folder")
@click.option("--sam-ckpt", type=click.Path(dir_okay=False), help="grounded-sam: sam_vit_{h,l,b}_*.pth")
@click.option("--sam-type", type=click.Choice(["auto", "vit_h", "vit_l", "vit_b"]), help="grounded-sam: SAM size [auto]")
@click.option("--places365-ckpt", type=click.Path(dir_okay=False),
              help="places365: CSAIL's resnet{18,50}_places365.pth.tar (same as --scene-opt ckpt=)")
@click.option("--e2fgvi-ckpt", type=click.Path(dir_okay=False),
              help="e2fgvi: E2FGVI-HQ-CVPR22.pth or E2FGVI-CVPR22.pth (same as --inpainter-opt ckpt=)")
@click.option("--device", help="cpu, cuda, cuda:N for the backends that take one (the segmenter only when named) [cpu]")
@_config_option("repeats")
@_config_option("swap_types")
@_config_option("placement")
@_config_option("seed")
@_config_option("limit")
@click.option("--shard", help="process every N-th video starting at i: i/N")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="parallel processes (1 or more; --device cuda spreads them over the visible GPUs); ray: stage actors")
@_config_option("pairs_file")
@click.option("--manifest", type=click.Path(file_okay=False),
              help="rebuild a published manifest (manifests/NAME): its videos, frames, pairs and settings; give only "
                   "--source, -S and --out (and weight files)")
@click.option("--engine", type=click.Choice(list(ENGINES)), default="local", show_default=True,
              help="local: this machine's processes; ray: a Ray cluster (pip install 'hat-bias[ray]')")
@click.option("--ray-address", help="ray: 'auto' or host:port joins a running cluster [start a local Ray]")
@click.option("--gpus-per-worker", type=float, default=0.0, show_default=True,
              help="ray: GPUs per segment/inpaint actor (fractions share a GPU)")
@click.option("--scuba", help="SCUBA/SCUFO background sources, comma-separated: places, stripes, still; 'none' for no "
                   "SCUBA sets [stripes,still, plus places with --scuba-images]")
@_config_option("scuba_images")
@_config_option("scuba_filter")
def build(**kw) -> None:
    """Generate a counterfactual benchmark (resumable: rerun the same command to continue)."""
    from .config import AUTO_SEGMENTER, BuildConfig, backend_flags, parse_options
    from .engines.build import EngineOptions
    from .pipeline import PER_VIDEO_STAGES, parse_shard
    from .pipeline import build as run_build
    from .sources import SOURCES

    shard = parse_shard(kw.pop("shard"))
    engine = EngineOptions(engine=kw.pop("engine"), workers=kw.pop("workers"), ray_address=kw.pop("ray_address"),
                           gpus_per_worker=kw.pop("gpus_per_worker"))
    manifest = kw.pop("manifest")
    if manifest:
        from .manifest import load_manifest

        manifest = load_manifest(manifest)
        if not _given("source"):
            kw["source"] = manifest.meta["config"]["source"]
    out = kw.pop("out") or str(Path("benchmarks") / (manifest.name if manifest else SOURCES.resolve(kw["source"])))
    opts = {k: parse_options(kw.pop(f"{k}_opt"), k) for k in ("source", "segmenter", "inpainter", "scene")}
    backend_flags(kw, opts)
    kw["swap_types"] = _csv_list(kw["swap_types"]) or []
    kw["scuba"] = _scuba_sources(kw["scuba"], kw["scuba_images"])
    cfg = BuildConfig(**{k: kw[k] for k in _CONFIG_FLAGS}, scuba=kw["scuba"],
                      **{f"{k}_options": opts[k] for k in opts})
    if manifest:
        from .manifest import apply_manifest

        names = {"swap_types", "num_frames", "context_frames", "short_side", "segmenter", "inpainter", "scene", "k_close",
                 "k_far", "cov_min", "cov_max", "mask_smooth", "flicker_ratio", "max_residual", "repeats", "placement",
                 "seed", "split", "source"}
        cfg = apply_manifest(cfg, manifest, {k for k in names if _given(k)})
    with progress_bar("build") as update:
        s = run_build(cfg, out, shard=shard, progress=update, engine=engine)
    t = Table(title=f"hat build → {s.out}", show_header=True)
    t.add_column("stage")
    t.add_column("done", justify="right")
    t.add_column("already there", justify="right")
    for stage in PER_VIDEO_STAGES:
        if stage != "residual" or stage in s.stage_done or stage in s.stage_skipped:  # none where masks are given
            t.add_row(stage, str(s.stage_done[stage]), str(s.stage_skipped[stage]))
    console.print(t)
    if cfg.segmenter == AUTO_SEGMENTER:
        _say(f"segmenter: {_recorded_segmenter(s.out)} (--segmenter auto)")
    shard_note = f" (shard {shard[0]}/{shard[1]}: {s.in_shard})" if shard[1] > 1 else ""
    _say(f"videos: {s.total}{shard_note}")
    for worker, device in sorted(s.placement.items()):
        _say(f"ray worker {worker}: {device}")
    if s.removed_tmp:
        _say(f"removed {s.removed_tmp} temporary files a killed run left behind")
    for reason, k in s.failed.most_common():
        _say(f"  skipped {k}: {reason}")
    if s.complete:
        c = s.counts
        kept = f" ({c['residual_rejected']} refused: Background-Only still shows a person)" if c.get("residual_rejected") else ""
        _say(f"usable {c['ok']} of {c['videos']}; foregrounds {c['foregrounds']}, backgrounds {c['backgrounds']}{kept}")
        _say("pairs: " + (", ".join(f"{k} {v}" for k, v in c["pairs"].items()) or "none"))
        if "scuba" in c:  # each SCUBA row is also its SCUFO twin
            _say("scuba (and scufo) backgrounds: " + (", ".join(f"{k} {v}" for k, v in c["scuba"].items()) or "none"))
    for note in s.notes:
        _note(note)


def _given(param: str) -> bool:
    """Whether the user typed this option (not its default)."""
    from click.core import ParameterSource

    return click.get_current_context().get_parameter_source(param) not in (None, ParameterSource.DEFAULT)


def _scuba_sources(text: str | None, images: str | None) -> list[str]:
    """``--scuba`` as a list: the default adds ``places`` when an image folder is given; ``none`` is no source."""
    from .scuba import DEFAULT_SCUBA

    if text is None:
        return list(DEFAULT_SCUBA) + (["places"] if images else [])
    return [] if text.strip().lower() == "none" else (_csv_list(text) or [])


def _recorded_segmenter(out: Path) -> str:
    """The segmenter a build used, as its build.yaml records it (``auto`` resolved)."""
    import yaml

    from .layout import BUILD_FILE

    return str(yaml.safe_load((Path(out) / BUILD_FILE).read_text())["segmenter"]["name"])


def _bootstrap_options(f: Callable) -> Callable:
    """--bootstrap / --bootstrap-seed, shared by eval, metrics and compare (defaults in hat.stats)."""
    f = click.option("--bootstrap-seed", "bootstrap_seed", type=int, default=None,
                     help="seed of the video resamples [0]")(f)
    return click.option("--bootstrap", type=int, default=None, metavar="N",
                        help="video resamples for the 95 % intervals; 0: none [1000]")(f)


def _bootstrap_args(bootstrap: int | None, seed: int | None) -> tuple[int, int]:
    from .evaluate import check_bootstrap
    from .stats import DEFAULT_RESAMPLES, DEFAULT_SEED

    args = (DEFAULT_RESAMPLES if bootstrap is None else bootstrap, DEFAULT_SEED if seed is None else seed)
    check_bootstrap(*args)
    return args


@cli.command(name="eval")
@click.option("--model", "model_specs", required=True, multiple=True,
              help="checkpoint file or Hugging Face directory (layout detected), registered name, or python:module:function; "
                   "repeat to evaluate several models on clips composed once")
@click.option("--bench", type=click.Path(), help="benchmark directory [the only one under benchmarks/]")
@click.option("--out", "outs", multiple=True, type=click.Path(file_okay=False),
              help="run directory, one per --model in the same order [results/<model>__<bench>]")
@click.option("--arch", help="adapter to use instead of detecting it from the checkpoint (see 'hat list')")
@click.option("--clip-weights", type=click.Path(dir_okay=False), help="base OpenAI CLIP weights (ViFi-CLIP, Open-VCLIP need them) "
                   "[OpenAI's file for the architecture, e.g. ViT-B-16.pt, in $HAT_WEIGHTS or ~/.cache/hat/weights]")
@click.option("--frames", type=int, help="frames per clip [the adapter's own protocol]")
@click.option("--templates", help="prompt templates: a set name, a file (one per line), or one template with {}")
@click.option("--class-names", type=click.Path(dir_okay=False), help="names to put in prompts, one per line [benchmark's]")
@click.option("--model-opt", "-M", multiple=True, metavar="KEY=VALUE",
              help="adapter option (repeatable): sampling=dense, rate=16, views=3, crops=3, cache_dir=none ...")
@click.option("--sets", help="comma-separated sets [all available]")
@click.option("--batch-size", type=int, default=32, show_default=True, help="clips per forward pass")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda, cuda:N")
@click.option("--precision", type=click.Choice(["fp32", "fp16", "bf16"]), help="weights and activations [fp32]")
@click.option("--trust-checkpoint", is_flag=True, help="allow full unpickling of a checkpoint you trust")
@click.option("--overwrite", is_flag=True, help="replace a run made with other settings in the same --out")
@click.option("--candidates", type=click.Path(dir_okay=False),
              help="score only among these classes (a file of class names or indices, one per line)")
@click.option("--drop-outside", is_flag=True, help="with --candidates: skip clips whose label is not a candidate")
@_bootstrap_options
@click.option("--engine", type=click.Choice(list(ENGINES)), default="local", show_default=True,
              help="local: this machine; ray: compose tasks and one model actor per GPU on a Ray cluster")
@click.option("--ray-address", help="--engine ray: 'auto' or host:port joins a running cluster [start a local Ray]")
@click.option("--loader-workers", type=int,
              help="--engine local: processes composing clips while the model runs (0: in the main process) "
                   "[min(4, CPUs - 1)]")
@click.option("--part-size", type=int, default=256, show_default=True,
              help="clips per predictions part written as the run goes (a rerun resumes after the last part)")
def eval_cmd(model_specs, bench, outs, arch, clip_weights, frames, templates, class_names, model_opt, sets, batch_size,
             device, precision, trust_checkpoint, overwrite, engine, ray_address, loader_workers, part_size, candidates,
             drop_outside, bootstrap, bootstrap_seed) -> None:
    """Evaluate models on a benchmark; writes predictions.parquet, results.json, per_class.csv per model.

    Resumable: predictions are written in parts, and the same command again continues a killed run.
    """
    from .bench import Benchmark, default_bench
    from .config import parse_options
    from .engines.eval import ModelLoad, make_engine
    from .evaluate import evaluate_many, filter_items, protocol_tag, read_class_list, run_name
    from .store import check_out_dir
    from .models import load_model

    if outs and len(outs) != len(model_specs):
        raise HatError(f"give one --out per --model, in the same order ({len(model_specs)} --model, {len(outs)} --out), "
                       "or none")
    if part_size < 1:
        raise HatError(f"--part-size must be at least 1 clip (got {part_size})")
    resamples, seed = _bootstrap_args(bootstrap, bootstrap_seed)
    if candidates and engine == "ray":
        raise HatError("--candidates runs on the local engine only for now (the Ray engine's model actors score every "
                       "class); leave out --engine ray")
    b = Benchmark(bench or default_bench())
    if not bench:
        _say(f"benchmark: {b.root}")
    if drop_outside and not candidates:
        raise HatError("--drop-outside applies to --candidates only (give the candidate classes)")
    cand = read_class_list(candidates, b.classes) if candidates else None
    if cand is not None:  # before the model loads: clips outside the candidates are refused unless dropped
        filter_items(list(b.items(b.check_sets(_csv_list(sets)))), cand, drop_outside)
    given = {"clip_weights": clip_weights, "frames": frames, "templates": templates, "class_names": class_names,
             "precision": precision}
    opts = {k: v for k, v in given.items() if v is not None}
    opts.update(parse_options(model_opt, "model"))
    plugins = [m for m in model_specs if m.startswith("python:")]
    if plugins and opts:
        raise HatError(f"options {', '.join(sorted(opts))} do not apply to python: models (configure the callable itself)")
    if trust_checkpoint:
        opts["trust_checkpoint"] = True
    for out in outs:
        check_out_dir(Path(out))
    loads = [ModelLoad(m, arch, {} if m.startswith("python:") else {**opts, "device": device}) for m in model_specs]
    eng = make_engine(engine, loader_workers=loader_workers, ray_address=ray_address, loads=loads)
    if engine == "ray":  # the models load in the actors, where they run (their GPUs), and only there
        models = eng.start(b)
        names = [m.run_name for m in models]
    else:
        models = [load_model(ld.spec, arch=ld.arch, classes=b.classes, **ld.options) for ld in loads]
        names = [run_name(m, b, protocol_tag(m, ld.options, cand)) for m, ld in zip(models, loads)]
    outs = list(outs) or [str(Path("results") / name) for name in names]
    try:
        with progress_bar("eval") as update:
            results = evaluate_many(models, b, outs, sets=_csv_list(sets), batch_size=batch_size, progress=update,
                                    overwrite=overwrite, engine=eng, part_size=part_size, bootstrap=resamples,
                                    seed=seed, candidates=cand, drop_outside=drop_outside)
    finally:
        if engine == "ray":
            eng.stop()
    for res, out in zip(results, outs):
        if cand is not None:
            e = res["eval"]
            _say(f"label space: {len(cand)} candidate classes ({e.get('scored_by')})"
                 + (f"; {e['dropped_clips']} clips outside them skipped" if e.get("dropped_clips") else ""))
        _print_metrics(res)
        _say(f"wrote {Path(out) / 'results.json'}")


def _print_metrics(res: dict) -> None:
    from .metrics import SMALL_N, format_summary, small_n_warning

    t = Table(title=f"{res['model'].get('name')} on {res['benchmark']['name']}")
    t.add_column("metric")
    t.add_column("value", justify="right")
    iv = res.get("intervals")
    if iv:
        t.add_column(f"{100 * iv['level']:.0f} % interval", justify="right")
    t.add_column("n", justify="right")
    t.add_column("over")
    for k, v, ci, n, over in format_summary(res["metrics"], intervals=True):
        small = n.split(" ")[0].isdigit() and int(n.split(" ")[0]) < SMALL_N
        t.add_row(k, v, *([ci] if iv else []), f"[yellow]{n}[/yellow]" if small else n, over)
    console.print(t)
    if iv:
        _say(f"intervals: {iv['resamples']} resamples of the videos (seed {iv['seed']}"
             f"{', stratified by class' if iv['stratified'] else ''}), percentile bounds")
    warn = small_n_warning(res["metrics"])
    if warn:
        _note(warn, "warning")


def _note(text: str, kind: str = "note") -> None:
    """One line, never wrapped by the console (it goes to logs and to people who grep them)."""
    colour = "yellow" if kind in ("note", "warning") else "red"
    console.print(f"[{colour}]{kind}:[/{colour}] {escape(text)}", soft_wrap=True)


def _say(text: str) -> None:
    """A line of text as written: never folded at the console's width, brackets (``[something]``) kept."""
    console.print(escape(text), soft_wrap=True)


@cli.command()
@click.argument("predictions", type=click.Path())
@click.option("--base-classes", type=click.Path(dir_okay=False),
              help="split every metric into these base classes (names or indices, one per line) and the novel rest, with their HM")
@_bootstrap_options
def metrics(predictions, base_classes, bootstrap, bootstrap_seed) -> None:
    """Recompute results.json and per_class.csv from a predictions file alone."""
    from .evaluate import write_results

    resamples, seed = _bootstrap_args(bootstrap, bootstrap_seed)
    res = write_results(predictions, base_classes=base_classes, bootstrap=resamples, seed=seed)
    _print_metrics(res)
    if "base_novel" in res:
        _print_base_novel(res["base_novel"])


def _print_base_novel(bn: dict) -> None:
    from .metrics import format_summary

    novel = {k: (v, n) for k, v, n, _ in format_summary(bn["novel"])}
    t = Table(title=f"base ({len(bn['base_classes'])} classes) / novel")
    for col, just in (("metric", "left"), ("base", "right"), ("novel", "right"), ("n base / novel", "right")):
        t.add_column(col, justify=just)
    for k, vb, nb, _ in format_summary(bn["base"]):
        vn, nn = novel.get(k, ("-", "0"))
        t.add_row(k, vb, vn, f"{nb} / {nn}")
    console.print(t)
    hm = ", ".join(f"{k} {100 * v:.1f}" for k, v in bn["hm"].items() if k in ("oacc", "oacc_top5", "shacc_random", "scuba_stripes_top1"))
    _say(f"HM(base, novel): {hm or '-'} (all in results.json base_novel.hm)")


#: per-class rows printed by hat compare (all of them go to --out)
SHOWN_CLASS_ROWS = 20


@cli.command()
@click.argument("run_a", type=click.Path())
@click.argument("run_b", type=click.Path())
@click.option("--out", type=click.Path(dir_okay=False), help="also write every row to FILE.csv or FILE.json")
@_bootstrap_options
def compare(run_a, run_b, out, bootstrap, bootstrap_seed) -> None:
    """Is A different from B? Paired differences of every metric over the same videos (same benchmark only)."""
    from .compare import compare_runs, format_rows

    resamples, seed = _bootstrap_args(bootstrap, bootstrap_seed)
    if resamples < 1:
        raise HatError("compare needs --bootstrap of at least 1 resample (1000 is the default)")
    report = compare_runs(run_a, run_b, resamples=resamples, seed=seed, out=out)
    t = Table(title=f"A: {report.name_a}   B: {report.name_b}   ({report.bench})")
    for c, just in (("metric", "left"), ("A", "right"), ("B", "right"), ("A − B", "right"), ("95 % interval", "right"),
                    ("p bootstrap", "right"), ("only A / only B right", "right"), ("p McNemar", "right"), ("", "left")):
        t.add_column(c, justify=just)
    for row in format_rows(report.metrics):
        t.add_row(*row)
    console.print(t)
    cls = report.per_class.sort_values(["p_holm", "metric"], kind="stable")
    if len(cls):
        t = Table(title="per class: differences significant after Holm's correction (McNemar, classes of one metric)")
        for c in ("metric", "class", "clips", "A", "B", "A − B", "95 % interval", "p Holm"):
            t.add_column(c, justify="left" if c in ("metric", "class") else "right")
        for r in cls.head(SHOWN_CLASS_ROWS).to_dict("records"):
            t.add_row(r["metric"], str(r["class"]), str(r["n"]), *(f"{100 * r[k]:.1f}" for k in ("a", "b", "diff")),
                      f"[{100 * r['diff_lo']:.1f}, {100 * r['diff_hi']:.1f}]", f"{r['p_holm']:.2g}")
        console.print(t)
        if len(cls) > SHOWN_CLASS_ROWS:
            _say(f"{len(cls) - SHOWN_CLASS_ROWS} more significant per-class differences (smallest p first above); "
                 "--out FILE.csv lists them all")
    else:
        _say("per class: no difference is significant after Holm's correction")
    _say(f"{report.info['resamples']} paired resamples of the videos (seed {report.info['seed']}"
         f"{', stratified by class' if report.info['stratified'] else ''}); *: p < 0.05 (McNemar's for accuracies, "
         "the largest over repeats; the bootstrap's for ratios)"
         + (f"; wrote {out}" if out else ""))


@cli.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option("-o", "--out", required=True, help="leaderboard .csv (or .md)")
@click.option("--markdown", help="also write a Markdown table here")
@click.option("--plot", "plot_dir", type=click.Path(file_okay=False),
              help="also write HAT's figures (BOR vs OAcc, swaps, P-top1 vs B-top1) here as PNG, PDF and SVG")
def leaderboard(inputs, out, markdown, plot_dir) -> None:
    """Merge results (run dirs, results.json files, other leaderboard CSVs) into one table."""
    from .leaderboard import write_leaderboard

    if plot_dir:  # checked before the table is written
        from .leaderboard import load_rows, merge
        from .store import check_out_dir

        check_out_dir(plot_dir, "plots")
        if merge(load_rows(list(inputs))).empty:
            raise HatError(f"no rows to plot: the leaderboard of {', '.join(inputs)} is empty")
    df = write_leaderboard(list(inputs), out, markdown)
    _say(f"{len(df)} rows → {out}")
    if plot_dir:
        from .plots import write_board_plots

        paths = write_board_plots(df, plot_dir)
        _say(f"{len(paths)} figure files → {plot_dir}/ (captions: {plot_dir}/captions.txt)")


@cli.command()
@click.option("--bench", type=click.Path(), help="benchmark directory [the only one under benchmarks/]")
@click.argument("results", nargs=-1)
@click.option("--out", type=click.Path(), help="report folder [<bench>/report]; an earlier report there is replaced")
@click.option("--sample", type=int, default=24, show_default=True, help="videos with sample strips (a fixed sample)")
@click.option("--max-flagged", type=int, default=60, show_default=True, help="flagged videos with strips (all are listed)")
@click.option("--frames", type=int, default=4, show_default=True, help="evaluation frames per strip")
@click.option("--thumbs", type=int, default=8, show_default=True, help="thumbnails per class page")
@click.option("--max-clips", type=int, default=12, show_default=True,
              help="strips per run of clips right only thanks to the scene")
def report(bench, results, out, sample, max_flagged, frames, thumbs, max_clips) -> None:
    """A static HTML report of a benchmark and of runs on it (RESULTS: run folders, results.json files, or results/)."""
    from .bench import default_bench
    from .report import ReportConfig, write_report

    cfg = ReportConfig(sample=sample, max_flagged=max_flagged, frames=frames, thumbs=thumbs, max_clips=max_clips)
    with progress_bar("report") as update:
        index = write_report(bench or default_bench(), list(results), out, cfg, progress=update)
    _say(f"report → {index}")


@cli.command()
@click.option("--bench", required=True, type=click.Path())
@click.option("--set", "set_name", required=True,
              help="set(s) to export, comma-separated (e.g. swap_random,human_only); 'all' for every set; "
                   "'masks' for the person masks of the evaluation frames (PNG 0/255, or npz with --format npz)")
@click.option("--out", required=True, type=click.Path(file_okay=False))
@click.option("--format", "fmt", default="mp4", show_default=True,
              help="mp4 (lossless), frames (PNG), npz, or mmaction (files + MMAction2 list files)")
@click.option("--layout", default="rawframes", show_default=True, help="mmaction: rawframes (PNG, img_{:05}.png) or videos")
@click.option("--repeat", "repeats", type=int, multiple=True, help="only these repeats (swap sets)")
def export(bench, set_name, out, fmt, layout, repeats) -> None:
    """Write sets as files, pixel-identical to what eval sees, each with a CSV list of labels."""
    from .bench import Benchmark
    from .export import MASKS, export_sets, parse_sets

    b = Benchmark(bench)
    sets = parse_sets(b, set_name)
    with progress_bar("export") as update:
        tables = export_sets(b, sets, out, fmt=fmt, repeats=list(repeats) or None, layout=layout, progress=update)
    for name, table in tables.items():
        what = "videos' masks" if name == MASKS else "clips"
        _say(f"{len(table)} {what} → {out}/{name} (list: {out}/{name}.csv)")


@cli.command()
@click.option("--bench", type=click.Path(), help="benchmark directory [the only one under benchmarks/]")
@click.option("--video", "video_id", required=True, help="video id (manifest.csv's video_id)")
@click.option("--out", type=click.Path(dir_okay=False), help="PNG to write [<bench>/show/<video>.png]")
@click.option("--frames", "max_frames", type=int, default=8, show_default=True, help="evaluation frames shown, evenly chosen")
def show(bench, video_id, out, max_frames) -> None:
    """One contact sheet of a video: every set it is in, side by side, with its manifest row."""
    from .bench import Benchmark, default_bench
    from .show import manifest_row, write_contact_sheet

    b = Benchmark(bench or default_bench())
    row = manifest_row(b, video_id)
    path = write_contact_sheet(b, video_id, out, max_frames)
    t = Table(title=f"{video_id} in {b.name}", show_header=False)
    t.add_column("column")
    t.add_column("value")
    for k, v in row.items():
        t.add_row(str(k), str(v))
    console.print(t)
    _say(f"wrote {path}")


@cli.command(name="import-pairs")
@click.argument("folder", type=click.Path(file_okay=False))
@click.option("--classes", "classes_file", required=True, type=click.Path(dir_okay=False),
              help="class names in label order, one per line (Kinetics-400: its 400 names)")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="pairs CSV to write")
def import_pairs(folder, classes_file, out) -> None:
    """Turn HAT's published actionswap_*.pickle files into a pairs CSV ('hat build --pairs-file')."""
    from .hatpairs import import_hat_pairs
    from .store import check_out_file, write_csv

    check_out_file(out, "pairs")
    if not Path(classes_file).is_file():
        raise HatError(f"class list file not found: {classes_file}")
    classes = [c.strip() for c in Path(classes_file).read_text().splitlines() if c.strip()]
    pairs, report = import_hat_pairs(folder, classes)
    write_csv(out, pairs)
    for line in report.lines():
        _say(line)
    _say(f"{len(pairs)} pairs → {out}")


@cli.command()
@click.option("--bench", type=click.Path(file_okay=False), help="a finished benchmark to publish")
@click.option("--from-hat-pairs", "hat_pairs", type=click.Path(file_okay=False),
              help="instead: a folder of HAT-style actionswap_*_N.pickle lists (read as plain data)")
@click.option("--classes", "classes_file", type=click.Path(dir_okay=False), help="--from-hat-pairs: class names in label order")
@click.option("--videos", "videos_file", type=click.Path(dir_okay=False),
              help="--from-hat-pairs: the split's video list '<class>/<video> <n_frames> <label>' [the paired videos]")
@click.option("--source", help="--from-hat-pairs: the source that rebuilds it (k400, ucf101)")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="manifest folder (manifests/NAME)")
@click.option("--name", help="manifest name [the --out folder's name]")
@click.option("--overwrite", is_flag=True, help="replace the manifest already in --out")
def publish(bench, hat_pairs, classes_file, videos_file, source, out, name, overwrite) -> None:
    """Write a benchmark's definition without pixels (videos, frames, fingerprints, pairs, settings) to rebuild anywhere."""
    from .manifest import publish_bench, publish_hat_pairs

    if bool(bench) == bool(hat_pairs):
        raise HatError("give one of --bench DIR (a built benchmark) or --from-hat-pairs FOLDER (HAT-style pickles)")
    if bench:
        extra = [f for f, v in (("--classes", classes_file), ("--videos", videos_file), ("--source", source)) if v]
        if extra:
            raise HatError(f"{extra[0]} goes with --from-hat-pairs; --bench takes them from the benchmark")
        m = publish_bench(bench, out, name=name, overwrite=overwrite)
    else:
        if not classes_file or not source:
            raise HatError("--from-hat-pairs needs --classes FILE (names in label order) and --source (k400, ucf101)")
        m = publish_hat_pairs(hat_pairs, classes_file, source, out, name=name, videos_file=videos_file, overwrite=overwrite)
    for line in m.meta.get("report") or []:
        _say(line)
    c = m.meta["counts"]
    _say(f"manifest {m.name} ({m.hash}): {c['videos']} videos, pairs " + ", ".join(f"{k} {v}" for k, v in c["pairs"].items())
         + f" → {out}")


@cli.command(name="train-demo")
@click.option("--bench", type=click.Path(), help="take the source (and its train split) from this benchmark")
@click.option("--arch", "archs", required=True, multiple=True, help="demo-frame or demo-motion (repeatable, with --out)")
@click.option("--out", "outs", required=True, multiple=True, type=click.Path(dir_okay=False),
              help="checkpoint file to write, one per --arch in the same order")
@click.option("--epochs", type=int, help="training epochs [the arch's recipe: frame 25, motion 20]")
@click.option("--seed", type=int, default=0, show_default=True)
def train_demo_cmd(bench, archs, outs, epochs, seed) -> None:
    """Train embedded demo models on the synthetic source's train split (clips rendered once for all)."""
    import torch
    import yaml

    from .layout import BUILD_FILE
    from .models.demo import ARCHS, load_clips, train_demo
    from .sources import SOURCES
    from .store import atomic_path, check_out_file

    if len(archs) != len(outs):
        raise HatError(f"give one --out per --arch ({len(archs)} --arch, {len(outs)} --out)")
    bad = [a for a in archs if a not in ARCHS]
    if bad:
        raise HatError(f"unknown demo arch '{bad[0]}' (valid: {', '.join(ARCHS)})")
    for out in outs:
        check_out_file(Path(out), "the checkpoint")
    if bench:
        meta = yaml.safe_load((Path(bench) / BUILD_FILE).read_text()) if (Path(bench) / BUILD_FILE).is_file() else None
        if meta is None:
            raise HatError(f"{bench} is not a benchmark directory (no {BUILD_FILE})")
        src = SOURCES.create(meta["source"]["name"], **meta["source"]["options"])
        frames = meta["config"]["num_frames"]
    else:
        src = SOURCES.create("synthetic")
        frames = 16
    data = load_clips(src, "train", frames)
    for arch, out in zip(archs, outs):
        ckpt = train_demo(arch, src, num_frames=frames, epochs=epochs, seed=seed, log=_say, data=data)
        with atomic_path(out) as tmp:
            torch.save(ckpt, tmp)
        _say(f"wrote {out}")


@cli.command(name="list")
def list_cmd() -> None:
    """Show the registered sources, segmenters, inpainters, scene models, models and sets."""
    from .bench import ALL_SETS
    from .inpainters import INPAINTERS
    from .models import MODELS
    from .scene import SCENE_MODELS
    from .segmenters import SEGMENTERS
    from .sources import SOURCES

    regs = (SOURCES, SEGMENTERS, INPAINTERS, SCENE_MODELS, MODELS)
    width = max(len(e.name) for reg in regs for e in reg.entries())
    for reg in regs:
        click.echo(f"{reg.kind}s:")
        for e in reg.entries():
            alias = f" (alias: {', '.join(e.aliases)})" if e.aliases else ""
            click.echo(f"  {e.name:<{width}} {e.help}{alias}")
    click.echo("sets:\n  " + ", ".join(ALL_SETS))


def _one_line(text: str) -> str:
    """An error quoting a library's multi-line message still takes one line (logs are grepped line by line)."""
    return " ".join(part.strip() for part in text.strip().splitlines() if part.strip())


def main(argv: list[str] | None = None) -> int:
    """Entry point: user errors become one line on stderr and exit code 2, never a traceback."""
    try:
        rv = cli.main(args=argv, prog_name="hat", standalone_mode=False)
        return rv if isinstance(rv, int) else 0
    except HatError as e:
        click.echo(f"hat: error: {_one_line(str(e))}", err=True)
        return 2
    except click.exceptions.NoArgsIsHelpError as e:
        click.echo(e.ctx.get_help() if e.ctx else str(e), err=True)
        return 2
    except click.ClickException as e:
        click.echo(f"hat: error: {_one_line(e.format_message())}", err=True)
        return 2
    except click.exceptions.Abort:
        click.echo("hat: interrupted", err=True)
        return 130
    except KeyboardInterrupt:
        click.echo("hat: interrupted (rerun the same command to resume)", err=True)
        return 130


if __name__ == "__main__":
    sys.exit(main())
