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

from ..checkpoints import file_hash
from ..constants import IMAGENET_MEAN, IMAGENET_STD
from ..dataset import Source
from ..errors import HatError
from ..video import segment_indices
from . import MODELS, Layout
from .base import VideoClassifier

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
    """3D convolutions over frame differences at half resolution: it cannot see a still scene.

    Differences keep only what moves (the person), and the 3D kernels see how the limbs move
    together over time, which per-frame features pooled before the temporal step did not.
    """

    def __init__(self, num_classes: int, width: int = 16):
        super().__init__()

        def block(cin: int, cout: int, stride) -> list[nn.Module]:
            return [nn.Conv3d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm3d(cout), nn.ReLU(inplace=True)]

        self.features = nn.Sequential(
            *block(3, width, (1, 2, 2)), *block(width, 2 * width, 2), *block(2 * width, 4 * width, 2),
            nn.AdaptiveAvgPool3d(1), nn.Flatten(),
        )
        self.head = nn.Linear(4 * width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B,T,3,H,W]
        b, t, c, h, w = x.shape
        x = F.avg_pool2d(x.flatten(0, 1), 2).view(b, t, c, h // 2, w // 2)
        return self.head(self.features((x[:, 1:] - x[:, :-1]).transpose(1, 2)))


NETS = {"demo-frame": FrameNet, "demo-motion": MotionNet}
#: each network's training recipe; ``net`` versions the architecture so an older checkpoint is named, not misread
RECIPES: dict[str, dict[str, Any]] = {
    "demo-frame": {"net": 1, "epochs": 25, "lr": 2e-3, "schedule": "constant", "augment": False},
    "demo-motion": {"net": 2, "epochs": 20, "lr": 5e-3, "schedule": "onecycle", "augment": True},
}


def to_tensor(clips: np.ndarray, size: int) -> torch.Tensor:
    """uint8 [B,T,H,W,3] -> normalised float [B,T,3,size,size]."""
    clips = np.asarray(clips, dtype=np.uint8)
    if clips.shape[2:4] != (size, size):
        clips = np.stack([[cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA) for f in c] for c in clips])
    x = torch.from_numpy(clips).float().div_(255).permute(0, 1, 4, 2, 3)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 1, 3, 1, 1)
    return (x - mean) / std


class DemoClassifier(VideoClassifier):
    def __init__(self, checkpoint: dict, path: str = "", device: str = "cpu"):
        arch = checkpoint.get("hat_arch")
        if arch not in NETS:
            raise HatError(f"not a demo checkpoint (hat_arch={arch!r}; valid: {', '.join(ARCHS)})")
        cfg = dict(checkpoint["arch_config"])
        version = cfg.pop("net", 1)
        if version != RECIPES[arch]["net"]:
            raise HatError(f"{path or arch}: a {arch} checkpoint of network version {version}, this hat builds version "
                           f"{RECIPES[arch]['net']}; retrain it with 'hat train-demo --arch {arch}'")
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
    MODELS.register(_arch, help=f"embedded demo model ({_arch.split('-')[1]}s)",
                    detect=Layout(lambda ckpt, a=_arch: ckpt.get("hat_arch") == a, f"hat demo checkpoint (hat_arch='{_arch}')"))(_make)


def load_clips(source: Source, split: str, num_frames: int) -> tuple[np.ndarray, np.ndarray]:
    recs = source.records(split)
    clips = [source.read(r, segment_indices(source.probe(r).n_frames, num_frames)) for r in recs]
    return np.stack(clips), np.array([r.label for r in recs])


def augment(x: torch.Tensor, gen: torch.Generator, shift: int = 8) -> torch.Tensor:
    """Mirror half the clips and move the batch by up to ``shift`` pixels: where the person stands is a nuisance."""
    flip = (torch.rand(len(x), generator=gen) < 0.5).view(-1, 1, 1, 1, 1)
    x = torch.where(flip, x.flip(-1), x)
    dy, dx = (int(v) for v in torch.randint(-shift, shift + 1, (2,), generator=gen))
    return torch.roll(x, (dy, dx), (-2, -1))


def train_demo(
    arch: str,
    source: Source,
    *,
    split: str = "train",
    num_frames: int = 16,
    epochs: int | None = None,
    batch_size: int = 32,
    lr: float | None = None,
    width: int = 16,
    seed: int = 0,
    log=None,
    data: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict:
    """Train a demo model on a source's split; returns a checkpoint dict (tensors and plain data).

    ``data``: the split's (clips, labels) as :func:`load_clips` gives them, when already loaded.
    """
    if arch not in NETS:
        raise HatError(f"unknown demo arch '{arch}' (valid: {', '.join(ARCHS)})")
    recipe = RECIPES[arch]
    epochs = int(epochs or recipe["epochs"])
    lr = float(lr or recipe["lr"])
    torch.manual_seed(seed)
    clips, labels = data if data is not None else load_clips(source, split, num_frames)
    size = int(clips.shape[2])
    x_all = to_tensor(clips, size)
    y_all = torch.from_numpy(labels).long()
    net = NETS[arch](num_classes=len(source.classes), width=width)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    steps = epochs * -(-len(x_all) // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps) if recipe["schedule"] == "onecycle" else None
    gen = torch.Generator().manual_seed(seed)
    t0 = time.time()
    for epoch in range(epochs):
        net.train()
        order = torch.randperm(len(x_all), generator=gen)
        total, correct, loss_sum = 0, 0, 0.0
        for k in range(0, len(order), batch_size):
            idx = order[k : k + batch_size]
            x = augment(x_all[idx], gen) if recipe["augment"] else x_all[idx]
            logits = net(x)
            loss = F.cross_entropy(logits, y_all[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
            loss_sum += loss.item() * len(idx)
            correct += int((logits.argmax(1) == y_all[idx]).sum())
            total += len(idx)
        if log:
            log(f"{arch} epoch {epoch + 1}/{epochs}: loss {loss_sum / total:.3f}, train acc {correct / total:.3f} ({time.time() - t0:.0f} s)")
    config = {"num_classes": len(source.classes), "width": width}
    train = {"source": source.name, "source_options": source.options(), "split": split, "epochs": epochs,
             "batch_size": batch_size, "lr": lr, "seed": seed, "videos": len(x_all)}
    if recipe["net"] != 1:  # version-1 checkpoints keep their exact former contents
        config["net"] = recipe["net"]
        train.update(schedule=recipe["schedule"], augment=recipe["augment"])
    return {
        "hat_arch": arch,
        "arch_config": config,
        "classes": list(source.classes),
        "input": {"num_frames": num_frames, "size": size},
        "train": train,
        "state_dict": {k: v.detach().clone() for k, v in net.state_dict().items()},
    }
