"""Grounded-SAM: GroundingDINO boxes for text prompts, SAM masks inside those boxes.

The masking paper's recipe: person prompts "person" and "hand"; the person mask of a frame is the
union of the SAM masks of every person box above the threshold, and the boxes are kept for the
B-top1 set. Datasets that name their objects (SSv2's ``[something]``) add the names to the same
caption; their masks and boxes are kept apart from the person's.

Both models come from the official packages (groundingdino-py, segment-anything) and take weights
only from paths the user gives; the SAM size is read from the checkpoint's shapes, so any SAM in the
official layout loads, and ``sam_type`` is a check. SAM's 1024² image encoder dominates the cost,
so frames go through it in batches and all boxes of a frame are prompted in one decoder call. Only
the frames the build stored are segmented: the evaluation frames and the inpainter's context frames.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..checkpoints import file_hash, load_state_file, mismatch_error
from ..constants import IMAGENET_MEAN, IMAGENET_STD
from ..errors import HatError
from . import SEGMENTERS, Segmentation, Segmenter

#: (embed dim, depth, heads, global-attention blocks) of the released SAM image encoders
SAM_SIZES: dict[str, tuple[int, int, int, tuple[int, ...]]] = {
    "vit_h": (1280, 32, 16, (7, 15, 23, 31)),
    "vit_l": (1024, 24, 16, (5, 11, 17, 23)),
    "vit_b": (768, 12, 12, (2, 5, 8, 11)),
}
DEFAULT_GDINO_CONFIG = "GroundingDINO_SwinT_OGC.py"
GDINO_RELEASED_SIZE = (800, 1333)  # T.RandomResize([800], max_size=1333) in GroundingDINO's inference code
SAM_DECODE_CHUNK = 64  # boxes per SAM decoder call: bounds memory on frames with hundreds of boxes
_GDINO_MEAN = np.array(IMAGENET_MEAN, np.float32)  # GroundingDINO's Normalize, in float32 as it runs
_GDINO_STD = np.array(IMAGENET_STD, np.float32)
#: Keys the released GroundingDINO checkpoints carry beyond groundingdino-py's model, with the evidence.
#: The load excuses exactly these as unexpected and refuses every other mismatch.
GDINO_RELEASED_EXTRA_KEYS: dict[str, str] = {
    "label_enc.weight": "groundingdino_swint_ogc.pth and groundingdino_swinb_cogcoor.pth: the training-time "
    "denoising label embedding, absent from the inference model (load log in GroundingDINO issue #271)",
    "bert.embeddings.position_ids": "the same files (same load log): a buffer transformers < 4.31 saved and "
    "later versions rebuild (so it may also be missing when an older transformers builds the model)",
}
#: of those, the buffers a model may register depending on the transformers version: excused when missing too
GDINO_VERSION_BUFFERS = ("bert.embeddings.position_ids",)


def _need(module: str):
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise HatError(f"segmenter 'grounded-sam' needs {module.split('.')[0]} ({e.name} is not installed); "
                       "install it with: pip install 'hat-bias[grounded-sam]'") from None


# ----------------------------------------------------------------------------- SAM


def sam_architecture(sd: dict[str, Any]) -> tuple[int, int, int, tuple[int, ...]]:
    """Image-encoder size from the weights alone: embed dim, depth, heads, global-attention blocks."""
    embed = int(sd["image_encoder.patch_embed.proj.weight"].shape[0])
    blocks = {int(k.split(".")[2]) for k in sd if k.startswith("image_encoder.blocks.")}
    depth = max(blocks) + 1
    head_dim = int(sd["image_encoder.blocks.0.attn.rel_pos_h"].shape[1])
    grid = int(sd["image_encoder.pos_embed"].shape[1])
    glob = tuple(i for i in range(depth) if sd[f"image_encoder.blocks.{i}.attn.rel_pos_h"].shape[0] == 2 * grid - 1)
    return embed, depth, embed // head_dim, glob


def load_sam(path: str, sam_type: str = "auto"):
    """segment-anything's own builder at the checkpoint's size, weights loaded strictly."""
    if sam_type not in ("auto", *SAM_SIZES):
        raise HatError(f"unknown SAM type '{sam_type}' (valid: auto, {', '.join(SAM_SIZES)})")
    builder = _need("segment_anything.build_sam")
    sd = load_state_file(path, "SAM", "give --sam-ckpt sam_vit_h_4b8939.pth, sam_vit_l_0b3195.pth or sam_vit_b_01ec64.pth")
    if "image_encoder.patch_embed.proj.weight" not in sd:
        raise HatError(f"{path}: not a SAM checkpoint (no image_encoder.* weights)")
    arch = sam_architecture(sd)
    name = next((k for k, v in SAM_SIZES.items() if v == arch), f"custom(dim={arch[0]},depth={arch[1]})")
    if sam_type != "auto" and name != sam_type:
        raise HatError(f"{path} holds a SAM {name}, not {sam_type} (valid: auto, {', '.join(SAM_SIZES)})")
    sam = builder._build_sam(encoder_embed_dim=arch[0], encoder_depth=arch[1], encoder_num_heads=arch[2],
                             encoder_global_attn_indexes=list(arch[3]), checkpoint=None)
    missing, unexpected = sam.load_state_dict(sd, strict=False)
    if missing or unexpected:
        raise mismatch_error(path, f"SAM {name}", list(missing), list(unexpected))
    return sam.eval(), name


# ----------------------------------------------------------------------------- GroundingDINO


def default_gdino_config() -> Path:
    spec = importlib.util.find_spec("groundingdino")
    if spec is None or not spec.submodule_search_locations:
        _need("groundingdino")
    return Path(list(spec.submodule_search_locations)[0]) / "config" / DEFAULT_GDINO_CONFIG


def load_gdino(config: str, ckpt: str, text_encoder: str):
    """groundingdino-py's builder with the text encoder read from a local folder, weights loaded strictly."""
    slconfig = _need("groundingdino.util.slconfig")
    models = _need("groundingdino.models")
    cfg_path = Path(config) if config else default_gdino_config()
    if not cfg_path.is_file():
        raise HatError(f"GroundingDINO config not found: {cfg_path} (give --gdino-config, or leave it out for {DEFAULT_GDINO_CONFIG})")
    args = slconfig.SLConfig.fromfile(str(cfg_path))
    bert = Path(text_encoder) if text_encoder else Path(str(args.text_encoder_type))
    if not (bert / "config.json").is_file():
        raise HatError("GroundingDINO needs its text encoder as a local folder (bert-base-uncased with config.json, "
                       f"vocab.txt and weights); give --gdino-text-encoder DIR (got '{text_encoder or args.text_encoder_type}')")
    sd = load_state_file(ckpt, "GroundingDINO", "give --gdino-ckpt groundingdino_swint_ogc.pth or groundingdino_swinb_cogcoor.pth")
    args.text_encoder_type = str(bert.resolve())
    args.device = "cpu"
    args.use_checkpoint = False  # gradient checkpointing: training only
    args.use_transformer_ckpt = False
    quiet = logging.getLogger("transformers")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # the package prints its text-encoder path
            model = models.build_model(args)
    finally:
        quiet.setLevel(level)
    missing, unexpected = model.load_state_dict(sd, strict=False)
    missing = [k for k in missing if k not in GDINO_VERSION_BUFFERS]
    unexpected = [k for k in unexpected if k not in GDINO_RELEASED_EXTRA_KEYS]
    if missing or unexpected:
        raise mismatch_error(ckpt, f"GroundingDINO of {cfg_path.name}", missing, unexpected)
    return model.eval(), cfg_path


def phrase_spans(tokenizer, phrases: list[str]) -> tuple[str, list[tuple[int, int]]]:
    """GroundingDINO's caption ("a . b .") and each phrase's token span in it, found in order."""
    caption = " . ".join(phrases) + " ."
    ids = tokenizer(caption)["input_ids"]
    spans, pos = [], 1  # after [CLS]
    for p in phrases:
        toks = tokenizer(p, add_special_tokens=False)["input_ids"]
        for start in range(pos, len(ids) - len(toks) + 1):
            if ids[start : start + len(toks)] == toks:
                break
        else:
            raise HatError(f"prompt '{p}' not found in the tokenised caption '{caption}'")
        spans.append((start, start + len(toks)))
        pos = start + len(toks)
    return caption, spans


def clean_prompts(names) -> list[str]:
    out: list[str] = []
    for n in names:
        n = " ".join(str(n).replace(".", " ").replace("?", " ").lower().split())
        if n and n not in out:
            out.append(n)
    return out


def gdino_resize_shape(w: int, h: int, size: int = 800, max_size: int | None = 1333) -> tuple[int, int]:
    """(width, height) as GroundingDINO's ``datasets/transforms.py`` ``resize`` sizes an image: the short
    side to ``size`` unless the long side would pass ``max_size`` (then the short side is shrunk, rounded),
    the other side truncated with ``int()``."""
    if max_size is not None:
        lo, hi = float(min(w, h)), float(max(w, h))
        if hi / lo * size > max_size:
            size = int(round(max_size * lo / hi))
    if (w <= h and w == size) or (h <= w and h == size):
        return w, h
    if w < h:
        return size, int(size * h / w)
    return int(size * w / h), size


def prompt_of_phrase(phrase: str, prompts: list[str]) -> int | None:
    """GroundingDINO's ``Model.phrases2classes``: the first prompt (in prompt order) the phrase contains."""
    return next((i for i, p in enumerate(prompts) if p in phrase), None)


def box_phrases(tokenizer, input_ids: list[int], logits, text_threshold: float) -> list[str]:
    """GroundingDINO's ``predict`` labels: per box, the caption tokens scoring above ``text_threshold``
    (any token, as ``get_phrases_from_posmap``), decoded, dots removed."""
    out, cache = [], {}
    for row in logits:
        idx = tuple(i for i in (row > text_threshold).nonzero().flatten().tolist() if i < len(input_ids))
        if idx not in cache:
            cache[idx] = tokenizer.decode([input_ids[i] for i in idx]).replace(".", "")
        out.append(cache[idx])
    return out


def label_boxes(phrases: list[str], span_scores, prompts: list[str]):
    """Prompt index per box: the official phrase-to-prompt rule; a box whose phrase names no prompt (no
    token above the text threshold, or only [CLS]/./[SEP]) goes to the prompt whose tokens score highest
    for it — hat's addition, as the official demo masks such boxes but leaves them unlabelled."""
    import torch

    best = span_scores.argmax(dim=1).tolist() if len(phrases) else []
    found = [prompt_of_phrase(p, prompts) for p in phrases]
    return torch.tensor([b if f is None else f for f, b in zip(found, best)], dtype=torch.long)


def clamp_boxes(boxes: np.ndarray, w: int, h: int) -> np.ndarray:
    """Boxes as stored (pixel regions for box masking): inside the frame. SAM gets them unclamped."""
    out = np.array(boxes, np.float32).reshape(-1, 4)
    out[:, 0::2] = out[:, 0::2].clip(0, w)
    out[:, 1::2] = out[:, 1::2].clip(0, h)
    return out


# ----------------------------------------------------------------------------- segmenter


@dataclass
class Detections:
    boxes: np.ndarray  # [K,4] x0, y0, x1, y1 in frame pixels, unclamped (as SAM gets them)
    scores: np.ndarray  # [K] max token score, as the official code
    phrase: np.ndarray  # [K] index into the caption's phrases


class GroundedSAM(Segmenter):
    name = "grounded-sam"

    def __init__(
        self,
        *,
        gdino_ckpt: str = "",
        sam_ckpt: str = "",
        gdino_config: str = "",
        gdino_text_encoder: str = "",
        sam_type: str = "auto",
        prompts: str = "person,hand",
        objects: str = "auto",
        box_threshold: float = 0.3,
        text_threshold: float = 0.25,
        nms_iou: float = 1.0,
        gdino_size: int = 800,
        batch_size: int = 4,
        device: str = "cpu",
        precision: str = "fp32",
    ):
        from ..runtime import autocast_dtype, check_precision, resolve_device

        if objects not in ("auto", "off"):
            raise HatError(f"unknown objects mode '{objects}' (valid: auto, off)")
        check_precision(precision)
        for key, v in (("box_threshold", box_threshold), ("text_threshold", text_threshold), ("nms_iou", nms_iou)):
            if not 0 < float(v) <= 1:
                raise HatError(f"{key} must be within (0, 1] (got {v})")
        if int(gdino_size) < 32 or int(batch_size) < 1:
            raise HatError(f"gdino_size must be at least 32 and batch_size at least 1 (got {gdino_size}, {batch_size})")
        self.prompts = clean_prompts(prompts.split(",") if isinstance(prompts, str) else prompts)
        if not self.prompts:
            raise HatError("grounded-sam needs at least one person prompt (e.g. prompts=person,hand)")
        self.device = resolve_device(device)
        self.dtype = autocast_dtype(precision, self.device)
        self.sam, self.sam_type = load_sam(sam_ckpt, sam_type)
        self.gdino, cfg_path = load_gdino(gdino_config, gdino_ckpt, gdino_text_encoder)
        self.sam.to(self.device)
        self.gdino.to(self.device)
        self.objects, self.box_threshold, self.text_threshold = objects, float(box_threshold), float(text_threshold)
        self.nms_iou, self.gdino_size, self.batch_size, self.precision = float(nms_iou), int(gdino_size), int(batch_size), precision
        transforms = _need("segment_anything.utils.transforms")
        self._resize = transforms.ResizeLongestSide(self.sam.image_encoder.img_size)
        self._options = {
            "gdino_config": cfg_path.name if not gdino_config else str(gdino_config),
            "gdino_sha256": file_hash(gdino_ckpt), "sam_sha256": file_hash(sam_ckpt),
            "sam_type": self.sam_type, "prompts": self.prompts, "objects": objects,
            "box_threshold": self.box_threshold, "text_threshold": self.text_threshold, "nms_iou": self.nms_iou,
            "gdino_size": self.gdino_size, "precision": precision,
        }

    def options(self) -> dict:
        return dict(self._options)

    def _autocast(self):
        from ..runtime import autocast

        return autocast(self.device, self.dtype)

    # -- GroundingDINO: boxes per frame for every phrase of one caption
    def _gdino_input(self, frames: np.ndarray):
        """GroundingDINO's transform: ``RandomResize([gdino_size], max_size)`` on a PIL image (bilinear),
        ``ToTensor``, ``Normalize`` with ImageNet mean/std. max_size is 1333 at the released 800."""
        import torch
        from PIL import Image

        h, w = frames.shape[1:3]
        short, long = GDINO_RELEASED_SIZE
        size = gdino_resize_shape(w, h, self.gdino_size, int(round(self.gdino_size * long / short)))
        x = np.stack([np.asarray(Image.fromarray(f).resize(size, Image.BILINEAR)) for f in frames])
        x = (x.astype(np.float32) / 255.0 - _GDINO_MEAN) / _GDINO_STD
        return torch.from_numpy(x).permute(0, 3, 1, 2).contiguous().to(self.device)

    def detect(self, frames: np.ndarray, phrases: list[str]) -> list[Detections]:
        """Boxes as the official Grounded-SAM demo keeps them: every query whose best token (over the whole
        caption) passes ``box_threshold``; ``text_threshold`` only labels it (see ``label_boxes``)."""
        import torch
        from torchvision.ops import batched_nms

        caption, spans = phrase_spans(self.gdino.tokenizer, phrases)
        input_ids = self.gdino.tokenizer(caption)["input_ids"]
        h, w = frames.shape[1:3]
        out = []
        with torch.inference_mode(), self._autocast():
            res = self.gdino(self._gdino_input(frames), captions=[caption] * len(frames))
        logits = res["pred_logits"].float().sigmoid().cpu()  # [B, Q, 256]
        cxcywh = res["pred_boxes"].float().cpu()  # [B, Q, 4], normalised
        for b in range(len(frames)):
            score = logits[b].max(dim=1).values
            keep = score > self.box_threshold
            lg = logits[b, keep]
            span_scores = torch.stack([lg[:, s:e].max(dim=1).values for s, e in spans], dim=1)  # [K, P]
            phrase = label_boxes(box_phrases(self.gdino.tokenizer, input_ids, lg, self.text_threshold), span_scores, phrases)
            cx, cy, bw, bh = cxcywh[b, keep].unbind(-1)
            boxes = torch.stack([(cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h], -1)
            sc = score[keep]
            if self.nms_iou < 1 and len(boxes):  # an option: the official demo has no NMS
                k = batched_nms(boxes, sc, phrase, self.nms_iou).sort().values
                boxes, sc, phrase = boxes[k], sc[k], phrase[k]
            out.append(Detections(boxes.numpy().reshape(-1, 4), sc.numpy(), phrase.numpy()))
        return out

    # -- SAM: one encoder pass per batch, one decoder call per frame for all its boxes
    def encode(self, frames: np.ndarray):
        import torch

        x = np.stack([self._resize.apply_image(f) for f in frames])
        t = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous().to(self.device).float()
        with torch.inference_mode(), self._autocast():
            return self.sam.image_encoder(self.sam.preprocess(t)), x.shape[1:3]

    def decode(self, embedding, input_size: tuple[int, int], boxes: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """[K,H,W] bool, SAM's logits thresholded once at its own threshold."""
        import torch

        if len(boxes) == 0:
            return np.zeros((0, *size), bool)
        b = self._resize.apply_boxes_torch(torch.as_tensor(boxes, dtype=torch.float32), size).to(self.device)
        with torch.inference_mode(), self._autocast():
            sparse, dense = self.sam.prompt_encoder(points=None, boxes=b, masks=None)
            low, _ = self.sam.mask_decoder(
                image_embeddings=embedding[None], image_pe=self.sam.prompt_encoder.get_dense_pe(),
                sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense, multimask_output=False,
            )
            up = self.sam.postprocess_masks(low.float(), input_size, size)
        return (up[:, 0] > self.sam.mask_threshold).cpu().numpy()

    def _object_names(self, record) -> list[str] | None:
        if self.objects == "off" or "objects" not in record.meta:
            return None
        names = record.meta["objects"]
        if isinstance(names, str):
            names = [n for n in names.split("|") if n]
        names = [n for n in clean_prompts(names) if n not in self.prompts]
        return names or None  # nothing named: nothing to keep apart

    def segment(self, frames, record, source, indices) -> Segmentation:
        frames = np.asarray(frames, dtype=np.uint8)
        n, h, w = frames.shape[:3]
        objects = self._object_names(record)
        phrases = self.prompts + (objects or [])
        n_person = len(self.prompts)
        masks = np.zeros((n, h, w), bool)
        obj_masks = np.zeros((n, h, w), bool) if objects is not None else None
        boxes: list[np.ndarray] = []
        obj_boxes: list[np.ndarray] = []
        for i in range(0, n, self.batch_size):
            chunk = frames[i : i + self.batch_size]
            dets = self.detect(chunk, phrases)
            emb, input_size = self.encode(chunk) if any(len(d.boxes) for d in dets) else (None, None)
            for j, d in enumerate(dets):
                person = d.phrase < n_person
                obj = ~person
                stored = clamp_boxes(d.boxes, w, h)
                boxes.append(np.column_stack([stored[person], d.scores[person]]).astype(np.float32).reshape(-1, 5))
                obj_boxes.append(np.column_stack([stored[obj], d.scores[obj], d.phrase[obj] - n_person])
                                 .astype(np.float32).reshape(-1, 6))
                for k in range(0, len(d.boxes), SAM_DECODE_CHUNK):  # every box gets a SAM mask
                    part = slice(k, k + SAM_DECODE_CHUNK)
                    m = self.decode(emb[j], input_size, d.boxes[part], (h, w))
                    masks[i + j] |= m[person[part]].any(axis=0)
                    if obj_masks is not None:
                        obj_masks[i + j] |= m[obj[part]].any(axis=0)
        if objects is None:
            return Segmentation(masks, boxes)
        return Segmentation(masks, boxes, obj_masks, obj_boxes, objects)


SEGMENTERS.register("grounded-sam", help="GroundingDINO boxes + SAM masks, weights from your paths (pip install 'hat-bias[grounded-sam]')")(GroundedSAM)
