"""Ground-truth masks from sources that have them (the synthetic benchmark renders exact masks)."""

from __future__ import annotations

import numpy as np

from ..compose import resize_cover
from ..errors import HatError
from ..masks import boxes_from_masks
from . import SEGMENTERS, Segmentation, Segmenter


class GroundTruthSegmenter(Segmenter):
    name = "gt"
    reads_pixels = False  # the masks come from the source whatever the frames show

    def check_source(self, source) -> None:
        if not source.provides_masks:
            from . import SEGMENTERS

            others = [n for n in SEGMENTERS.names() if n != "gt"]
            raise HatError(f"segmenter 'gt' needs a source with ground-truth masks and '{source.name}' has none; "
                           f"choose a real segmenter (valid: {', '.join(others) or 'none installed yet'})")

    def segment(self, frames, record, source, indices) -> Segmentation:
        masks = source.gt_masks(record, indices)
        if masks is None:
            raise HatError(f"segmenter 'gt' needs a source with ground-truth masks; source '{source.name}' has none")
        h, w = frames.shape[1:3]
        if masks.shape[1:3] != (h, w):
            masks = resize_cover(masks, h, w, nearest=True)
        boxes = boxes_from_masks(masks)
        per_frame = [
            np.array([[*b, 1.0]], dtype=np.float32) if m.any() else np.zeros((0, 5), np.float32)
            for b, m in zip(boxes, masks)
        ]
        return Segmentation(masks.astype(bool), per_frame)


SEGMENTERS.register("gt", help="masks and boxes the source provides (synthetic)")(GroundTruthSegmenter)
