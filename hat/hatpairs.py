"""HAT's published Action-Swap pair lists -> our ``pairs.csv``, read without running any pickle code.

The authors released ``actionswap_{rand,close,far,same}_{1,2,3}.pickle`` for Kinetics-400 val: a dict
``"<class>/<video_id>" -> ["<class>/<video_id>" of the background, its frame count, its label]``.
They are read by an unpickler that admits builtin containers and scalars only (no globals at all),
and checked for what the paper's numbers silently include: self-pairs, repeats over different
foreground sets, classes that never appear, labels that disagree with the class folder.
"""

from __future__ import annotations

import io
import pickle
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .errors import HatError
from .pairs import PAIR_COLUMNS, SWAP_TYPES

FILE_RE = re.compile(r"actionswap_(rand|random|close|far|same)_(\d+)\.pickle$")
SET_NAMES = {"rand": "swap_random", "random": "swap_random", "close": "swap_close", "far": "swap_far", "same": "swap_same"}
COLUMNS = PAIR_COLUMNS + ["origin"]  # pairs.csv's columns, and which published file each pair came from


class PlainDataUnpickler(pickle.Unpickler):
    """Builtin containers and scalars are pickle opcodes, not globals: refusing every global admits only them."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"refused global {module}.{name}: only builtin containers and scalars are read")


def read_plain_pickle(path: str | Path) -> Any:
    data = Path(path).read_bytes()
    try:
        return PlainDataUnpickler(io.BytesIO(data)).load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as e:
        raise HatError(f"{path}: not a plain-data pickle ({e})") from None


@dataclass
class ImportReport:
    files: dict[str, int] = field(default_factory=dict)  # file -> pairs
    self_pairs: dict[str, int] = field(default_factory=dict)  # set -> pairs whose background is the foreground
    foregrounds: dict[str, list[int]] = field(default_factory=dict)  # set -> foreground count per repeat
    same_foregrounds: dict[str, bool] = field(default_factory=dict)  # set -> repeats cover the same videos
    missing_classes: list[str] = field(default_factory=list)  # never a foreground in any file
    label_mismatches: int = 0  # background label index disagreeing with its class folder
    wrong_class_same: int = 0  # 'same' pairs whose background is another class
    frames: dict[str, int] = field(default_factory=dict)  # background video -> its frame count (first file that gives it)
    frame_conflicts: int = 0  # background videos given different frame counts in different files

    def lines(self) -> list[str]:
        out = [f"{f}: {n} pairs" for f, n in sorted(self.files.items())]
        for s, counts in sorted(self.foregrounds.items()):
            same = "the same videos" if self.same_foregrounds[s] else "DIFFERENT videos"
            out.append(f"{s}: foregrounds per repeat {counts} ({same}); self-pairs {self.self_pairs.get(s, 0)}")
        if self.missing_classes:
            out.append(f"classes never used as foreground ({len(self.missing_classes)}): {', '.join(self.missing_classes)}")
        if self.label_mismatches:
            out.append(f"background label disagrees with its class folder: {self.label_mismatches} pairs")
        if self.wrong_class_same:
            out.append(f"'same' pairs with a background of another class: {self.wrong_class_same}")
        return out


def _split(key: str, where: str) -> tuple[str, str]:
    cls, sep, vid = str(key).rpartition("/")
    if not sep or not cls or not vid:
        raise HatError(f"{where}: '{key}' is not '<class>/<video_id>'")
    return cls, vid


def import_hat_pairs(folder: str | Path, classes: list[str]) -> tuple[pd.DataFrame, ImportReport]:
    folder = Path(folder)
    files = sorted(p for p in folder.glob("*.pickle") if FILE_RE.search(p.name)) if folder.is_dir() else []
    if not files:
        raise HatError(f"{folder}: no actionswap_{{rand,close,far,same}}_N.pickle files")
    index = {c: i for i, c in enumerate(classes)}
    rep = ImportReport()
    rows: list[dict[str, Any]] = []
    fg_sets: dict[str, dict[int, set[str]]] = {}
    seen_fg_classes: set[str] = set()
    repeat_numbers = sorted({int(FILE_RE.search(p.name).group(2)) for p in files})
    for p in files:
        kind, num = FILE_RE.search(p.name).groups()
        set_name, repeat = SET_NAMES[kind], repeat_numbers.index(int(num))
        data = read_plain_pickle(p)
        if not isinstance(data, dict):
            raise HatError(f"{p}: expected a dict of pairs, found {type(data).__name__}")
        rep.files[p.name] = len(data)
        for key, val in data.items():
            if not (isinstance(val, (list, tuple)) and len(val) >= 3 and isinstance(val[0], str)):
                raise HatError(f"{p}: value for '{key}' is not [background '<class>/<video_id>', n_frames, label]")
            fc, fv = _split(key, p.name)
            bc, bv = _split(val[0], p.name)
            for c in (fc, bc):
                if c not in index:
                    raise HatError(f"{p}: class '{c}' is not in the class list ({len(classes)} classes)")
            bl = int(val[2])
            nf = int(val[1])
            if rep.frames.setdefault(bv, nf) != nf:
                rep.frame_conflicts += 1
            if bl != index[bc]:
                rep.label_mismatches += 1
            if set_name == "swap_same" and bc != fc:
                rep.wrong_class_same += 1
            if fv == bv:
                rep.self_pairs[set_name] = rep.self_pairs.get(set_name, 0) + 1
            seen_fg_classes.add(fc)
            fg_sets.setdefault(set_name, {}).setdefault(repeat, set()).add(fv)
            rows.append({"set": set_name, "repeat": repeat, "fg_video": fv, "fg_label": index[fc], "fg_class": fc,
                         "bg_video": bv, "bg_label": index[bc], "bg_class": bc, "scene_distance": None, "rank": None,
                         "seed": None, "origin": f"hat-published:{p.name}"})
    for s, by_rep in fg_sets.items():
        rep.foregrounds[s] = [len(by_rep.get(r, ())) for r in range(len(repeat_numbers))]
        sets = [by_rep.get(r, set()) for r in range(len(repeat_numbers))]
        rep.same_foregrounds[s] = all(x == sets[0] for x in sets)
    rep.missing_classes = [c for c in classes if c not in seen_fg_classes]
    df = pd.DataFrame(rows, columns=COLUMNS)
    order = {f"swap_{t}": i for i, t in enumerate(SWAP_TYPES)}
    df = df.sort_values(["set", "repeat", "fg_video"], key=lambda c: c.map(order) if c.name == "set" else c, kind="stable")
    return df.reset_index(drop=True), rep


def pairs_from_file(path: str | Path, manifest: pd.DataFrame, classes: list[str], dist, rank,
                    swap_types: list[str]) -> tuple[pd.DataFrame, dict[str, int]]:
    """Given pairs (e.g. HAT's) restricted to this build's usable videos, with our labels, distances and ranks.

    Returns the pairs and the number dropped per reason; nothing is resampled, so the swaps stay
    exactly the given ones where both videos exist here.
    """
    p = Path(path)
    if not p.is_file():
        raise HatError(f"pairs file not found: {path}")
    df = pd.read_csv(p, dtype={"fg_video": str, "bg_video": str, "set": str}, keep_default_na=False)
    need = {"set", "repeat", "fg_video", "bg_video"}
    if need - set(df.columns):
        raise HatError(f"{path}: a pairs file needs columns {', '.join(sorted(need))} (see 'hat import-pairs')")
    wanted = {f"swap_{t}" for t in swap_types}
    df = df[df["set"].isin(wanted)]
    ok = manifest[manifest["status"] == "ok"].set_index("video_id")
    label = ok["label"].astype(int).to_dict()
    dropped: dict[str, int] = {}
    rows = []
    for r in df.itertuples(index=False):
        if r.fg_video not in label or r.bg_video not in label:
            why = "foreground not usable here" if r.fg_video not in label else "background not usable here"
            dropped[why] = dropped.get(why, 0) + 1
            continue
        la, lb = label[r.fg_video], label[r.bg_video]
        given = getattr(r, "fg_label", "")
        if str(given) not in ("", "None", "nan") and int(float(given)) != la:
            dropped["foreground label differs from this dataset's"] = dropped.get("foreground label differs from this dataset's", 0) + 1
            continue
        rows.append({"set": r.set, "repeat": int(r.repeat), "fg_video": r.fg_video, "fg_label": la, "fg_class": classes[la],
                     "bg_video": r.bg_video, "bg_label": lb, "bg_class": classes[lb],
                     "scene_distance": float(dist[la, lb]), "rank": int(rank[la, lb]), "seed": -1})
    return pd.DataFrame(rows, columns=["set", "repeat", "fg_video", "fg_label", "fg_class", "bg_video", "bg_label",
                                       "bg_class", "scene_distance", "rank", "seed"]), dropped
