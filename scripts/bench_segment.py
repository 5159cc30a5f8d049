"""Frames/s and peak memory per segmenter component, at the released model sizes (random weights).

No GroundingDINO or SAM weights can be had on CI machines, so checkpoints are fabricated in the
released layouts (Swin-T OGC config with a BERT-base-sized text encoder; SAM vit_b/l/h) and loaded
through the same code as ``hat build --segmenter grounded-sam``. Frames are 640x360 (a Kinetics
clip at its usual size). Each component runs in its own process so its peak memory is its own.
"""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from benchutil import peak_mib

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def fabricate(d: Path, sam: str, tiny: bool = False) -> dict[str, str]:
    from hat.testing.gsam import make_gdino, make_grounded_sam

    if tiny:  # smoke test: the tests' one-block models, same layouts and code paths
        return {**make_grounded_sam(d, "tiny"), "gdino_size": 96}
    g = make_gdino(d / "gdino", "real")
    builder = importlib.import_module("segment_anything.build_sam")
    torch.manual_seed(0)
    torch.save(builder.sam_model_registry[sam](checkpoint=None).state_dict(), d / f"sam_{sam}.pth")
    return {"gdino_config": str(g["config"]), "gdino_ckpt": str(g["ckpt"]), "gdino_text_encoder": str(g["bert"]),
            "sam_ckpt": str(d / f"sam_{sam}.pth")}


def run_component(args: argparse.Namespace) -> dict:
    """In a child process: load, warm up once, then time ``frames`` frames of one component."""
    from hat.segmenters import SEGMENTERS

    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (args.frames, 360, 640, 3), dtype=np.uint8)
    if args.component == "selfie":
        seg = SEGMENTERS.create("mediapipe-selfie")
        from hat.sources.base import VideoRecord

        rec = VideoRecord("x", 0, "val", "")
        seg.segment(frames[:1], rec, None, np.arange(1))
        t = time.perf_counter()
        seg.segment(frames, rec, None, np.arange(len(frames)))
        dt = time.perf_counter() - t
        return {"component": "selfie (LiteRT)", "frames_per_s": len(frames) / dt, "peak_mib": peak_mib(torch.device("cpu"))}
    opts = json.loads(args.opts)
    seg = SEGMENTERS.create("grounded-sam", **opts, device=args.device, precision=args.precision, batch_size=args.batch)
    dev = seg.device
    b = args.batch
    boxes = np.array([[100, 50, 300, 350], [320, 40, 400, 200], [50, 200, 120, 300]], np.float32)

    def step(chunk):
        if args.component == "gdino":
            seg.detect(chunk, ["person", "hand"])
        elif args.component == "sam-encoder":
            seg.encode(chunk)
        else:
            for f in chunk:
                seg.decode(emb[0], size, boxes, f.shape[:2])

    emb, size = seg.encode(frames[:1]) if args.component == "sam-decoder" else (None, None)
    step(frames[:b])  # warm-up
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
        torch.cuda.reset_peak_memory_stats(dev)
    t = time.perf_counter()
    for i in range(0, len(frames), b):
        step(frames[i : i + b])
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    dt = time.perf_counter() - t
    name = {"gdino": "GroundingDINO Swin-T", "sam-encoder": f"SAM {seg.sam_type} image encoder",
            "sam-decoder": "SAM prompt+mask decoder (3 boxes)"}[args.component]
    return {"component": name, "frames_per_s": len(frames) / dt, "peak_mib": peak_mib(dev)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sam", default="vit_b", choices=["vit_b", "vit_l", "vit_h"])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--precision", default="fp32", choices=["fp32", "fp16", "bf16"])
    ap.add_argument("--frames", type=int, default=4)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--component", help=argparse.SUPPRESS)
    ap.add_argument("--opts", help=argparse.SUPPRESS)
    ap.add_argument("--tiny", action="store_true", help=argparse.SUPPRESS)  # smoke test: tiny models, one process
    args = ap.parse_args()
    if args.component:
        print(json.dumps(run_component(args)))
        return
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}, {args.precision}, "
          f"{args.frames} frames of 640x360, batch {args.batch}")
    with tempfile.TemporaryDirectory() as tmp:
        opts = fabricate(Path(tmp), args.sam, args.tiny)
        rows = []
        for comp in ("selfie", "gdino", "sam-encoder", "sam-decoder"):
            if args.tiny:  # peak memory is then the largest so far, not the component's own
                try:
                    rows.append(run_component(argparse.Namespace(**{**vars(args), "component": comp, "opts": json.dumps(opts)})))
                except Exception as e:  # noqa: BLE001 - as a child process's failure is reported
                    print(f"{comp:<14} skipped: {type(e).__name__}: {e}")
                continue
            cmd = [sys.executable, __file__, "--component", comp, "--opts", json.dumps(opts), "--sam", args.sam,
                   "--device", args.device, "--precision", args.precision, "--frames", str(args.frames),
                   "--batch", str(args.batch)]
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0:
                last = (r.stderr.strip().splitlines() or ["failed"])[-1]
                print(f"{comp:<14} skipped: {last}")
                continue
            rows.append(json.loads(r.stdout.strip().splitlines()[-1]))
    print(f"{'component':<36} {'frames/s':>9} {'s/frame':>8} {'peak MiB':>9}")
    for r in rows:
        print(f"{r['component']:<36} {r['frames_per_s']:>9.2f} {1 / r['frames_per_s']:>8.2f} {r['peak_mib']:>9.0f}")


if __name__ == "__main__":
    main()
