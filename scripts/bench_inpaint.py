"""Inpainting frames/s and peak memory against video length (memory must stay flat as videos grow).

E2FGVI weights cannot be had on CI machines, so a checkpoint is fabricated at the released size (random
weights, official layout) and loaded through the same code as ``hat build --inpainter e2fgvi``. Each run
is its own process, so its peak memory is its own: RSS on CPU, ``max_memory_allocated`` on CUDA.
"""

from __future__ import annotations

import argparse
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


def video(n: int, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """A textured scene panning right with a person-sized box walking across it."""
    rng = np.random.default_rng(0)
    scene = rng.integers(0, 255, (h, w + n, 3), dtype=np.uint8)
    frames = np.stack([scene[:, i:i + w] for i in range(n)])
    masks = np.zeros((n, h, w), bool)
    for i in range(n):
        x = int((w - w // 5) * i / max(n - 1, 1))
        masks[i, h // 6:h - h // 8, x:x + w // 5] = True
    return frames, masks


def run_one(args: argparse.Namespace) -> dict:
    from hat.inpainters import INPAINTERS

    h, w = map(int, args.size.lower().split("x"))
    n = args.length
    frames, masks = video(n, h, w)
    if args.backend == "propagate":
        inp = INPAINTERS.create("propagate", align=args.align)
        targets = np.linspace(0, n - 1, 16).round().astype(int)
        t = time.perf_counter()
        inp.inpaint(frames, masks, targets)
        dt = time.perf_counter() - t
        return {"what": f"propagate align={args.align}", "length": n, "frames_per_s": len(targets) / dt, "windows": 0,
                "s_per_window": 0.0, "peak_mib": peak_mib(torch.device("cpu"))}
    inp = INPAINTERS.create("e2fgvi", ckpt=args.ckpt, device=args.device, precision=args.precision,
                            max_ref=args.max_ref)
    dev = inp.device
    inp.run_window(frames[:3], masks[:3], 2)  # warm-up
    inp.windows_run = 0
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
        torch.cuda.reset_peak_memory_stats(dev)
    t = time.perf_counter()
    k = sum(1 for _ in inp.stream(iter(frames), iter(masks), n))
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    dt = time.perf_counter() - t
    return {"what": f"e2fgvi {'HQ' if inp.hq else 'non-HQ'} stream", "length": n, "frames_per_s": k / dt,
            "windows": inp.windows_run, "s_per_window": dt / max(inp.windows_run, 1), "peak_mib": peak_mib(dev),
            "buffered": inp.peak_buffer}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--precision", default="fp32", choices=["fp32", "fp16", "bf16"])
    ap.add_argument("--size", default="60x108", help="working frame size HxW [60x108]")
    ap.add_argument("--lengths", default="30,60,120,240", help="video lengths in frames")
    ap.add_argument("--max-ref", type=int, default=2, help="e2fgvi reference frames per window [2]")
    ap.add_argument("--variant", default="hq", choices=["hq", "e2fgvi"])
    ap.add_argument("--backend", help=argparse.SUPPRESS)
    ap.add_argument("--length", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--ckpt", help=argparse.SUPPRESS)
    ap.add_argument("--align", help=argparse.SUPPRESS)
    ap.add_argument("--tiny", action="store_true", help=argparse.SUPPRESS)  # smoke test: all runs in this process
    args = ap.parse_args()
    if args.backend:
        print(json.dumps(run_one(args)))
        return
    from hat.inpainters.e2fgvi import needed_frames, plan_windows
    from hat.inpainters.e2fgvi_net import E2FGVIArch, InpaintGenerator
    from hat.video import segment_indices

    lengths = [int(x) for x in args.lengths.split(",")]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}, {args.precision}, "
          f"frames {args.size}, E2FGVI {args.variant} released size, random weights, max_ref {args.max_ref}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = Path(tmp) / "e2fgvi.pth"
        torch.manual_seed(0)
        torch.save(InpaintGenerator(E2FGVIArch(hq=args.variant == "hq")).state_dict(), ckpt)
        jobs = [("propagate", n, a) for a in ("none", "auto") for n in lengths] + [("e2fgvi", n, "") for n in lengths]
        failed = []
        for backend, n, align in jobs:
            if args.tiny:  # peak memory is then the largest so far, not the run's own
                one = argparse.Namespace(**{**vars(args), "backend": backend, "length": n, "ckpt": str(ckpt), "align": align or "none"})
                rows.append(run_one(one))
                continue
            cmd = [sys.executable, __file__, "--backend", backend, "--length", str(n), "--ckpt", str(ckpt),
                   "--align", align or "none", "--device", args.device, "--precision", args.precision,
                   "--size", args.size, "--max-ref", str(args.max_ref)]
            r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
            if r.returncode != 0:
                print(f"{backend} {n}: failed: {(r.stderr.strip().splitlines() or ['?'])[-1]}")
                failed.append(f"{backend} {n}")
                continue
            rows.append(json.loads(r.stdout.strip().splitlines()[-1]))
    print(f"{'inpainter':<28} {'frames':>6} {'frames/s':>9} {'windows':>7} {'s/window':>8} {'buffered':>8} {'peak MiB':>9}")
    for r in rows:
        print(f"{r['what']:<28} {r['length']:>6} {r['frames_per_s']:>9.2f} {r['windows']:>7} {r['s_per_window']:>8.2f} "
              f"{r.get('buffered', ''):>8} {r['peak_mib']:>9.0f}")
    t = segment_indices(300, 16)
    for mode in ("original", "centred"):
        wins = plan_windows(t, 300, mode=mode)
        print(f"plan for a Kinetics clip (300 frames, 16 evaluation frames), windows={mode}: {len(wins)} windows of up to "
              f"{max(len(w.local) + len(w.refs) for w in wins)} frames, {len(needed_frames(wins))} frames decoded and "
              "segmented")
    print("(the real per-window cost: --size 256x340 --max-ref 30 --lengths 60 --device cuda --precision fp16)")
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")

if __name__ == "__main__":
    main()
