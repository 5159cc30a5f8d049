"""Evaluation on a benchmark whose videos differ in size, as every real dataset's do (odd widths too)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import clip_refs as R
from hat.bench import Benchmark
from hat.config import BuildConfig
from hat.evaluate import evaluate, predict_items
from hat.models import load_model
from hat.models.base import CallableClassifier, VideoClassifier
from hat.pipeline import build
from hat.video import write_video

import test_video_sources  # noqa: F401  (registers the 'test-bright' segmenter)

#: (height, width) per video: two even sizes, odd widths and an odd height
SIZES = [(48, 64), (41, 57), (48, 64), (37, 51), (41, 57), (44, 73)]
CLASSES = ["jump", "run"]


def person_clip(label: int, h: int, w: int, t: int = 10) -> np.ndarray:
    rng = np.random.default_rng(label * 100 + h + w)
    bg = np.full((h, w, 3), (40 * label + 20, 90, 60), np.uint8) + rng.integers(0, 20, (h, w, 3), dtype=np.uint8)
    frames = np.repeat(bg[None], t, 0)
    for i in range(t):
        frames[i, 8:24, 5 + 2 * i : 13 + 2 * i] = 255
    return frames


@pytest.fixture(scope="module")
def mixed_bench(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("mixed")
    rows = []
    for i, (h, w) in enumerate(SIZES):
        label = i % 2
        write_video(root / "videos" / f"v{i}.mp4", person_clip(label, h, w), fps=10)
        rows.append({"path": f"v{i}.mp4", "label": CLASSES[label]})
    pd.DataFrame(rows).to_csv(root / "videos" / "list.csv", index=False)
    cfg = BuildConfig(source="csv", source_options={"list": str(root / "videos" / "list.csv")}, segmenter="test-bright",
                      num_frames=4, context_frames=8, k_close=1, k_far=1, repeats=2)
    s = build(cfg, root / "bench")
    assert s.complete and s.counts["ok"] == len(SIZES)
    return root / "bench"


def test_benchmark_really_holds_several_sizes(mixed_bench):
    b = Benchmark(mixed_bench)
    shapes = {b.parts(v).frames.shape[1:3] for v in b.videos["video_id"]}
    assert len(shapes) == len(set(SIZES)) and any(w % 2 for _, w in shapes)


class Recorder:
    """A plugin callable that records every batch it is given."""

    def __init__(self):
        self.calls: list[tuple[int, ...]] = []

    def __call__(self, clips: np.ndarray) -> np.ndarray:
        assert isinstance(clips, np.ndarray) and clips.dtype == np.uint8 and clips.ndim == 5
        self.calls.append(clips.shape)
        # scores that depend on the pixels and on the size, so a mix-up of rows would show
        s = np.stack([clips.mean(axis=(1, 2, 3, 4)), clips.shape[2] + clips[..., 0].mean(axis=(1, 2, 3)) / 1000], 1)
        return s


def test_plugin_gets_same_size_batches_in_item_order(mixed_bench):
    b = Benchmark(mixed_bench)
    items = list(b.items(b.available_sets()))
    rec = Recorder()
    pred = predict_items(CallableClassifier(rec, "rec"), b, items, batch_size=5)
    assert len(rec.calls) > 1 and all(c[0] <= 5 for c in rec.calls)
    assert len({c[2:4] for c in rec.calls}) == len(set(SIZES))  # every size seen, one size per call
    one = Recorder()
    ref = predict_items(CallableClassifier(one, "one"), b, items, batch_size=1)
    assert all(c[0] == 1 for c in one.calls)
    pd.testing.assert_frame_equal(pred, ref)  # same rows, same order as the items, same scores
    assert list(pred["video_id"]) == [it.video_id for it in items]
    assert list(pred["set"]) == [it.set for it in items]


def test_many_sizes_hold_only_a_few_partial_batches(mixed_bench):
    """Pending clips of other sizes are flushed once more than two batches wait: memory stays bounded."""
    b = Benchmark(mixed_bench)
    items = list(b.items(["original"]))
    rec = Recorder()
    predict_items(CallableClassifier(rec, "rec"), b, items, batch_size=2)
    assert sum(c[0] for c in rec.calls) == len(items)
    assert max(c[0] for c in rec.calls) <= 2


class ResizingPlugin(VideoClassifier):
    """A plugin model that resizes each clip itself: eval then batches every size together."""

    name = "resizing"

    def __init__(self):
        self.batches: list[int] = []

    def prepare(self, clips: np.ndarray) -> np.ndarray:
        import cv2

        return np.stack([[cv2.resize(f, (16, 16), interpolation=cv2.INTER_AREA) for f in c] for c in clips])

    def forward(self, inputs: np.ndarray) -> np.ndarray:
        self.batches.append(len(inputs))
        m = inputs.reshape(len(inputs), -1).astype(np.float64).mean(1)
        return np.stack([m, -m], 1)

    def predict(self, clips: np.ndarray) -> np.ndarray:
        return self.forward(self.prepare(clips))


def test_prepared_inputs_batch_across_sizes(mixed_bench, tmp_path):
    b = Benchmark(mixed_bench)
    model = ResizingPlugin()
    res = evaluate(model, b, tmp_path / "run", sets=["original", "background_only"], batch_size=4)
    n = len(b.videos) * 2
    assert sum(model.batches) == n and model.batches[: n // 4] == [4] * (n // 4)
    assert res["metrics"]["n_videos"] == len(SIZES)


@pytest.fixture()
def tiny_clip_file(tmp_path, monkeypatch):
    monkeypatch.setenv("HAT_CACHE_DIR", str(tmp_path / "cache"))
    sd = R.openai_dtypes(R.tiny_clip(3).state_dict())
    path = tmp_path / "ViT-tiny.pt"
    torch.save(sd, path)
    return path


@pytest.mark.parametrize("opts", [{}, {"crops": 3, "views": 2, "sampling": "dense", "rate": 1}])
def test_clip_adapter_on_mixed_sizes_equals_one_clip_at_a_time(mixed_bench, tiny_clip_file, tmp_path, opts):
    """Each clip gets the adapter's own resize and crop before batching; batching changes no score."""
    b = Benchmark(mixed_bench)
    model = load_model(str(tiny_clip_file), classes=b.classes, **opts)
    calls = []
    fwd = model.forward
    model.forward = lambda x: calls.append(x.shape[0]) or fwd(x)
    sets = ["original", "human_only", "swap_random"]
    many = evaluate(model, b, tmp_path / "many", sets=sets, batch_size=8)
    assert len(calls) < sum(1 for _ in b.items(sets))  # clips of different sizes shared forward passes
    one = evaluate(model, b, tmp_path / "one", sets=sets, batch_size=1)
    pm = pd.read_parquet(tmp_path / "many" / "predictions.parquet")
    po = pd.read_parquet(tmp_path / "one" / "predictions.parquet")
    assert (pm["pred_1"] == po["pred_1"]).all()
    np.testing.assert_allclose(pm["score_1"], po["score_1"], rtol=1e-5, atol=1e-5)
    assert many["metrics"]["oacc"] == one["metrics"]["oacc"]


from test_selfie_segmenter import k400_bench  # noqa: E402,F401  (the two real Kinetics clips, 456x256 and 346x256)

PLUGIN = '''
import numpy as np

def scores(classes):
    return lambda clips: np.stack([clips.mean(axis=(1, 2, 3, 4)) + i for i in range(len(classes))], 1)
'''


def test_eval_cli_on_real_kinetics_clips_of_two_sizes(k400_bench, tiny_clip_file, tmp_path):
    """The first command a user runs on real videos: default batch size, a plugin and a CLIP checkpoint."""
    from hat.cli import main

    b = Benchmark(k400_bench)
    assert len({b.parts(v).frames.shape for v in b.videos["video_id"]}) == 2
    (tmp_path / "plug.py").write_text(PLUGIN)
    for spec in (f"python:{tmp_path / 'plug.py'}:scores", str(tiny_clip_file)):
        out = tmp_path / f"run{len(spec)}"
        assert main(["eval", "--model", spec, "--bench", str(k400_bench), "--out", str(out)]) == 0
        pred = pd.read_parquet(out / "predictions.parquet")
        assert len(pred) == sum(1 for _ in b.items(b.available_sets()))
