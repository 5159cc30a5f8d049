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

from gsam_fixtures import make_grounded_sam  # noqa: E402

from hat.bench import Benchmark, Item  # noqa: E402
from hat.cli import cli  # noqa: E402
from hat.errors import HatError  # noqa: E402
from hat.segmenters import SEGMENTERS  # noqa: E402
from hat.segmenters.grounded_sam import (  # noqa: E402
    SAM_SIZES, Detections, GroundedSAM, load_gdino, load_sam, phrase_spans, sam_architecture,
)


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
    with pytest.raises(HatError, match=r"does not fit the SAM .*1 weights missing \(e.g. mask_decoder.iou_token.weight\)"):
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


def test_detect_thresholds_phrases_and_nms(seg, monkeypatch):
    tok = seg.gdino.tokenizer
    _, spans = phrase_spans(tok, ["person", "hand", "cup"])
    logit = lambda p: float(np.log(p / (1 - p)))  # noqa: E731
    L = torch.full((1, 5, 256), logit(0.01))
    L[0, 0, spans[0][0]] = logit(0.9)  # a person
    L[0, 1, spans[0][0]] = logit(0.8)  # the same person again: removed by NMS
    L[0, 2, spans[2][0]] = logit(0.6)  # a cup
    L[0, 3, spans[1][0]] = logit(0.2)  # a hand below the box threshold
    L[0, 4, 0] = logit(0.95)  # high only on [CLS]: no phrase above the text threshold
    B = torch.tensor([[[0.5, 0.5, 0.5, 0.5], [0.5, 0.5, 0.5, 0.52], [0.25, 0.75, 0.1, 0.2],
                       [0.1, 0.1, 0.1, 0.1], [0.5, 0.5, 1.0, 1.0]]])
    monkeypatch.setattr(seg, "gdino", FakeGDINO(tok, L, B))
    (d,) = seg.detect(np.zeros((1, 40, 80, 3), np.uint8), ["person", "hand", "cup"])
    order = np.argsort(d.phrase)
    np.testing.assert_array_equal(d.phrase[order], [0, 2])
    np.testing.assert_allclose(d.boxes[order], [[20, 10, 60, 30], [16, 26, 24, 34]], atol=1e-4)
    np.testing.assert_allclose(d.scores[order], [0.9, 0.6], atol=1e-5)


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
    assert "hat: error: --sam-ckpt is an option of --segmenter grounded-sam, not of 'gt'\n" == capsys.readouterr().err
    assert main(["build", "--out", str(tmp_path / "b"), "--device", "cuda"]) == 2
    assert "none of the chosen backends runs on a device" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()
