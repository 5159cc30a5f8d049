"""Build configuration: a dataclass, recorded in full in every benchmark directory."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import yaml

from .constants import IMAGENET_MEAN, IMAGENET_STD
from .errors import HatError
from .pairs import SWAP_TYPES
from .scuba import DEFAULT_SCUBA, SCUBA_SOURCES


#: the segmenter name that :meth:`BuildConfig.resolved` replaces by a real one
AUTO_SEGMENTER = "auto"

#: used where neither the user nor the source says otherwise (the HAT paper's values)
GLOBAL_DEFAULTS: dict[str, Any] = {"num_frames": 16, "context_frames": 32, "k_close": 5, "k_far": 200}

# How each setting acts on a benchmark directory (every BuildConfig field is in exactly one group). Only a
# change of ARTIFACT_SETTINGS or of a backend (name or resolved options) makes the stored per-video artifacts
# stale; the others are re-derived from them in place (see hat.pipeline.check_resume).
#: backends, compared by name and by the options each one resolves (so ``-S seed=0`` equals nothing typed)
BACKENDS = ("source", "segmenter", "inpainter", "scene")
#: the settings the per-video artifacts depend on, besides the backends
ARTIFACT_SETTINGS = ("num_frames", "context_frames", "short_side", "mask_smooth")
#: which videos are built; a video's artifacts do not depend on them
SELECTION_SETTINGS = ("split", "limit", "manifest")
#: what only manifest.csv, pairs.csv and benchmark.yaml depend on
AGGREGATE_SETTINGS = (
    "cov_min", "cov_max", "flicker_ratio", "max_residual", "k_close", "k_far", "repeats", "swap_types", "placement",
    "seed", "mask_mean", "mask_std", "min_videos_per_class", "pairs_file", "scuba", "scuba_images", "scuba_filter",
)


def cli(help: str | None = None, *, flag: str | None = None, path: dict[str, bool] | None = None,
        default: str | None = None) -> dict[str, Any]:
    """Field metadata that ``hat build`` turns into its option (hat.cli), so each default is written once.

    ``flag`` overrides ``--field-name``; ``path`` makes it a ``click.Path(**path)``; ``default`` is the
    typed form of a list default (``--swap-types random,close,far,same``).
    """
    return {"cli": {"help": help, "flag": flag, "path": path, "default": default}}


@dataclass
class BuildConfig:
    source: str = field(default="synthetic", metadata=cli("benchmark source (see 'hat list')"))
    source_options: dict[str, Any] = field(default_factory=dict)
    split: str = field(default="val", metadata=cli())
    # frames eval sees per video (TSN segment sampling)
    num_frames: int | None = field(default=None, metadata=cli("frames per clip that eval sees [source default]", flag="--frames"))
    # extra frames spread over the video, for the inpainter
    context_frames: int | None = field(default=None, metadata=cli("extra frames spread over the video for the inpainter"))
    # working resolution; None keeps the native size
    short_side: int | None = field(default=None, metadata=cli("working resolution (short side in pixels) [native]"))
    # "auto": gt when the source provides masks, else the offline default
    segmenter: str = field(default=AUTO_SEGMENTER, metadata=cli(
        "auto: gt when the source has masks (synthetic), else the offline default (see 'hat list')"))
    segmenter_options: dict[str, Any] = field(default_factory=dict)
    inpainter: str = field(default="propagate", metadata=cli())
    inpainter_options: dict[str, Any] = field(default_factory=dict)
    scene: str = field(default="colorstats", metadata=cli("scene model for Close/Far ranking"))
    scene_options: dict[str, Any] = field(default_factory=dict)
    k_close: int | None = field(default=None, metadata=cli("Close: backgrounds from the k nearest classes [source default, else 5]"))
    k_far: int | None = field(default=None, metadata=cli("Far: backgrounds from the k farthest classes [source default, else 200]"))
    # a foreground needs every eval frame's person mask within [cov_min, cov_max]
    cov_min: float = field(default=0.05, metadata=cli("min person coverage of a foreground"))
    # a background needs only the upper bound (a little person is fine)
    cov_max: float = field(default=0.50, metadata=cli("max person coverage (fg and bg)"))
    mask_smooth: int = field(default=1, metadata=cli("temporal majority vote over this many stored frames (odd; 1 = off)"))
    # a frame flickers if it overlaps both neighbours < ratio x their own overlap
    flicker_ratio: float = field(default=0.5, metadata=cli(
        "a frame flickers if its mask overlaps both neighbours less than this times their own overlap"))
    # a background whose Background-Only still shows more person (on any frame) is not swapped in
    max_residual: float = field(default=0.01, metadata=cli(
        "a background is not swapped in when the segmenter still finds more person than this on a Background-Only frame"))
    repeats: int = field(default=3, metadata=cli())
    swap_types: list[str] = field(default_factory=lambda: list(SWAP_TYPES), metadata=cli(default=",".join(SWAP_TYPES)))
    placement: str = field(default="match", metadata=cli("match (move to the removed human) or keep"))
    seed: int = field(default=0, metadata=cli())
    mask_mean: tuple[float, float, float] = IMAGENET_MEAN  # normalisation in which masking colours ~ N(0, I)
    mask_std: tuple[float, float, float] = IMAGENET_STD
    min_videos_per_class: int = 2
    # only the first N videos of the split (a quick look)
    limit: int | None = field(default=None, metadata=cli("only the first N videos (a quick look)"))
    # use these swaps (e.g. HAT's published ones) instead of sampling
    pairs_file: str | None = field(default=None, metadata=cli(
        "use these swaps instead of sampling (e.g. from 'hat import-pairs'); unusable ones are dropped and counted",
        path={"dir_okay": False}))
    manifest: str | None = None  # rebuild this published manifest: its videos, frames and pairs (hat.manifest)
    scuba: list[str] = field(default_factory=lambda: list(DEFAULT_SCUBA))  # SCUBA/SCUFO background sources
    # the folder of scene images for the 'places' source
    scuba_images: str | None = field(default=None, metadata=cli(
        "a folder of scene images for the 'places' SCUBA source (e.g. Places365 test)", path={}))
    # SCUBA foregrounds by SCUBA's rule (>= 90 % of frames >= 10 % person) instead of ours
    scuba_filter: bool = field(default=False, metadata=cli(
        "SCUBA foregrounds by SCUBA's rule (>= 90 %% of frames with >= 10 %% person) instead of --cov-min/--cov-max"))

    def resolved(self, source_defaults: dict[str, Any], *, source_masks: bool = False) -> "BuildConfig":
        """Fill unset fields from the source's conventions, then the global defaults; validate.

        ``--segmenter auto`` becomes ``gt`` for a source that provides masks (``source_masks``), else
        the offline default; the resolved name is what build.yaml and benchmark.yaml record.
        """
        cfg = dataclasses.replace(self)
        if cfg.segmenter == AUTO_SEGMENTER:
            from .segmenters import OFFLINE_DEFAULT

            cfg.segmenter = "gt" if source_masks else OFFLINE_DEFAULT
        for key, value in GLOBAL_DEFAULTS.items():
            if getattr(cfg, key) is None:
                setattr(cfg, key, source_defaults.get(key, value))
        cfg.validate()
        return cfg

    def validate(self) -> None:
        if self.pairs_file is not None:
            from pathlib import Path

            if not Path(self.pairs_file).is_file():
                raise HatError(f"pairs file not found: {self.pairs_file}")
        bad = [s for s in self.swap_types if s not in SWAP_TYPES]
        if bad:
            raise HatError(f"unknown swap type '{bad[0]}' (valid: {', '.join(SWAP_TYPES)})")
        bad = [s for s in self.scuba if s not in SCUBA_SOURCES]
        if bad:
            raise HatError(f"unknown scuba source '{bad[0]}' (valid: {', '.join(SCUBA_SOURCES)})")
        if "places" in self.scuba and not self.scuba_images:
            raise HatError("scuba source 'places' needs a folder of scene images: --scuba-images DIR")
        if self.scuba_images and "places" not in self.scuba:
            raise HatError(f"--scuba-images is used by the 'places' source only, which is not in --scuba {','.join(self.scuba) or '(none)'}")
        if self.scuba_images:
            from pathlib import Path

            if not Path(self.scuba_images).is_dir():
                raise HatError(f"scuba images folder not found: {self.scuba_images}")
        if self.placement not in ("match", "keep"):
            raise HatError(f"unknown placement '{self.placement}' (valid: keep, match)")
        if self.mask_smooth < 1 or self.mask_smooth % 2 == 0:
            raise HatError(f"mask_smooth must be an odd window of at least 1 frame (got {self.mask_smooth})")
        if not 0 <= self.flicker_ratio <= 1:
            raise HatError(f"flicker_ratio must be within [0, 1] (got {self.flicker_ratio})")
        if not 0 <= self.max_residual <= 1:
            raise HatError(f"max_residual must be within [0, 1] (got {self.max_residual})")
        if not 0 <= self.cov_min < self.cov_max <= 1:
            raise HatError(f"coverage bounds must satisfy 0 <= cov_min < cov_max <= 1 (got {self.cov_min}, {self.cov_max})")
        for key in ("num_frames", "repeats", "k_close", "k_far", "limit", "short_side", "context_frames"):
            v = getattr(self, key)
            if v is not None and int(v) < 1:
                raise HatError(f"{key} must be at least 1 (got {v})")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["mask_mean"], d["mask_std"] = list(self.mask_mean), list(self.mask_std)
        if d["manifest"] is None:  # recorded only when used: other builds keep their bytes
            del d["manifest"]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "BuildConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise HatError(f"unknown build setting '{unknown[0]}' (valid: {', '.join(sorted(names))})")
        d = dict(d)
        for k in ("mask_mean", "mask_std"):
            if k in d:
                d[k] = tuple(d[k])
        return cls(**d)


#: the dedicated ``hat build`` flags that are grounded-sam segmenter options
SEGMENTER_FLAGS = ("gdino_config", "gdino_ckpt", "gdino_text_encoder", "sam_ckpt", "sam_type")


def backend_flags(kw: dict, opts: dict[str, dict]) -> None:
    """Dedicated flags are segmenter options; --device goes to every backend that takes one."""
    from .inpainters import INPAINTERS
    from .registry import accepts
    from .scene import SCENE_MODELS
    from .segmenters import SEGMENTERS

    given = {k: kw.pop(k) for k in SEGMENTER_FLAGS}
    given = {k: v for k, v in given.items() if v is not None}
    if given and not accepts(SEGMENTERS, kw["segmenter"], next(iter(given))):
        flag = "--" + next(iter(given)).replace("_", "-")
        also = " (name it: --segmenter grounded-sam)" if kw["segmenter"] == "auto" else ""
        raise HatError(f"{flag} is an option of --segmenter grounded-sam, not of '{kw['segmenter']}'{also}")
    opts["segmenter"] = {**given, **opts["segmenter"]}
    e2fgvi = kw.pop("e2fgvi_ckpt")
    if e2fgvi:
        if INPAINTERS.resolve(kw["inpainter"]) != "e2fgvi":
            raise HatError(f"--e2fgvi-ckpt is an option of --inpainter e2fgvi, not of '{kw['inpainter']}'")
        opts["inpainter"].setdefault("ckpt", e2fgvi)
    places = kw.pop("places365_ckpt")
    if places:
        if SCENE_MODELS.resolve(kw["scene"]) != "places365":
            raise HatError(f"--places365-ckpt is an option of --scene places365, not of '{kw['scene']}'")
        opts["scene"].setdefault("ckpt", places)
    device = kw.pop("device")
    if device:
        takers = [k for k, reg in (("segmenter", SEGMENTERS), ("inpainter", INPAINTERS), ("scene", SCENE_MODELS))
                  if accepts(reg, kw[k], "device")]
        if not takers:
            raise HatError(f"--device: none of the chosen backends runs on a device (segmenter '{kw['segmenter']}', "
                           f"inpainter '{kw['inpainter']}', scene '{kw['scene']}')")
        for k in takers:
            opts[k].setdefault("device", device)


def parse_options(pairs: tuple[str, ...] | list[str], what: str) -> dict[str, Any]:
    """``key=value`` strings -> dict, values read as YAML scalars (numbers, booleans, strings)."""
    out: dict[str, Any] = {}
    for p in pairs:
        if "=" not in p:
            raise HatError(f"{what} option '{p}' is not key=value")
        k, v = p.split("=", 1)
        try:
            out[k.strip()] = yaml.safe_load(v) if v.strip() else ""
        except yaml.YAMLError:
            out[k.strip()] = v
    return out
