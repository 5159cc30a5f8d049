"""Random-weight GroundingDINO and SAM checkpoints in the official layouts, for tests and benchmarks.

``size="tiny"``: a 1-layer BERT, 1 encoder/decoder layer and 20 queries around the real Swin-T
backbone, and a SAM whose image encoder has 2 blocks of width 32 (built by segment-anything's own
builder). ``size="real"``: the released Swin-T OGC config with a BERT-base-sized encoder, and SAM
vit_b, so timings match the real models. Weights are random: only shapes, key names and the code
path are real.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import torch

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", "?", "a", "the", "person", "hand", "cup", "ball", "box",
         "of", "paper", "##s"]


def make_bert(folder: Path, size: str = "tiny") -> Path:
    from transformers import BertConfig, BertModel, BertTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    BertTokenizer(str(folder / "vocab.txt")).save_pretrained(str(folder))
    if size == "tiny":
        cfg = BertConfig(vocab_size=len(VOCAB), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=64)
    else:  # bert-base-uncased's shape with our small vocabulary
        cfg = BertConfig(vocab_size=len(VOCAB))
    torch.manual_seed(0)
    BertModel(cfg).save_pretrained(str(folder))
    return folder


def make_gdino(folder: Path, size: str = "tiny") -> dict[str, Path]:
    """Config, checkpoint ({"model": state_dict}, as released) and local text encoder."""
    from groundingdino.models import build_model
    from groundingdino.util.slconfig import SLConfig

    from hat.segmenters.grounded_sam import default_gdino_config

    folder.mkdir(parents=True, exist_ok=True)
    bert = make_bert(folder / "bert", size)
    text = default_gdino_config().read_text()
    if size == "tiny":
        for a, b in (("enc_layers = 6", "enc_layers = 1"), ("dec_layers = 6", "dec_layers = 1"),
                     ("num_queries = 900", "num_queries = 20"), ("dim_feedforward = 2048", "dim_feedforward = 64")):
            assert a in text, a
            text = text.replace(a, b)
    cfg = folder / f"gdino_{size}.py"
    cfg.write_text(text)
    args = SLConfig.fromfile(str(cfg))
    args.text_encoder_type = str(bert)
    args.use_checkpoint = args.use_transformer_ckpt = False
    torch.manual_seed(0)
    model = build_model(args)
    ckpt = folder / f"gdino_{size}.pth"
    torch.save({"model": {f"module.{k}": v for k, v in model.state_dict().items()}}, ckpt)
    return {"config": cfg, "ckpt": ckpt, "bert": bert}


def make_sam(path: Path, size: str = "tiny") -> Path:
    builder = importlib.import_module("segment_anything.build_sam")
    torch.manual_seed(0)
    if size == "tiny":
        sam = builder._build_sam(encoder_embed_dim=32, encoder_depth=2, encoder_num_heads=2,
                                 encoder_global_attn_indexes=[1], checkpoint=None)
    else:
        sam = builder.build_sam_vit_b(checkpoint=None)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(sam.state_dict(), path)
    return path


def make_grounded_sam(folder: Path, size: str = "tiny") -> dict[str, str]:
    """Segmenter options for ``--segmenter grounded-sam`` pointing at fresh random checkpoints."""
    g = make_gdino(folder / "gdino", size)
    sam = make_sam(folder / f"sam_{size}.pth", size)
    return {"gdino_config": str(g["config"]), "gdino_ckpt": str(g["ckpt"]), "gdino_text_encoder": str(g["bert"]),
            "sam_ckpt": str(sam)}
