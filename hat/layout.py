"""The benchmark directory's layout: every file name, stage extension and segment key, in one place.

A benchmark directory holds per-video artifacts (``artifacts/<stage>/<video>.<ext>``, hat.store) and the
aggregate tables that ``hat.pipeline.finalize`` derives from them; ``hat.bench`` reads them back. Both
sides (and export, manifest, report, the CLI) take the names from here, so moving a file is one edit.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

#: the benchmark's description: identity, counts, notes, the hashes of every aggregate below
BENCH_FILE = "benchmark.yaml"
#: the settings a build ran with (resolved backends), compared on resume
BUILD_FILE = "build.yaml"
#: per-video artifacts, one folder per stage (hat.store)
ARTIFACTS = "artifacts"
#: one row per video: status, reason, usability as foreground/background, objects, flags
MANIFEST_CSV = "manifest.csv"
#: per stored frame: person coverage, overlap with the previous frame, boxes
MASK_QUALITY_CSV = "mask_quality.csv"
CLASSES_TXT = "classes.txt"
#: scene model: class-by-class L1 distances, each class's ranking, its close/far extremes, a heatmap
SCENE_DISTANCE_CSV = "scene_distance.csv"
SCENE_RANKING_CSV = "scene_ranking.csv"
SCENE_EXTREMES_CSV = "scene_extremes.csv"
SCENE_HEATMAP_PNG = "scene_heatmap.png"
#: the scene labels a labelling scene model finds most in each class (absent otherwise)
SCENE_TOP_CSV = "scene_top.csv"
#: the Action-Swap pairs (hat.pairs.PAIR_COLUMNS)
PAIRS_CSV = "pairs.csv"
#: a rebuilt manifest: every manifest video and what was found (hat.manifest)
CHECK_CSV = "manifest_check.csv"
#: the SCUBA/SCUFO backgrounds (hat.scuba.SCUBA_COLUMNS); absent in benchmarks built before SCUBA
SCUBA_CSV = "scuba.csv"

#: the aggregates benchmark.yaml hashes, in the order it lists them (the order is part of its bytes)
HASHED_FILES = (MANIFEST_CSV, MASK_QUALITY_CSV, CLASSES_TXT, SCENE_DISTANCE_CSV, SCENE_RANKING_CSV, SCENE_EXTREMES_CSV,
                SCENE_HEATMAP_PNG, SCENE_TOP_CSV, PAIRS_CSV, CHECK_CSV, SCUBA_CSV)

#: per-video stages, in build order
PER_VIDEO_STAGES = ("frames", "segment", "inpaint", "scene", "residual")
#: each stage's artifact extension
STAGE_EXT = {"frames": "npz", "segment": "json", "inpaint": "npz", "scene": "npz", "residual": "json"}
#: where a failed video's reason is stored (errors/<video>.json)
ERRORS = "errors"
ERROR_EXT = "json"

# The segment JSON: the eval frames' person masks (RLE), the person boxes per frame, optionally the
# context frames' masks; the residual JSON: the person coverage the segmenter finds on Background-Only.
SEG_SIZE = "size"
SEG_RLE = "rle"
SEG_BOXES = "boxes"
SEG_OBJECTS = "objects"  # {names, rle, boxes} of the named objects, where the segmenter finds them
SEG_OBJECT_NAMES = "names"
SEG_CONTEXT = "context"  # {index, rle} of the inpainter-only frames
SEG_CONTEXT_INDEX = "index"
RESIDUAL_COVERAGE = "coverage"


def read_segment(path: str | Path) -> dict[str, Any]:
    """A segment artifact as stored (decode its masks with hat.masks.decode_rle)."""
    return json.loads(Path(path).read_text())


def stage_file(store: Any, stage: str, video_id: str) -> Path:
    """A video's artifact of ``stage`` in an ArtifactStore."""
    return store.path(stage, video_id, STAGE_EXT[stage])


def read_manifest(root: Path) -> pd.DataFrame:
    import pandas as pd

    return pd.read_csv(root / MANIFEST_CSV, keep_default_na=False, dtype={"video_id": str})


def read_pairs(root: Path) -> pd.DataFrame:
    import pandas as pd

    return pd.read_csv(root / PAIRS_CSV, keep_default_na=False, dtype={"fg_video": str, "bg_video": str})
