"""Action-Swap pair sampling (HAT's rules, made explicit, seeded and order-independent).

For a foreground video A and a swap type, a background class is drawn by the type's rule, then a
background video of that class. Each (type, repeat, A) has its own seed, derived from the build
seed, so the pairs do not depend on processing order, sharding or the other videos' outcomes.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .scene.ranking import ranked_others, ranks
from .store import stable_seed

SWAP_TYPES = ("random", "close", "far", "same")
PAIR_COLUMNS = [
    "set", "repeat", "fg_video", "fg_label", "fg_class", "bg_video", "bg_label", "bg_class",
    "scene_distance", "rank", "seed",
]
#: what identifies a pair (a published manifest stores only these; hat.manifest)
PAIR_KEY_COLUMNS = ["set", "repeat", "fg_video", "bg_video"]


NO_SAME_BACKGROUND = "no other background video of the same class"
NO_BACKGROUND_CLASS = "no background class available"
#: what a reason means when it held for every foreground, i.e. why a set has no pairs at all
_WHY_NO_PAIRS = {
    NO_SAME_BACKGROUND: "no class has a foreground video and another usable background video",
    NO_BACKGROUND_CLASS: "no other class has a usable background video",
}


@dataclass
class PairReport:
    made: Counter = field(default_factory=Counter)
    missing: Counter = field(default_factory=Counter)  # (set, reason) -> count

    def missing_by_set(self) -> dict[str, dict[str, int]]:
        """``{"swap_same": {reason: count}}``, as benchmark.yaml records it."""
        out: dict[str, dict[str, int]] = {}
        for (swap, reason), k in sorted(self.missing.items()):
            out.setdefault(f"swap_{swap}", {})[reason] = int(k)
        return out


def missing_pair_notes(report: PairReport) -> list[str]:
    return [f"swap_{swap}: {k} pairs not made ({reason})" for (swap, reason), k in sorted(report.missing.items())]


def why_no_pairs(set_name: str, swap_types: list[str], foregrounds: int, missing: dict[str, int] | None) -> str:
    """Why a swap set of a finished benchmark has no pairs, from what benchmark.yaml recorded."""
    swap = set_name.removeprefix("swap_")
    if swap not in swap_types:
        return f"it was not built (swap_types: {', '.join(swap_types) or 'none'})"
    if foregrounds == 0:
        return "no video is a foreground (see the coverage notes in benchmark.yaml)"
    if missing:
        reasons = [_WHY_NO_PAIRS.get(r, r) for r in sorted(missing, key=lambda r: -missing[r])]
        return f"{'; '.join(reasons)} (see benchmark.yaml notes)"
    return "see benchmark.yaml notes"


def candidate_classes(swap: str, label: int, dist: np.ndarray, has_bg: np.ndarray, k_close: int, k_far: int) -> np.ndarray:
    """Background classes allowed for a foreground of class ``label``.

    Close/Far take the k nearest/farthest classes among those that have a usable background, so a
    class without backgrounds does not silently shrink the set.
    """
    if swap == "same":
        return np.array([label]) if has_bg[label] else np.array([], dtype=np.int64)
    others = np.array([c for c in ranked_others(dist, label) if has_bg[c]], dtype=np.int64)
    if swap == "random":
        return np.sort(others)
    if swap == "close":
        return others[:k_close]
    if swap == "far":
        return others[::-1][:k_far]
    raise ValueError(f"unknown swap type '{swap}' (valid: {', '.join(SWAP_TYPES)})")


def sample_pairs(
    videos: pd.DataFrame,
    dist: np.ndarray,
    classes: list[str],
    *,
    swap_types=SWAP_TYPES,
    repeats: int = 3,
    k_close: int = 5,
    k_far: int = 200,
    seed: int = 0,
) -> tuple[pd.DataFrame, PairReport]:
    """``videos`` has columns video_id, label, fg_ok, bg_ok in manifest order."""
    report = PairReport()
    rank = ranks(dist)
    bg_by_class: dict[int, list[str]] = {c: [] for c in range(len(classes))}
    for row in videos[videos["bg_ok"]].itertuples(index=False):
        bg_by_class[int(row.label)].append(row.video_id)
    for c in bg_by_class:  # sorted: the draw must not depend on manifest order
        bg_by_class[c].sort()
    has_bg = np.array([len(bg_by_class[c]) > 0 for c in range(len(classes))])
    rows = []
    fg = videos[videos["fg_ok"]]
    for swap in swap_types:
        for rep in range(repeats):
            for row in fg.itertuples(index=False):
                a, la = row.video_id, int(row.label)
                s = stable_seed("pair", seed, swap, rep, a)
                rng = np.random.default_rng(s)
                cands = candidate_classes(swap, la, dist, has_bg, k_close, k_far)
                if swap == "same":
                    pool = [v for v in bg_by_class[la] if v != a]
                    if not pool:
                        report.missing[(swap, NO_SAME_BACKGROUND)] += 1
                        continue
                    lb = la
                else:
                    if len(cands) == 0:
                        report.missing[(swap, NO_BACKGROUND_CLASS)] += 1
                        continue
                    lb = int(cands[rng.integers(len(cands))])
                    pool = bg_by_class[lb]
                b = pool[rng.integers(len(pool))]
                rows.append({
                    "set": f"swap_{swap}", "repeat": rep, "fg_video": a, "fg_label": la, "fg_class": classes[la],
                    "bg_video": b, "bg_label": lb, "bg_class": classes[lb],
                    "scene_distance": float(dist[la, lb]) if lb != la else 0.0,
                    "rank": int(rank[la, lb]), "seed": s,
                })
                report.made[f"swap_{swap}"] += 1
    return pd.DataFrame(rows, columns=PAIR_COLUMNS), report
