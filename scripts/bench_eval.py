"""Frames/s and peak memory of every CLIP video adapter at real model sizes (random weights).

No released weights exist on CI machines, so each adapter's checkpoint is fabricated at ViT-B/32 or
ViT-B/16 size in its released layout, saved, and loaded through ``load_model`` exactly as
``hat eval`` does. Each adapter runs in its own process so peak memory is its own.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ADAPTERS = ("clip", "vificlip", "actionclip", "openvclip", "xclip")
SIZES = {"b32": "ViT-B-32-quickgelu", "b16": "ViT-B-16-quickgelu"}


def fabricate(arch: str, size: str, d: Path) -> tuple[str, dict]:
    """A random-weight checkpoint of ``arch`` in its released layout; returns (path, load options)."""
    import open_clip

    torch.manual_seed(0)
    if size == "tiny":  # smoke tests: one block per tower, every layout and code path of the real sizes
        from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg

        net = CLIP(64, CLIPVisionCfg(layers=1, width=64, patch_size=32, image_size=224),
                   CLIPTextCfg(layers=1, width=64, heads=1), quick_gelu=True)
    else:
        net = open_clip.create_model(SIZES[size])
    base = {k: v for k, v in net.state_dict().items()}
    dim, text_width = base["text_projection"].shape[1], base["ln_final.weight"].shape[0]
    torch.save(base, d / "base.pt")
    if arch == "clip":
        return str(d / "base.pt"), {}
    if arch == "vificlip":
        sd = {("module.image_encoder." + k[7:] if k.startswith("visual.") else "module." + ("" if k == "logit_scale" else "text_encoder.") + k): v
              for k, v in base.items() if k != "token_embedding.weight"}
        sd["module.prompt_learner.complete_text_embeddings"] = torch.zeros(400, 77, text_width)
        torch.save({"model": sd, "epoch": 0, "config": {"DATA": {"NUM_FRAMES": 8}}}, d / "vifi.pth")
        return str(d / "vifi.pth"), {"clip_weights": str(d / "base.pt")}
    if arch == "actionclip":
        from hat.models.actionclip import TemporalTransformer

        fusion = TemporalTransformer(dim, 77, heads=max(1, dim // 64)).state_dict()
        torch.save({"epoch": 0, "model_state_dict": {k: v.half() for k, v in base.items()},
                    "fusion_model_state_dict": {"module." + k: v for k, v in fusion.items()}}, d / "actionclip.pt")
        return str(d / "actionclip.pt"), {}
    if arch == "openvclip":
        torch.save({"model_state": {"model." + k: v for k, v in base.items()}}, d / "openvclip.pth")
        return str(d / "openvclip.pth"), {"clip_weights": str(d / "base.pt")}
    if arch == "xclip":
        from transformers import XCLIPConfig, XCLIPModel

        patch = 16 if size == "b16" else 32
        if size == "tiny":
            small = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 1, "num_attention_heads": 1}
            cfg = XCLIPConfig(text_config=small, vision_config={**small, "patch_size": patch, "num_frames": 8, "mit_hidden_size": 64,
                                                                "mit_intermediate_size": 128, "mit_num_attention_heads": 1},
                              projection_dim=64, prompt_layers=1, prompt_num_attention_heads=1)
        else:
            cfg = XCLIPConfig(vision_config={"patch_size": patch, "num_frames": 8, "mit_num_attention_heads": 8},
                              prompt_num_attention_heads=8)
        XCLIPModel(cfg).save_pretrained(d / "xclip")
        return str(d / "xclip"), {}
    raise SystemExit(f"unknown adapter {arch}")


def run_one(arch: str, args) -> dict:
    from hat.models import load_model

    with tempfile.TemporaryDirectory() as tmp:
        path, opts = fabricate(arch, args.size, Path(tmp))
        classes = [f"class {i}" for i in range(args.classes)]
        t0 = time.perf_counter()
        model = load_model(path, device=args.device, precision=args.precision, cache_dir="none", arch=arch,
                           frames=None if arch == "xclip" else 8, **opts)
        load_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        model.set_classes(classes)
        text_s = time.perf_counter() - t0
    t = model.num_frames
    rng = np.random.default_rng(0)
    clips = rng.integers(0, 256, (args.batch, t, 256, 340, 3), dtype=np.uint8)
    model.predict(clips[:1])  # warm-up
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    done = 0
    while done < args.clips:
        model.predict(clips)
        done += len(clips)
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    secs = time.perf_counter() - t0
    out = {"adapter": arch, "size": args.size, "device": args.device, "precision": args.precision,
           "frames_per_clip": t, "views": model.sampling.views, "load_s": round(load_s, 1),
           "prompts": args.classes * len(model.templates), "text_s": round(text_s, 1), "frames_per_s": round(done * t / secs, 1), "clips_per_s": round(done / secs, 2),
           "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)}
    if args.device.startswith("cuda"):
        out["peak_gpu_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size", choices=sorted(SIZES), default="b32")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--precision", default="fp32", choices=["fp32", "fp16", "bf16"])
    ap.add_argument("--clips", type=int, default=8, help="clips timed per adapter")
    ap.add_argument("--batch", type=int, default=4, help="clips per forward pass")
    ap.add_argument("--classes", type=int, default=40, help="classes whose prompts are embedded (Kinetics: 400)")
    ap.add_argument("--adapters", default=",".join(ADAPTERS))
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--tiny", action="store_true", help=argparse.SUPPRESS)  # smoke test: one-block towers, not a real size
    args = ap.parse_args()
    if args.tiny:
        args.size = "tiny"
    if args.one:
        print(json.dumps(run_one(args.one, args)))
        return
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}, {args.precision}, ViT-{args.size.upper()}")
    print(f"{'adapter':<11}{'frames/clip':>12}{'views':>6}{'load s':>8}{'prompts':>9}{'text s':>8}{'frames/s':>10}"
          f"{'clips/s':>9}{'peak RSS GiB':>14}{'peak GPU GiB':>14}", flush=True)
    failed = []
    for arch in args.adapters.split(","):
        if args.tiny:  # smoke test: one process (its peak memory is then the largest so far, not the adapter's own)
            r = run_one(arch, args)
        else:
            cmd = [sys.executable, __file__, "--one", arch, "--size", args.size, "--device", args.device,
                   "--precision", args.precision, "--clips", str(args.clips), "--batch", str(args.batch),
                   "--classes", str(args.classes)]
            res = subprocess.run(cmd, capture_output=True, text=True)
            if res.returncode:
                print(f"{arch:<11} failed: {res.stderr.strip().splitlines()[-1] if res.stderr.strip() else res.returncode}", flush=True)
                failed.append(arch)
                continue
            r = json.loads(res.stdout.strip().splitlines()[-1])
        print(f"{arch:<11}{r['frames_per_clip']:>12}{r['views']:>6}{r['load_s']:>8}{r['prompts']:>9}{r['text_s']:>8}"
              f"{r['frames_per_s']:>10}{r['clips_per_s']:>9}{r['peak_rss_gib']:>14}{r.get('peak_gpu_gib', '-'):>14}", flush=True)
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
