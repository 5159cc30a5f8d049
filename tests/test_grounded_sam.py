"""Grounded-SAM: loaders against the official layouts, box/phrase post-processing, mask unions, and a
whole ``hat build`` through random-weight GroundingDINO and SAM checkpoints."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from click.testing import CliRunner

pytest.importorskip("groundingdino", reason="groundingdino-py not installed (pip install 'hat-bias[grounded-sam]')")
pytest.importorskip("segment_anything", reason="segment-anything not installed")

from hat.bench import Benchmark, Item  # noqa: E402
from hat.cli import cli  # noqa: E402
from hat.errors import HatError  # noqa: E402
from hat.segmenters import SEGMENTERS  # noqa: E402
from hat.segmenters.grounded_sam import (  # noqa: E402
    SAM_SIZES, Detections, GroundedSAM, load_gdino, load_sam, phrase_spans, sam_architecture,
)
from hat.testing.gsam import make_grounded_sam  # noqa: E402


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> dict[str, str]:
    return make_grounded_sam(tmp_path_factory.mktemp("gsam"), "tiny")


@pytest.fixture(scope="module")
def seg(tiny) -> GroundedSAM:
    return SEGMENTERS.create("grounded-sam", **tiny, gdino_size=96)


def test_sam_size_read_from_released_shapes():
    import importlib

    builder = importlib.import_module("segment_anything.build_sam")
    sd = builder.build_sam_vit_b(checkpoint=None).state_dict()
    assert sam_architecture(sd) == SAM_SIZES["vit_b"]


def test_loaders_refuse_wrong_files_in_one_line(tiny, tmp_path):
    with pytest.raises(HatError, match=r"holds a SAM custom.*not vit_h \(valid: auto, vit_h, vit_l, vit_b\)"):
        load_sam(tiny["sam_ckpt"], "vit_h")
    with pytest.raises(HatError, match="unknown SAM type 'vit_x'"):
        load_sam(tiny["sam_ckpt"], "vit_x")
    with pytest.raises(HatError, match="not a SAM checkpoint"):
        load_sam(tiny["gdino_ckpt"])
    with pytest.raises(HatError, match="SAM checkpoint not found"):
        load_sam(str(tmp_path / "nope.pth"))
    sd = torch.load(tiny["sam_ckpt"], weights_only=True)
    sd.pop("mask_decoder.iou_token.weight")
    torch.save(sd, tmp_path / "cut.pth")
    with pytest.raises(HatError, match=r"does not fit the SAM .*1 missing \(e.g. mask_decoder.iou_token.weight\)"):
        load_sam(str(tmp_path / "cut.pth"))

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"model": Evil()}, tmp_path / "evil.pth")
    with pytest.raises(HatError, match="cannot read as a GroundingDINO checkpoint"):
        load_gdino(tiny["gdino_config"], str(tmp_path / "evil.pth"), tiny["gdino_text_encoder"])
    with pytest.raises(HatError, match="needs its text encoder as a local folder"):
        load_gdino(tiny["gdino_config"], tiny["gdino_ckpt"], str(tmp_path))
    g = torch.load(tiny["gdino_ckpt"], weights_only=True)
    g["model"]["module.extra.weight"] = torch.zeros(1)
    torch.save(g, tmp_path / "extra.pth")
    with pytest.raises(HatError, match=r"1 unexpected \(e.g. extra.weight\)"):
        load_gdino(tiny["gdino_config"], str(tmp_path / "extra.pth"), tiny["gdino_text_encoder"])


def test_released_gdino_extras_load_unknown_extras_refused(tiny, tmp_path):
    """The released files carry label_enc.weight and BERT's position_ids beyond the model (GroundingDINO
    issue #271): they load; any other extra key is still refused and named."""
    g = torch.load(tiny["gdino_ckpt"], weights_only=True)
    g["model"]["module.label_enc.weight"] = torch.randn(2001, 256)  # nn.Embedding(dn_labelbook_size + 1, hidden_dim)
    g["model"]["module.bert.embeddings.position_ids"] = torch.arange(512)[None]
    torch.save(g, tmp_path / "released.pth")
    model, _ = load_gdino(tiny["gdino_config"], str(tmp_path / "released.pth"), tiny["gdino_text_encoder"])
    ref = torch.load(tiny["gdino_ckpt"], weights_only=True)["model"]
    own = model.state_dict()
    assert all(torch.equal(own[k.removeprefix("module.")], v) for k, v in ref.items())
    g["model"]["module.transformer.extra_head.weight"] = torch.zeros(3)
    torch.save(g, tmp_path / "unknown.pth")
    with pytest.raises(HatError, match=r"^\S*unknown.pth: does not fit .*: 1 unexpected \(e.g. transformer.extra_head.weight\)$"):
        load_gdino(tiny["gdino_config"], str(tmp_path / "unknown.pth"), tiny["gdino_text_encoder"])


def test_option_errors(tiny):
    for opts, msg in (({"objects": "all"}, "valid: auto, off"), ({"precision": "fp8"}, "valid: fp32, fp16, bf16"),
                      ({"precision": "fp16"}, "fp16 needs a CUDA device"), ({"box_threshold": 0}, "within"),
                      ({"prompts": ""}, "at least one person prompt")):
        with pytest.raises(HatError, match=msg):
            SEGMENTERS.create("grounded-sam", **{**tiny, **opts})
    with pytest.raises(HatError, match="has no option 'colour'"):
        SEGMENTERS.create("grounded-sam", **tiny, colour=1)


def test_phrase_spans_follow_the_caption(seg):
    tok = seg.gdino.tokenizer
    caption, spans = phrase_spans(tok, ["person", "hand", "piece of paper"])
    assert caption == "person . hand . piece of paper ."
    ids = tok(caption)["input_ids"]
    words = [tok.convert_ids_to_tokens(ids[s:e]) for s, e in spans]
    assert words == [["person"], ["hand"], ["[UNK]", "of", "paper"]]


class FakeGDINO:
    """Hand-made GroundingDINO outputs: what detect() keeps must follow the thresholds and spans."""

    def __init__(self, tokenizer, logits, boxes):
        self.tokenizer, self.logits, self.boxes = tokenizer, logits, boxes

    def __call__(self, x, captions):
        b = x.shape[0]
        return {"pred_logits": self.logits.expand(b, -1, -1), "pred_boxes": self.boxes.expand(b, -1, -1)}


def _fake_outputs(seg):
    """Hand-made logits over the caption "person . hand . cup ." and their boxes."""
    tok = seg.gdino.tokenizer
    caption, spans = phrase_spans(tok, ["person", "hand", "cup"])
    sep = len(tok(caption)["input_ids"]) - 1
    logit = lambda p: float(np.log(p / (1 - p)))  # noqa: E731
    L = torch.full((1, 8, 256), logit(0.01))
    L[0, :, sep + 1 :] = float("-inf")  # beyond the caption, as the model pads
    L[0, 0, spans[0][0]] = logit(0.9)  # a person
    L[0, 1, spans[0][0]] = logit(0.8)  # the same person again: kept (no NMS by default)
    L[0, 2, spans[2][0]] = logit(0.6)  # a cup
    L[0, 3, spans[1][0]] = logit(0.2)  # a hand below the box threshold: dropped
    L[0, 4, 0] = logit(0.95)  # high only on [CLS]: kept, its phrase "[CLS]" names no prompt
    L[0, 4, spans[2][0]] = logit(0.1)  # ... so it goes to the prompt scoring highest for it: cup
    L[0, 5, spans[1][0]] = logit(0.9)  # "hand" 0.9 and "person" 0.5: phrase "person hand" -> person,
    L[0, 5, spans[0][0]] = logit(0.5)  # as phrases2classes (first prompt contained), not the best token
    L[0, 6, sep] = logit(0.4)  # passes the box threshold on [SEP] only, phrase tokens below the text threshold
    L[0, 6, spans[1][0]] = logit(0.2)  # -> hand by its best prompt token; the old rule dropped it
    L[0, 7, spans[2][0]] = logit(0.28)  # passes the text threshold, not the box threshold: dropped
    B = torch.tensor([[[0.5, 0.5, 0.5, 0.5], [0.5, 0.5, 0.5, 0.52], [0.25, 0.75, 0.1, 0.2], [0.1, 0.1, 0.1, 0.1],
                       [0.05, 0.5, 0.2, 1.2], [0.5, 0.5, 0.2, 0.2], [0.9, 0.9, 0.1, 0.1], [0.3, 0.3, 0.1, 0.1]]])
    return L, B


def test_detect_every_box_over_box_threshold_phrase_labels_only(seg, monkeypatch):
    tok = seg.gdino.tokenizer
    L, B = _fake_outputs(seg)
    monkeypatch.setattr(seg, "gdino", FakeGDINO(tok, L, B))
    (d,) = seg.detect(np.zeros((1, 40, 80, 3), np.uint8), ["person", "hand", "cup"])
    np.testing.assert_array_equal(d.phrase, [0, 0, 2, 2, 0, 1])
    np.testing.assert_allclose(d.scores, [0.9, 0.8, 0.6, 0.95, 0.9, 0.4], atol=1e-5)  # max over all tokens
    np.testing.assert_allclose(d.boxes[[0, 2, 3]], [[20, 10, 60, 30], [16, 26, 24, 34], [-4, -4, 12, 44]], atol=1e-4)
    monkeypatch.setattr(seg, "nms_iou", 0.8)  # the option: per-label NMS removes the duplicate person
    (d,) = seg.detect(np.zeros((1, 40, 80, 3), np.uint8), ["person", "hand", "cup"])
    np.testing.assert_array_equal(d.phrase, [0, 2, 2, 0, 1])


def test_box_selection_matches_official_predict(seg, monkeypatch):
    """Against groundingdino-py's own ``predict`` and GroundingDINO's ``Model.phrases2classes`` rule (first
    class the phrase contains) on the same outputs."""
    from groundingdino.util.inference import predict
    from torchvision.ops import box_convert

    tok = seg.gdino.tokenizer
    L, B = _fake_outputs(seg)

    class Model(torch.nn.Module):
        tokenizer = tok

        def forward(self, x, captions):
            return {"pred_logits": L, "pred_boxes": B}

    boxes, scores, phrases = predict(Model(), torch.zeros(3, 8, 8), "person . hand . cup .", 0.3, 0.25, device="cpu")
    official = [next((i for i, c in enumerate(["person", "hand", "cup"]) if c in p), None) for p in phrases]
    assert official == [0, 0, 2, None, 0, None]  # None: the phrase names no prompt ("[CLS]", "[SEP]")
    monkeypatch.setattr(seg, "gdino", FakeGDINO(tok, L, B))
    (d,) = seg.detect(np.zeros((1, 40, 80, 3), np.uint8), ["person", "hand", "cup"])
    assert len(d.boxes) == len(boxes)
    np.testing.assert_allclose(d.scores, scores, atol=1e-6)
    np.testing.assert_allclose(d.boxes, box_convert(boxes * torch.tensor([80, 40, 80, 40]), "cxcywh", "xyxy"), atol=1e-4)
    assert [int(p) for p, o in zip(d.phrase, official) if o is not None] == [o for o in official if o is not None]

    from hat.segmenters.grounded_sam import box_phrases

    ids = tok("person . hand . cup .")["input_ids"]
    keep = L[0].sigmoid().max(dim=1).values > 0.3
    assert box_phrases(tok, ids, L[0].sigmoid()[keep], 0.25) == phrases


def test_gdino_resize_as_groundingdino_transforms(seg):
    """Sizes by GroundingDINO's rule (int() truncation) and PIL bilinear, against its own transform."""
    import groundingdino.datasets.transforms as T
    from PIL import Image

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:150, 0:230]
    texture = (128 + 60 * np.sin(xx / 2.3)[..., None] * np.cos(yy / 3.1)[..., None] + rng.normal(0, 30, (150, 230, 3)))
    frame = texture.clip(0, 255).astype(np.uint8)  # non-square, fine texture: a shrink needs anti-aliasing
    ref_tf = T.Compose([T.RandomResize([96], max_size=160), T.ToTensor(),
                        T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    ref, _ = ref_tf(Image.fromarray(frame), None)
    got = seg._gdino_input(frame[None])[0]
    assert tuple(got.shape) == tuple(ref.shape) == (3, 96, 147)  # 147.2 truncated
    assert (got - ref).abs().max() < 1e-5
    # the released 800 / 1333 on an upscale of the same frame
    old = seg.gdino_size
    try:
        seg.gdino_size = 800
        ref, _ = T.Compose([T.RandomResize([800], max_size=1333), T.ToTensor(),
                            T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])(Image.fromarray(frame), None)
        got = seg._gdino_input(frame[None])[0]
    finally:
        seg.gdino_size = old
    assert tuple(got.shape) == tuple(ref.shape) == (3, 800, 1226) and (got - ref).abs().max() < 1e-5

    from hat.segmenters.grounded_sam import gdino_resize_shape

    assert gdino_resize_shape(340, 256) == (1062, 800)  # 1062.5 truncated (rounding gives 1063)
    assert gdino_resize_shape(256, 340) == (800, 1062)
    assert gdino_resize_shape(1920, 1080) == (1333, 750)  # long side capped: short side round(749.8)
    assert gdino_resize_shape(800, 600) == (1066, 800) and gdino_resize_shape(1067, 800) == (1067, 800)


def test_person_mask_is_union_of_person_boxes_objects_kept_apart(seg, monkeypatch):
    from hat.sources.base import VideoRecord

    seen = []

    def detect(frames, phrases):
        seen.append(phrases)
        last = len(phrases) - 1  # "ball" when objects are prompted, else "hand"
        return [Detections(np.array([[0, 0, 4, 4], [6, 6, 8, 8], [2, 2, 5, 5]], np.float32),
                           np.array([0.9, 0.5, 0.7], np.float32), np.array([0, 1, last]))] * len(frames)

    def decode(emb, input_size, boxes, size):
        out = np.zeros((len(boxes), *size), bool)
        for k, (x0, y0, x1, y1) in enumerate(boxes.astype(int)):
            out[k, y0:y1, x0:x1] = True
        return out

    monkeypatch.setattr(seg, "detect", detect)
    monkeypatch.setattr(seg, "encode", lambda frames: (np.zeros(len(frames)), (10, 10)))
    monkeypatch.setattr(seg, "decode", decode)
    rec = VideoRecord("v", 0, "val", "", {"objects": ["Cup", "ball", "hand"]})
    out = seg.segment(np.zeros((3, 10, 10, 3), np.uint8), rec, None, np.arange(3))
    want = np.zeros((10, 10), bool)
    want[0:4, 0:4] = want[6:8, 6:8] = True
    assert seen == [["person", "hand", "cup", "ball"]]
    assert out.masks.shape == (3, 10, 10) and (out.masks == want).all()
    assert out.object_names == ["cup", "ball"]  # cleaned, and "hand" stays a person prompt
    obj = np.zeros((10, 10), bool)
    obj[2:5, 2:5] = True
    assert (out.object_masks == obj).all()
    np.testing.assert_allclose(out.boxes[0], [[0, 0, 4, 4, 0.9], [6, 6, 8, 8, 0.5]])
    np.testing.assert_allclose(out.object_boxes[0], [[2, 2, 5, 5, 0.7, 1]])  # index 1 = "ball"
    plain = seg.segment(np.zeros((1, 10, 10, 3), np.uint8), VideoRecord("w", 0, "val", ""), None, np.arange(1))
    assert plain.object_masks is None


def test_every_box_masked_sam_gets_boxes_unclamped_stored_clamped(seg, monkeypatch):
    """Hundreds of boxes on a frame (as real frames give): all reach SAM, in bounded chunks, as the model
    gave them; the stored boxes are clamped to the frame."""
    from hat.sources.base import VideoRecord

    k = 133
    boxes = np.tile(np.array([[1, 1, 3, 3]], np.float32), (k, 1))
    boxes[-1] = [-5, 6, 4, 14]  # partly outside the 10×10 frame
    monkeypatch.setattr(seg, "detect", lambda frames, phrases: [Detections(boxes, np.full(k, 0.5, np.float32), np.zeros(k, int))] * len(frames))
    monkeypatch.setattr(seg, "encode", lambda frames: (np.zeros(len(frames)), (10, 10)))
    seen = []

    def decode(emb, input_size, b, size):
        seen.append(b.copy())
        out = np.zeros((len(b), *size), bool)
        for j, (x0, y0, x1, y1) in enumerate(b.astype(int)):
            out[j, max(y0, 0) : y1, max(x0, 0) : x1] = True
        return out

    monkeypatch.setattr(seg, "decode", decode)
    out = seg.segment(np.zeros((1, 10, 10, 3), np.uint8), VideoRecord("v", 0, "val", ""), None, np.arange(1))
    np.testing.assert_array_equal(np.concatenate(seen), boxes)
    assert out.masks[0, 1:3, 1:3].all() and out.masks[0, 6:10, 0:4].all() and out.masks[0].sum() == 4 + 16
    np.testing.assert_allclose(out.boxes[0][-1], [0, 6, 4, 10, 0.5])
    assert len(out.boxes[0]) == k
    from hat.segmenters.grounded_sam import SAM_DECODE_CHUNK

    assert len(seen) == 3 and max(len(b) for b in seen) == SAM_DECODE_CHUNK < k


def test_real_forward_shapes(seg):
    """The random-weight models run end to end: masks at frame size, boxes inside the frame."""
    frames = np.random.default_rng(0).integers(0, 255, (2, 48, 64, 3), dtype=np.uint8)
    dets = seg.detect(frames, ["person", "hand"])
    assert len(dets) == 2
    for d in dets:
        assert d.boxes.shape[1] == 4 and (d.boxes[:, 0::2] <= 64).all() and (d.boxes[:, 1::2] <= 48).all()
    emb, size = seg.encode(frames)
    m = seg.decode(emb[0], size, np.array([[4, 4, 40, 30]], np.float32), (48, 64))
    assert m.shape == (1, 48, 64) and m.dtype == bool


def _write_videos(root: Path, n: int = 4) -> Path:
    rng = np.random.default_rng(1)
    rows = []
    for i in range(n):
        path = root / f"v{i}.mp4"
        with av.open(str(path), "w") as c:
            s = c.add_stream("libx264", rate=10)
            s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
            for _ in range(8):
                f = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
                for p in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                    c.mux(p)
            for p in s.encode():
                c.mux(p)
        rows.append({"path": path.name, "label": f"c{i % 2}", "objects": "cup|ball" if i % 2 else ""})
    pd.DataFrame(rows).to_csv(root / "list.csv", index=False)
    (root / "classes.txt").write_text("c0\nc1\n")
    return root / "list.csv"


def test_hat_build_through_grounded_sam(tiny, tmp_path):
    """The whole path through the CLI flags: checkpoints from paths, masks and boxes stored, resumable."""
    lst = _write_videos(tmp_path)
    out = tmp_path / "bench"
    args = ["build", "--source", "csv", "-S", f"list={lst}", "-S", f"classes={tmp_path / 'classes.txt'}",
            "--out", str(out), "--segmenter", "grounded-sam", "--gdino-config", tiny["gdino_config"],
            "--gdino-ckpt", tiny["gdino_ckpt"], "--gdino-text-encoder", tiny["gdino_text_encoder"],
            "--sam-ckpt", tiny["sam_ckpt"], "--sam-type", "auto", "--segmenter-opt", "gdino_size=64",
            "--segmenter-opt", "box_threshold=0.05", "--segmenter-opt", "text_threshold=0.05",
            "--frames", "3", "--context-frames", "1", "--cov-min", "0.0001", "--cov-max", "1"]
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 0, r.output
    seg = json.loads((out / "artifacts" / "segment" / "v1.json").read_text())
    assert seg["objects"]["names"] == ["cup", "ball"]
    assert all(len(row) == 6 for boxes in seg["objects"]["boxes"] for row in boxes)
    assert "objects" not in json.loads((out / "artifacts" / "segment" / "v0.json").read_text())
    assert sum(len(b) for b in seg["boxes"]) > 0  # random weights at low thresholds still detect
    ident = yaml.safe_load((out / "build.yaml").read_text())["segmenter"]
    assert ident["name"] == "grounded-sam" and ident["options"]["sam_type"].startswith("custom")
    assert len(ident["options"]["sam_sha256"]) == 16
    man = pd.read_csv(out / "manifest.csv", keep_default_na=False)
    assert list(man["objects"]) == ["", "cup|ball", "", "cup|ball"]
    q = pd.read_csv(out / "mask_quality.csv")
    stored = {v: len(json.loads((out / "artifacts" / "segment" / f"{v}.json").read_text())["rle"]) for v in man["video_id"]}
    assert q.groupby("video_id").size().to_dict() == stored and q["coverage"].between(0, 1).all()
    assert q["object_coverage"].isna().tolist() == [v in ("v0", "v2") for v in q["video_id"]]
    b = Benchmark(out)
    assert {"masked_object_box", "masked_object_shape", "masked_background_objects"} <= set(b.available_sets())
    clip = b.compose(Item("masked_object_shape", 0, "v1", 1))
    assert clip.shape == (3, 48, 64, 3)
    r2 = CliRunner().invoke(cli, args)
    assert r2.exit_code == 0 and "already there" in r2.output


def test_segmenter_flags_need_grounded_sam(tmp_path, capsys):
    from hat.cli import main

    assert main(["build", "--out", str(tmp_path / "b"), "--sam-ckpt", "x.pth"]) == 2
    assert ("hat: error: --sam-ckpt is an option of --segmenter grounded-sam, not of 'auto' (name it: --segmenter "
            "grounded-sam)\n") == capsys.readouterr().err
    assert main(["build", "--out", str(tmp_path / "b"), "--sam-ckpt", "x.pth", "--segmenter", "gt"]) == 2
    assert "hat: error: --sam-ckpt is an option of --segmenter grounded-sam, not of 'gt'\n" == capsys.readouterr().err
    assert main(["build", "--out", str(tmp_path / "b"), "--device", "cuda"]) == 2
    assert "none of the chosen backends runs on a device" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()
