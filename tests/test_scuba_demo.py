"""Known-bias check on the embedded benchmark (issue 20): the scene-shortcut frame model loses most of its
accuracy on SCUBA, the motion model keeps most of its own; the figures are in the README's demo table."""

import pytest

from hat.bench import Benchmark
from hat.config import BuildConfig
from hat.evaluate import evaluate
from hat.models import demo as D
from hat.pipeline import build
from hat.sources import SOURCES

SETS = ["original", "scuba_stripes", "scufo_stripes", "scuba_still", "scufo_still"]


@pytest.mark.slow
def test_frame_model_loses_scuba_motion_model_keeps_it(tmp_path):
    src = SOURCES.create("synthetic")
    data = D.load_clips(src, "train", 16)
    build(BuildConfig(source="synthetic", swap_types=[]), tmp_path / "bench")
    bench = Benchmark(tmp_path / "bench")
    m = {}
    for arch in ("demo-frame", "demo-motion"):
        model = D.DemoClassifier(D.train_demo(arch, src, num_frames=16, data=data))
        m[arch] = evaluate(model, bench, tmp_path / arch, sets=SETS)["metrics"]
    frame, motion = m["demo-frame"], m["demo-motion"]
    for src_ in ("stripes", "still"):
        assert frame[f"scuba_{src_}_top1"] < 0.5 * frame["oacc"], src_  # its shortcut (the scene) is gone
        assert motion[f"scuba_{src_}_top1"] > 0.7 * motion["oacc"], src_  # the person's motion is still there
        assert motion[f"contrast_{src_}"] > frame[f"contrast_{src_}"] + 0.3, src_
        assert motion[f"hm_scuba_{src_}"] > frame[f"hm_scuba_{src_}"], src_
