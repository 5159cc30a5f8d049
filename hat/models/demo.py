"""Two tiny classifiers for the embedded benchmark: one sees single frames, one sees motion.

Trained in seconds on CPU, they are the toolkit's own sanity check: the frame model is free to
use the scene, the motion model (frame differences) can only use the moving person, and the
metrics should tell them apart.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import HatError
from ..sources.base import Source
from ..video import segment_indices
from . import MODELS, register_layout
from .base import VideoClassifier, file_hash

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
ARCHS = ("demo-frame", "demo-motion")


def _cnn(width: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(3, width, 3, 2, 1), nn.ReLU(inplace=True),
        nn.Conv2d(width, 2 * width, 3, 2, 1), nn.ReLU(inplace=True),
        nn.Conv2d(2 * width, 4 * width, 3, 2, 1), nn.ReLU(inplace=True),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(),
    )


class FrameNet(nn.Module):
    """A 2D CNN on each frame; class scores averaged over time."""

    def __init__(self, num_classes: int, width: int = 16):
        super().__init__()
        self.features = _cnn(width)
        self.head = nn.Linear(4 * width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B,T,3,H,W]
        b, t = x.shape[:2]
        return self.head(self.features(x.flatten(0, 1))).view(b, t, -1).mean(1)


class MotionNet(nn.Module):
    """The same CNN on frame differences, then a temporal convolution: it cannot see a still scene."""

    def __init__(self, num_classes: int, width: int = 16):
        super().__init__()
        self.features = _cnn(width)
        self.temporal = nn.Conv1d(4 * width, 4 * width, 3, padding=1)
        self.head = nn.Linear(4 * width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d = x[:, 1:] - x[:, :-1]
        b, t = d.shape[:2]
        f = self.features(d.flatten(0, 1)).view(b, t, -1).transpose(1, 2)
        return self.head(F.relu(self.temporal(f)).mean(2))


NETS = {"demo-frame": FrameNet, "demo-motion": MotionNet}


def to_tensor(clips: np.ndarray, size: int) -> torch.Tensor:
    """uint8 [B,T,H,W,3] -> normalised float [B,T,3,size,size]."""
    clips = np.asarray(clips, dtype=np.uint8)
    if clips.shape[2:4] != (size, size):
        clips = np.stack([[cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA) for f in c] for c in clips])
    x = torch.from_numpy(clips).float().div_(255).permute(0, 1, 4, 2, 3)
    mean = torch.tensor(MEAN).view(1, 1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 1, 3, 1, 1)
    return (x - mean) / std


class DemoClassifier(VideoClassifier):
    def __init__(self, checkpoint: dict, path: str = "", device: str = "cpu"):
        arch = checkpoint.get("hat_arch")
        if arch not in NETS:
            raise HatError(f"not a demo checkpoint (hat_arch={arch!r}; valid: {', '.join(ARCHS)})")
        cfg = checkpoint["arch_config"]
        self.net = NETS[arch](**cfg)
        self.net.load_state_dict(checkpoint["state_dict"], strict=True)
        self.net.eval().to(device)
        self.device = device
        self.arch, self.classes = arch, list(checkpoint["classes"])
        self.num_frames = int(checkpoint["input"]["num_frames"])
        self.size = int(checkpoint["input"]["size"])
        self.path = path
        self.name = Path(path).stem if path else arch
        self.hash = file_hash(path) if path else ""

    def set_classes(self, classes: list[str]) -> None:
        if list(classes) != self.classes:
            raise HatError(f"model {self.name} was trained on classes {self.classes[:6]}..., the benchmark has {list(classes)[:6]}...")

    def predict(self, clips: np.ndarray) -> np.ndarray:
        return self.forward(self.prepare(clips))

    def prepare(self, clips: np.ndarray) -> torch.Tensor:
        return to_tensor(clips, self.size)

    @torch.no_grad()
    def forward(self, inputs: torch.Tensor) -> np.ndarray:
        return self.net(inputs.to(self.device)).float().cpu().numpy()

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "arch": self.arch, "checkpoint": self.path, "hash": self.hash,
                "num_frames": self.num_frames, "input_size": self.size}


def _make(checkpoint: dict | None = None, path: str = "", device: str = "cpu") -> DemoClassifier:
    if checkpoint is None:
        raise HatError("demo models are built from a checkpoint: train one with 'hat train-demo'")
    return DemoClassifier(checkpoint, path, device)


for _arch in ARCHS:
    MODELS.register(_arch, help=f"embedded demo model ({_arch.split('-')[1]}s)")(_make)


for _arch in ARCHS:
    register_layout(_arch, f"hat demo checkpoint (hat_arch='{_arch}')")(lambda ckpt, a=_arch: ckpt.get("hat_arch") == a)


def load_clips(source: Source, split: str, num_frames: int) -> tuple[np.ndarray, np.ndarray]:
    recs = source.records(split)
    clips = [source.read(r, segment_indices(source.probe(r).n_frames, num_frames)) for r in recs]
    return np.stack(clips), np.array([r.label for r in recs])


def train_demo(
    arch: str,
    source: Source,
    *,
    split: str = "train",
    num_frames: int = 16,
    epochs: int = 25,
    batch_size: int = 32,
    lr: float = 2e-3,
    width: int = 16,
    seed: int = 0,
    log=None,
) -> dict:
    """Train a demo model on a source's split; returns a checkpoint dict (tensors and plain data)."""
    if arch not in NETS:
        raise HatError(f"unknown demo arch '{arch}' (valid: {', '.join(ARCHS)})")
    torch.manual_seed(seed)
    clips, labels = load_clips(source, split, num_frames)
    size = int(clips.shape[2])
    x_all = to_tensor(clips, size)
    y_all = torch.from_numpy(labels).long()
    net = NETS[arch](num_classes=len(source.classes), width=width)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    t0 = time.time()
    for epoch in range(epochs):
        net.train()
        order = torch.randperm(len(x_all), generator=gen)
        total, correct, loss_sum = 0, 0, 0.0
        for k in range(0, len(order), batch_size):
            idx = order[k : k + batch_size]
            logits = net(x_all[idx])
            loss = F.cross_entropy(logits, y_all[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            loss_sum += loss.item() * len(idx)
            correct += int((logits.argmax(1) == y_all[idx]).sum())
            total += len(idx)
        if log:
            log(f"{arch} epoch {epoch + 1}/{epochs}: loss {loss_sum / total:.3f}, train acc {correct / total:.3f} ({time.time() - t0:.0f} s)")
    return {
        "hat_arch": arch,
        "arch_config": {"num_classes": len(source.classes), "width": width},
        "classes": list(source.classes),
        "input": {"num_frames": num_frames, "size": size},
        "train": {"source": source.name, "source_options": source.options(), "split": split, "epochs": epochs,
                  "batch_size": batch_size, "lr": lr, "seed": seed, "videos": len(x_all)},
        "state_dict": {k: v.detach().clone() for k, v in net.state_dict().items()},
    }
