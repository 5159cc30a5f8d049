"""Normalisation constants, each defined once, its units in its name.

``*_255`` values apply to 0-255 pixels (the CLIP codes and MMAction normalise uint8 frames); the
others to 0-1 pixels (torchvision, timm, the masking paper's colour space). The 0-255 values are
written as the original codes write them, not computed from the 0-1 ones: 0.224 * 255 is not
57.12 in floating point, and the values are recorded in every results file.
"""

from __future__ import annotations

RGB = tuple[float, float, float]

#: ImageNet's per-channel mean and standard deviation, on 0-1 pixels
IMAGENET_MEAN: RGB = (0.485, 0.456, 0.406)
IMAGENET_STD: RGB = (0.229, 0.224, 0.225)

#: the same on 0-255 pixels, as MMAction-based codes (ViFi-CLIP, X-CLIP) write them
IMAGENET_MEAN_255: RGB = (123.675, 116.28, 103.53)
IMAGENET_STD_255: RGB = (58.395, 57.12, 57.375)

#: OpenAI CLIP's normalisation on 0-255 pixels (0.48145466, 0.4578275, 0.40821073 and
#: 0.26862954, 0.26130258, 0.27577711 on 0-1 pixels)
CLIP_MEAN_255: RGB = (122.770938, 116.7460125, 104.09373615)
CLIP_STD_255: RGB = (68.5005327, 66.6321579, 70.32316305)
