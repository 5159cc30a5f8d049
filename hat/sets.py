"""The benchmark's sets and the metric each one feeds: one table for composition, metrics and every view.

``hat.bench`` dispatches composition on these names; ``hat.metrics`` (values, per-class tables, the terminal
summary) and ``hat.leaderboard`` (columns, Markdown) read the metric keys and labels from here. The
swap and SCUBA families are generated from ``hat.pairs.SWAP_TYPES`` and ``hat.scuba.SCUBA_SOURCES``.
"""

from __future__ import annotations

from dataclasses import dataclass

from .pairs import SWAP_TYPES
from .scuba import SCUBA_SETS


@dataclass(frozen=True)
class ClipSet:
    """A set with one clip per video, and the top-1 accuracy over it."""

    name: str
    family: str  # "base": every usable video; "object": videos with named objects
    metric: str  # the accuracy's key in results.json
    head: str  # its name in tables (Markdown, the terminal)
    ratio: str | None = None  # the accuracy over OAcc (BOR, HOR), where one is reported
    top5: bool = False  # a top-5 accuracy ``<metric>_top5`` is reported too


#: the single-clip sets in the order metrics, per-class tables and summaries list them
CLIP_SETS = (
    ClipSet("original", "base", "oacc", "OAcc", top5=True),
    ClipSet("background_only", "base", "bo_acc", "Background-Only acc", ratio="bor", top5=True),
    ClipSet("human_only", "base", "ho_acc", "Human-Only acc", ratio="hor", top5=True),
    ClipSet("masked_background", "base", "p_top1", "P-top1"),
    ClipSet("masked_person", "base", "b_top1", "B-top1"),
    ClipSet("masked_object_box", "object", "obj_box_top1", "Object boxes masked top-1"),
    ClipSet("masked_object_shape", "object", "obj_shape_top1", "Object shapes masked top-1"),
    ClipSet("masked_background_objects", "object", "p_obj_top1", "Background + objects masked top-1"),
)
#: the masking sets (one accuracy each, no ratio, no top-5): P-top1, B-top1 and the object ones
MASKED_SETS = tuple(s for s in CLIP_SETS if not s.top5)

#: composition order of the base sets (evaluation, and so predictions.parquet, follows it)
BASE_SETS = ("original", "human_only", "background_only", "masked_background", "masked_person")
OBJECT_SETS = tuple(s.name for s in CLIP_SETS if s.family == "object")  # videos with named objects
SWAP_SETS = tuple(f"swap_{t}" for t in SWAP_TYPES)
ALL_SETS = BASE_SETS + OBJECT_SETS + SWAP_SETS + SCUBA_SETS
#: sets with a clip per repeat (their rows carry a background)
REPEATED_SETS = SWAP_SETS + SCUBA_SETS
#: per-set clip counts recorded in the metrics (``n_<set>``); swaps have ``n_swap_<type>`` × ``repeats_<type>``
COUNTED_SETS = tuple(s.name for s in CLIP_SETS if s.name != "original")

assert sorted(BASE_SETS) == sorted(s.name for s in CLIP_SETS if s.family == "base")
