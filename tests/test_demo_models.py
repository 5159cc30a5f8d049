"""The embedded demo models: the motion model must really follow the person (issue: 51 % OAcc was unconvincing)."""

import numpy as np
import pytest
import torch

from hat.errors import HatError
from hat.models import demo as D
from hat.sources import SOURCES


def test_motion_model_reaches_85_percent_on_the_demo_source():
    """The demo's own recipe and seed (measured: 89 %; seeds 1 and 2 give 87 %, 88 %)."""
    src = SOURCES.create("synthetic")
    ck = D.train_demo("demo-motion", src)
    assert ck["train"]["epochs"] == D.RECIPES["demo-motion"]["epochs"] and ck["arch_config"]["net"] == 2
    model = D.DemoClassifier(ck)
    x, y = D.load_clips(src, "val", 16)
    assert (model.predict(x).argmax(1) == y).mean() >= 0.85


def test_motion_model_cannot_see_a_still_scene():
    net = D.MotionNet(4).eval()
    still = torch.rand(1, 1, 3, 32, 32).expand(2, 8, 3, 32, 32).contiguous()
    with torch.no_grad():
        out = net(still)
        other = net(torch.rand(1, 1, 3, 32, 32).expand(2, 8, 3, 32, 32).contiguous())
    assert torch.allclose(out, other)  # any still scene gives the same scores: differences are all zero


def test_older_motion_checkpoint_is_named_not_misread():
    ck = {"hat_arch": "demo-motion", "arch_config": {"num_classes": 2, "width": 4}, "classes": ["a", "b"],
          "input": {"num_frames": 4, "size": 32}, "state_dict": {}}
    with pytest.raises(HatError, match="network version 1.*retrain it with 'hat train-demo --arch demo-motion'"):
        D.DemoClassifier(ck, "old.pt")


def test_augment_mirrors_and_shifts_without_changing_content():
    x = torch.arange(2 * 2 * 3 * 4 * 4, dtype=torch.float32).view(2, 2, 3, 4, 4)
    y = D.augment(x, torch.Generator().manual_seed(0), shift=1)
    assert y.shape == x.shape
    assert np.allclose(np.sort(y.flatten().numpy()), np.sort(x.flatten().numpy()))


def test_train_demo_cli_pairs_arch_and_out(tiny_bench, tmp_path, capsys):
    """Several models from one command (the clips are rendered once); --arch and --out pair in order."""
    from hat.cli import main

    a, b = tmp_path / "f.pt", tmp_path / "m.pt"
    assert main(["train-demo", "--bench", str(tiny_bench), "--arch", "demo-frame", "--out", str(a),
                 "--arch", "demo-motion", "--out", str(b), "--epochs", "1"]) == 0
    assert torch.load(a, weights_only=True)["hat_arch"] == "demo-frame"
    assert torch.load(b, weights_only=True)["hat_arch"] == "demo-motion"
    capsys.readouterr()
    assert main(["train-demo", "--arch", "demo-frame", "--out", str(a), "--arch", "demo-motion"]) == 2
    assert "one --out per --arch" in capsys.readouterr().err
