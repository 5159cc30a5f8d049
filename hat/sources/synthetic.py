"""The embedded benchmark: procedural action videos whose class is only the figure's motion.

Each class has a "home" scene; a video shows it with probability ``p_context`` and another scene
otherwise, so a model can take the scene shortcut. Everything is a pure function of the seed.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from ..errors import HatError, VideoError
from ..store import stable_seed
from ..video import VideoInfo
from . import SOURCES
from .base import Source, VideoRecord
from .render import MOTIONS, SCENES, RenderedVideo, render_video

SPLITS = ("train", "val")


class SyntheticSource(Source):
    name = "synthetic"
    # With a handful of classes the paper's 5 / 200 would make Close and Far the same set.
    build_defaults = {"k_close": 1, "k_far": 2, "num_frames": 16, "context_frames": 16}
    usage = ("no data needed; optional -S seed=0 -S num_classes=6 -S val_per_class=20 -S train_per_class=60 "
             "-S p_context=0.8 -S size=64 -S num_frames=16 -S camera_motion=0")

    def __init__(
        self,
        seed: int = 0,
        num_classes: int = 6,
        train_per_class: int = 60,
        val_per_class: int = 20,
        p_context: float = 0.8,
        size: int = 64,
        num_frames: int = 16,
        camera_motion: float = 0.0,
    ):
        if not 2 <= num_classes <= len(MOTIONS):
            raise HatError(f"synthetic num_classes must be 2..{len(MOTIONS)}, got {num_classes}")
        if not 0.0 <= p_context <= 1.0:
            raise HatError(f"synthetic p_context must be within 0..1, got {p_context}")
        if size < 32 or num_frames < 2:
            raise HatError("synthetic size must be >= 32 and num_frames >= 2")
        self.seed, self.num_classes = int(seed), int(num_classes)
        self.per_class = {"train": int(train_per_class), "val": int(val_per_class)}
        self.p_context, self.size, self.num_frames = float(p_context), int(size), int(num_frames)
        self.camera_motion = float(camera_motion)
        self._render = functools.lru_cache(maxsize=8)(self._render_uncached)

    @property
    def classes(self) -> list[str]:
        return list(MOTIONS[: self.num_classes])

    def home_scene(self, label: int) -> int:
        return label % len(SCENES)

    def records(self, split: str) -> list[VideoRecord]:
        if split not in SPLITS:
            raise HatError(f"unknown split '{split}' for source synthetic (valid: {', '.join(SPLITS)})")
        out = []
        for i in range(self.per_class[split]):
            for label in range(self.num_classes):
                vseed = stable_seed("synthetic", self.seed, split, label, i)
                rng = np.random.default_rng(vseed)
                home = self.home_scene(label)
                if rng.random() < self.p_context:
                    scene = home
                else:
                    scene = int(rng.choice([s for s in range(len(SCENES)) if s != home]))
                vid = f"{split}_{MOTIONS[label]}_{i:04d}"
                meta = {"seed": vseed, "scene": SCENES[scene], "in_context": scene == home}
                out.append(VideoRecord(vid, label, split, "", meta))
        return out

    def _render_uncached(self, video_id: str, seed: int, label: int, scene: str) -> RenderedVideo:
        return render_video(
            seed, label, SCENES.index(scene), num_frames=self.num_frames, size=self.size,
            camera_motion=self.camera_motion,
        )

    def _get(self, r: VideoRecord) -> RenderedVideo:
        return self._render(r.video_id, r.meta["seed"], r.label, r.meta["scene"])

    def probe(self, record: VideoRecord) -> VideoInfo:
        return VideoInfo(self.num_frames, self.size, self.size, 25.0)

    def read(self, record: VideoRecord, indices: np.ndarray) -> np.ndarray:
        if len(indices) and int(np.max(indices)) >= self.num_frames:
            raise VideoError("frame index past the end of the video")
        return self._get(record).frames[np.asarray(indices)]

    def gt_masks(self, record: VideoRecord, indices: np.ndarray) -> np.ndarray:
        return self._get(record).masks[np.asarray(indices)]

    def clean_background(self, record: VideoRecord, indices: np.ndarray) -> np.ndarray:
        """The true background without the figure: a reference for checking inpainters."""
        return self._get(record).background[np.asarray(indices)]

    def options(self) -> dict[str, Any]:
        return {
            "seed": self.seed, "num_classes": self.num_classes,
            "train_per_class": self.per_class["train"], "val_per_class": self.per_class["val"],
            "p_context": self.p_context, "size": self.size, "num_frames": self.num_frames,
            "camera_motion": self.camera_motion,
        }


SOURCES.register("synthetic", aliases=("demo",), help="procedural stick-figure actions on procedural scenes (offline)")(
    SyntheticSource
)
