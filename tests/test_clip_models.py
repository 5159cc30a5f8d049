"""CLIP video adapters against independent reference computations, on random weights in the released layouts."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import clip_refs as R
from hat.errors import HatError
from hat.models import detect_arch, load_model

pytest.importorskip("open_clip")


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HAT_CACHE_DIR", str(tmp_path / "cache"))


def close(a, b, tol=2e-4):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


# ----------------------------------------------------------------------------- plain CLIP


def test_plain_clip_matches_reference(tmp_path):
    ref = R.tiny_clip(1)
    sd = R.openai_dtypes(ref.state_dict())
    path = tmp_path / "ViT-tiny.pt"
    torch.save(sd, path)
    ref = R.as_float_model(sd, 1)
    model = load_model(str(path), classes=R.CLASSES)
    assert model.arch == "clip" and model.num_frames == 8
    clips = R.frames(2, 8, 32, 40)  # CLIP's own preprocessing: short side to 224-equivalent, centre crop
    got = model.predict(clips)
    x = R.centre_crop_normalise(clips, R.IMAGE, R.CLIP_MEAN, R.CLIP_STD)
    v = R.image_features(ref, x).mean(1)
    v = v / v.norm(dim=-1, keepdim=True)
    t = R.text_features(ref, [f"a photo of a {c.replace('_', ' ')}." for c in R.CLASSES])
    t = t / t.norm(dim=-1, keepdim=True)
    close(got, (ref.logit_scale.exp() * v @ t.T).numpy())


def test_plain_clip_from_torchscript_archive(tmp_path):
    """OpenAI's released ViT-B-16.pt files are TorchScript archives: only their state dict is read."""
    ref = R.tiny_clip(2)

    class Holder(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            for k, v in m.state_dict().items():
                self.register_buffer(k.replace(".", "__"), v.clone())

    sm = torch.jit.script(Holder(ref))
    path = tmp_path / "openai.pt"
    sm.save(str(path))
    # the archive's buffers come back under their registered names; the loader takes the state dict only
    from hat.models.base import read_checkpoint

    sd = read_checkpoint(path)
    assert set(sd) == {k.replace(".", "__") for k in ref.state_dict()}


def test_template_sets_and_overrides(tmp_path):
    ref = R.tiny_clip(3)
    path = tmp_path / "c.pt"
    torch.save(ref.state_dict(), path)
    tpl = tmp_path / "t.txt"
    tpl.write_text("a video of {}.\nsomeone doing {}\n")
    model = load_model(str(path), classes=R.CLASSES, templates=str(tpl), frames=4)
    assert model.templates == ("a video of {}.", "someone doing {}") and model.num_frames == 4
    clips = R.frames(1, 4, 32, 32)
    got = model.predict(clips)
    x = R.centre_crop_normalise(clips, R.IMAGE, R.CLIP_MEAN, R.CLIP_STD)
    v = R.image_features(ref, x).mean(1)
    v = v / v.norm(dim=-1, keepdim=True)
    names = [c.replace("_", " ") for c in R.CLASSES]
    ts = [R.text_features(ref, [t.format(c) for c in names]) for t in ("a video of {}.", "someone doing {}")]
    t = torch.stack([z / z.norm(dim=-1, keepdim=True) for z in ts]).mean(0)
    t = t / t.norm(dim=-1, keepdim=True)
    close(got, (ref.logit_scale.exp() * v @ t.T).numpy())
    tpl.write_text("a video of {}.\nno placeholder\n")
    with pytest.raises(HatError, match="exactly one"):
        load_model(str(path), classes=R.CLASSES, templates=str(tpl))
    with pytest.raises(HatError, match="not a set"):
        load_model(str(path), classes=R.CLASSES, templates="no-such-set")


def test_text_features_cached_on_disk(tmp_path, monkeypatch):
    ref = R.tiny_clip(4)
    path = tmp_path / "c.pt"
    torch.save(ref.state_dict(), path)
    cache = tmp_path / "cache" / "text"
    m1 = load_model(str(path), classes=R.CLASSES)
    files = list(cache.glob("*.npy"))
    assert len(files) == 1
    calls = []
    m2 = load_model(str(path), arch="clip")
    encode = m2.encode_text
    monkeypatch.setattr(m2, "encode_text", lambda tokens: calls.append(len(tokens)) or encode(tokens))
    m2.set_classes(R.CLASSES)  # served from the cache, the text tower never runs
    assert not calls
    torch.testing.assert_close(m1.text, m2.text)
    m2.set_classes(R.CLASSES[:2])  # a different class list is a different entry
    assert calls == [2] and len(list(cache.glob("*.npy"))) == 2
    m3 = load_model(str(path), classes=R.CLASSES, templates="plain")  # other templates, other entry
    assert len(list(cache.glob("*.npy"))) == 3 and m3.text.shape == (1, 4, R.EMBED)


def test_three_crops_and_views_are_mean_probabilities(tmp_path):
    ref = R.tiny_clip(5)
    path = tmp_path / "c.pt"
    torch.save(ref.state_dict(), path)
    m1 = load_model(str(path), classes=R.CLASSES)
    m3 = load_model(str(path), classes=R.CLASSES, crops=3)
    clips = R.frames(2, 8, 32, 48)
    probs = m3.predict(clips)
    assert m3.score_kind == "probs"
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-5)
    # the three crops of a landscape frame: left, centre, right
    crops = [clips[:, :, :, x : x + 32] for x in (0, 8, 16)]
    expect = np.mean([torch.from_numpy(m1.predict(np.ascontiguousarray(c))).softmax(-1).numpy() for c in crops], 0)
    close(probs, expect)


# ----------------------------------------------------------------------------- ActionCLIP


def actionclip_checkpoint(seed=0, frames_ctx=77):
    clip = R.tiny_clip(seed)
    torch.manual_seed(seed + 100)
    d = R.EMBED
    fusion = {"frame_position_embeddings.weight": torch.randn(frames_ctx, d) * 0.1}
    for i in range(6):
        p = f"transformer.resblocks.{i}."
        fusion.update({
            p + "attn.in_proj_weight": torch.randn(3 * d, d) * 0.1, p + "attn.in_proj_bias": torch.randn(3 * d) * 0.1,
            p + "attn.out_proj.weight": torch.randn(d, d) * 0.1, p + "attn.out_proj.bias": torch.randn(d) * 0.1,
            p + "ln_1.weight": 1 + 0.1 * torch.randn(d), p + "ln_1.bias": 0.1 * torch.randn(d),
            p + "mlp.c_fc.weight": torch.randn(4 * d, d) * 0.1, p + "mlp.c_fc.bias": torch.randn(4 * d) * 0.1,
            p + "mlp.c_proj.weight": torch.randn(d, 4 * d) * 0.1, p + "mlp.c_proj.bias": torch.randn(d) * 0.1,
            p + "ln_2.weight": 1 + 0.1 * torch.randn(d), p + "ln_2.bias": 0.1 * torch.randn(d),
        })
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=0.1, momentum=0.9)
    return {
        "epoch": 3,
        "model_state_dict": R.openai_dtypes(clip.state_dict()),
        "fusion_model_state_dict": {"module." + k: v for k, v in fusion.items()},
        "optimizer_state_dict": opt.state_dict(),
    }


def actionclip_reference(ckpt, clips, classes, seed):
    ref = R.as_float_model(ckpt["model_state_dict"], seed)
    fsd = {k[len("module."):]: v for k, v in ckpt["fusion_model_state_dict"].items()}
    x = R.centre_crop_normalise(clips, R.IMAGE, R.CLIP_MEAN, R.CLIP_STD)
    f = R.image_features(ref, x)  # [B,T,D]
    t = f.shape[1]
    h = f + fsd["frame_position_embeddings.weight"][:t]
    for i in range(6):
        h = R.residual_block(h, fsd, f"transformer.resblocks.{i}.", heads=R.WIDTH // 64, eps=1e-12)
    v = (h + f).mean(1)
    v = v / v.norm(dim=-1, keepdim=True)
    tpl = R.ACTIONCLIP_TEMPLATES
    txt = R.text_features(ref, [s.format(c.replace("_", " ")) for s in tpl for c in classes])
    txt = txt / txt.norm(dim=-1, keepdim=True)
    sim = (100.0 * v @ txt.T).view(len(clips), len(tpl), len(classes))
    return sim.softmax(-1).mean(1)


def test_actionclip_matches_reference(tmp_path):
    ckpt = actionclip_checkpoint(7)
    path = tmp_path / "actionclip_vit-tiny_8f.pt"
    torch.save(ckpt, path)
    assert detect_arch(torch.load(path, weights_only=True), str(path)) == "actionclip"
    model = load_model(str(path), classes=R.CLASSES)
    assert model.arch == "actionclip" and model.fusion_type == "Transf" and model.num_frames == 8
    clips = R.frames(3, 8)
    close(model.predict(clips), actionclip_reference(ckpt, clips, R.CLASSES, 7).numpy(), tol=1e-4)


def test_actionclip_strict_keys(tmp_path):
    ckpt = actionclip_checkpoint(8)
    del ckpt["fusion_model_state_dict"]["module.transformer.resblocks.5.ln_2.bias"]
    path = tmp_path / "a.pt"
    torch.save(ckpt, path)
    with pytest.raises(HatError, match=r"1 missing \(e.g. transformer.resblocks.5.ln_2.bias\)"):
        load_model(str(path), classes=R.CLASSES)
    ckpt = actionclip_checkpoint(8)
    ckpt["model_state_dict"]["visual.extra_prompt"] = torch.zeros(3)
    torch.save(ckpt, path)
    with pytest.raises(HatError, match="unexpected .*visual.extra_prompt"):
        load_model(str(path), classes=R.CLASSES)


# ----------------------------------------------------------------------------- Open-VCLIP


def openvclip_files(tmp_path, seed=11):
    base = R.tiny_clip(seed)
    tuned = R.tiny_clip(seed + 1)  # "fine-tuned": every weight differs from the base
    base_path = tmp_path / "ViT-tiny-base.pt"
    torch.save(R.openai_dtypes(base.state_dict()), base_path)
    ck_path = tmp_path / "swa_2_22.pth"
    torch.save({"model_state": {"model." + k: v.float() for k, v in tuned.state_dict().items()}}, ck_path)
    return base_path, ck_path


def openvclip_reference(base_path, ck_path, clips, classes, r=0.5):
    base = torch.load(base_path, weights_only=True)
    ck = {k[len("model."):]: v for k, v in torch.load(ck_path, weights_only=True)["model_state"].items()}
    mixed = {k: r * base[k].float() + (1 - r) * ck[k].float() for k in base}
    x = R.centre_crop_normalise(clips, R.IMAGE, R.CLIP_MEAN, R.CLIP_STD)
    n, t = x.shape[:2]
    h = R.vit_tokens(mixed, x.flatten(0, 1))
    for i in range(2):
        h = R.neighbour_block(h, mixed, f"visual.transformer.resblocks.{i}.", heads=R.WIDTH // 64, t=t)
    f = R.vit_head(mixed, h).view(n, t, -1)
    f = f / f.norm(dim=-1, keepdim=True)
    text_model = R.as_float_model(base)  # text features from the original CLIP
    names = [c.replace("_", " ") for c in classes]
    ts = torch.stack([R.text_features(text_model, [tp.format(c) for c in names]) for tp in R.OPENVCLIP_TEMPLATES])
    ts = ts / ts.norm(dim=-1, keepdim=True)
    tm = ts.mean(0)
    tm = tm / tm.norm(dim=-1, keepdim=True)
    return (mixed["logit_scale"].exp() * f @ tm.T).mean(1)


def test_openvclip_matches_reference(tmp_path):
    base_path, ck_path = openvclip_files(tmp_path)
    model = load_model(str(ck_path), classes=R.CLASSES, clip_weights=str(base_path))
    assert model.arch == "openvclip" and model.patch_ratio == 0.5
    s = model.sampling
    assert (s.num_frames, s.mode, s.rate, s.views) == (8, "dense", 16, 3)
    clips = R.frames(2, 8, 32, 40)
    close(model.predict(clips), openvclip_reference(base_path, ck_path, clips, R.CLASSES).numpy(), tol=2e-4)


def test_openvclip_temporal_attention_matters(tmp_path):
    """Shuffling frames changes Open-VCLIP's scores (its attention sees neighbours), unlike plain frame averaging."""
    base_path, ck_path = openvclip_files(tmp_path)
    model = load_model(str(ck_path), classes=R.CLASSES, clip_weights=str(base_path))
    clips = R.frames(1, 8, 32, 32)
    a = model.predict(clips)
    b = model.predict(clips[:, ::-1].copy())  # reversed time: same neighbours, same scores
    c = model.predict(clips[:, [0, 4, 1, 5, 2, 6, 3, 7]].copy())  # other neighbours
    close(a, b, tol=1e-4)
    assert np.abs(a - c).max() > 1e-4


def test_openvclip_needs_clip_weights(tmp_path):
    base_path, ck_path = openvclip_files(tmp_path)
    with pytest.raises(HatError, match="--clip-weights is required: Open-VCLIP's test code mixes"):
        load_model(str(ck_path), classes=R.CLASSES)
    other = R.tiny_clip(3)
    sd = other.state_dict()
    sd["visual.proj"] = torch.zeros(R.WIDTH, 16)
    torch.save(sd, tmp_path / "wrong.pt")
    with pytest.raises(HatError, match="another CLIP architecture"):
        load_model(str(ck_path), classes=R.CLASSES, clip_weights=str(tmp_path / "wrong.pt"))


# ----------------------------------------------------------------------------- sampling and the CLI


def test_sampling_protocols_by_hand():
    from hat.models.base import Sampling

    # TSN test mode: the middle of each of 4 segments of 40 frames
    assert Sampling(4).source_indices(40).tolist() == [[5, 15, 25, 35]]
    # two views: offsets at 1/4 and 3/4 of each segment
    assert Sampling(4, views=2).source_indices(40).tolist() == [[2, 12, 22, 32], [7, 17, 27, 37]]
    # dense: 4 frames spanning 4·4 = 16 frames; view v of 3 starts at v/3 of the slack (300 - 16)
    d = Sampling(4, "dense", rate=4, views=3).source_indices(300)
    assert d[:, 0].tolist() == [0, 94, 189] and (np.diff(d, axis=1) == 5).all()
    # at 60 fps a rate counted at 30 fps spans twice as many source frames
    assert Sampling(2, "dense", rate=8, target_fps=30).source_indices(300, fps=60).tolist() == [[0, 31]]
    # a video shorter than the span: clamped to its last frame
    assert Sampling(4, "dense", rate=16).source_indices(20).max() == 19
    with pytest.raises(HatError, match="unknown sampling 'sparse'"):
        Sampling(4, "sparse")


def test_frame_sampler_maps_to_stored_frames():
    from hat.evaluate import FrameSampler
    from hat.models.base import Sampling

    stored = np.array([5, 15, 25, 35])  # a benchmark built with 4 segment frames of a 40-frame video
    same = FrameSampler(Sampling(4))
    assert same.positions(stored, 40).tolist() == [[0, 1, 2, 3]] and same.report()["mean_frame_shift"] == 0
    dense = FrameSampler(Sampling(2, "dense", rate=10))
    assert dense.positions(stored, 40).tolist() == [[0, 1]]  # wants frames 0 and 19: nearest stored 5 and 15
    assert dense.report()["mean_frame_shift"] == 4.5


def test_clip_model_end_to_end_through_cli(tiny_bench, tmp_path):
    from hat.cli import main

    ckpt = actionclip_checkpoint(21)
    path = tmp_path / "actionclip-tiny.pt"
    torch.save(ckpt, path)
    out = tmp_path / "run"
    args = ["eval", "--model", path, "--bench", tiny_bench, "--out", out, "--frames", "4", "--batch-size", "8",
            "--sets", "original,human_only,background_only,swap_random", "-M", "views=2"]
    assert main([str(a) for a in args]) == 0
    import json

    import pandas as pd

    res = json.loads((out / "results.json").read_text())
    assert res["model"]["arch"] == "actionclip" and res["model"]["num_frames"] == 4
    assert res["eval"]["sampling"]["views"] == 2 and res["eval"]["sampling"]["num_frames"] == 4
    assert res["metrics"]["oacc"] is not None and res["metrics"]["shacc_random"] is not None
    pred = pd.read_parquet(out / "predictions.parquet")
    probs = pred[[c for c in pred.columns if c.startswith("score_")]].to_numpy()
    assert (probs > 0).all() and (probs.sum(1) <= 1 + 1e-6).all()  # mean probabilities over 16 templates and 2 views
    board = tmp_path / "board.csv"
    assert main(["leaderboard", str(out), "-o", str(board)]) == 0
    row = pd.read_csv(board).iloc[0]
    assert row["model"] == "actionclip-tiny" and row["arch"] == "actionclip"
    assert row["protocol"].startswith("4f segment x2 views x1 crops, 16 templates")
    # the same weights under another protocol are another row; the same protocol again replaces its row
    out2 = tmp_path / "run2"
    assert main([str(a) for a in ["eval", "--model", path, "--bench", tiny_bench, "--out", out2, "--sets", "original",
                                  "--templates", "a video of {}."]]) == 0
    md = tmp_path / "board.md"
    assert main(["leaderboard", str(out), str(out2), str(out), "-o", str(board), "--markdown", str(md)]) == 0
    main_table = md.read_text().split("\n\n")[0]  # (the in-/out-of-context table below repeats the rows)
    assert main_table.count("| actionclip-tiny (") == 2  # the two rows say which protocol they are
    rows = pd.read_csv(board)
    assert len(rows) == 2
    assert {p.split(", ")[1].split(" (")[0] for p in rows["protocol"]} == {"1 templates", "16 templates"}


def test_cli_errors_are_one_line(tiny_bench, tmp_path, capsys):
    from hat.cli import main

    bad = tmp_path / "bad.pt"
    torch.save({"weights": {"encoder.0.weight": torch.zeros(2)}, "model_state_dict": {"visual.proj": torch.zeros(2)}}, bad)
    assert main(["eval", "--model", str(bad), "--bench", str(tiny_bench)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "layout not recognised" in err and "closest: actionclip" in err
    base_path, ck_path = openvclip_files(tmp_path)
    assert main(["eval", "--model", str(ck_path), "--bench", str(tiny_bench)]) == 2
    assert "--clip-weights is required" in capsys.readouterr().err
    assert main(["eval", "--model", str(ck_path), "--bench", str(tiny_bench), "--clip-weights", str(base_path),
                 "-M", "sampling=sparse"]) == 2
    assert "unknown sampling 'sparse' (valid: segment, dense)" in capsys.readouterr().err
    assert main(["eval", "--model", str(ck_path), "--bench", str(tiny_bench), "--clip-weights", str(base_path),
                 "-M", "colour=red"]) == 2
    assert "colour" in capsys.readouterr().err


# ----------------------------------------------------------------------------- ViFi-CLIP


def save_with_yacs_config(obj: dict, frames: int, path, ctx_init: str = "a photo of a") -> None:
    """torch.save ``obj`` plus a config pickled as yacs pickles one (a dict subclass 'yacs.config.CfgNode'
    with flags in its __dict__). The class exists only while saving: loading must not need it."""
    import sys
    import types

    class CfgNode(dict):
        def __init__(self, d=None):
            super().__init__({k: CfgNode(v) if isinstance(v, dict) else v for k, v in (d or {}).items()})
            self.__dict__.update({"__immutable__": True, "__deprecated_keys__": set(), "__renamed_keys__": {},
                                  "__new_allowed__": False})

    CfgNode.__module__, CfgNode.__qualname__ = "yacs.config", "CfgNode"
    mod, pkg = types.ModuleType("yacs.config"), types.ModuleType("yacs")
    mod.CfgNode, pkg.config = CfgNode, mod
    cfg = CfgNode({
        "DATA": {"NUM_FRAMES": frames, "INPUT_SIZE": 224, "DATASET": "kinetics400", "LABEL_LIST": "labels/kinetics_400_labels.csv"},
        "MODEL": {"ARCH": "ViT-B/16"}, "TEST": {"NUM_CLIP": 1, "NUM_CROP": 1, "ONLY_TEST": True},
        "TRAINER": {"ViFi_CLIP": {"PROMPT_MODEL": False, "N_CTX_VISION": 0, "N_CTX_TEXT": 0, "USE": "both",
                                  "CTX_INIT": ctx_init, "ZS_EVAL": False}},
    })
    saved = {k: sys.modules.get(k) for k in ("yacs", "yacs.config")}
    sys.modules.update({"yacs": pkg, "yacs.config": mod})
    try:
        torch.save({**obj, "config": cfg}, path)
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v


def vificlip_files(tmp_path, seed=31, frames=6):
    base = R.tiny_clip(seed)
    tuned = R.tiny_clip(seed + 1)
    base_path = tmp_path / "ViT-tiny-base.pt"
    torch.save(R.openai_dtypes(base.state_dict()), base_path)
    sd = {}
    for k, v in tuned.state_dict().items():
        if k.startswith("visual."):
            sd["module.image_encoder." + k[len("visual."):]] = v
        elif k == "token_embedding.weight":
            continue  # not saved by ViFi-CLIP
        elif k == "logit_scale":
            sd["module.logit_scale"] = v
        else:
            sd["module.text_encoder." + k] = v
    sd["module.prompt_learner.complete_text_embeddings"] = torch.randn(400, 77, R.WIDTH)
    ck_path = tmp_path / "vifi_clip_10_epochs_k400_full_finetuned.pth"
    save_with_yacs_config({"model": sd, "optimizer": {"state": {}, "param_groups": [{"lr": 0.1, "params": [0]}]},
                           "lr_scheduler": {"last_epoch": 9}, "max_accuracy": 71.2, "epoch": 9}, frames, ck_path,
                          ctx_init="a video of a")
    return base_path, ck_path, tuned


def test_vificlip_matches_reference(tmp_path):
    import sys

    base_path, ck_path, tuned = vificlip_files(tmp_path)
    assert "yacs" not in sys.modules  # the loader must not need (or import) yacs
    model = load_model(str(ck_path), classes=R.CLASSES, clip_weights=str(base_path))
    assert model.arch == "vificlip" and model.num_frames == 6  # from the pickled config
    clips = R.frames(2, 6)
    ref = R.tiny_clip(0)
    base = torch.load(base_path, weights_only=True)
    sd = dict(tuned.state_dict())
    sd["token_embedding.weight"] = base["token_embedding.weight"].float()
    ref.load_state_dict(sd)
    x = R.centre_crop_normalise(clips, R.IMAGE, R.IMAGENET_MEAN, R.IMAGENET_STD)
    v = R.image_features(ref, x).mean(1)
    v = v / v.norm(dim=-1, keepdim=True)
    t = R.text_features(ref, [f"a video of a {c.replace('_', ' ')}." for c in R.CLASSES])  # the config's CTX_INIT
    t = t / t.norm(dim=-1, keepdim=True)
    assert model.templates == ("a video of a {}.",)
    close(model.predict(clips), (ref.logit_scale.exp() * v @ t.T).numpy())


def test_vificlip_refusals(tmp_path):
    base_path, ck_path, _ = vificlip_files(tmp_path)
    with pytest.raises(HatError, match="--clip-weights is required: ViFi-CLIP checkpoints do not store the token embedding"):
        load_model(str(ck_path), classes=R.CLASSES)
    from hat.models.base import read_checkpoint

    ck = read_checkpoint(ck_path)
    ck["model"]["module.prompt_learner.ctx"] = torch.zeros(4, R.WIDTH)
    torch.save(ck, tmp_path / "vpt.pth")
    with pytest.raises(HatError, match="prompt-tuned"):
        load_model(str(tmp_path / "vpt.pth"), classes=R.CLASSES, clip_weights=str(base_path))


# ----------------------------------------------------------------------------- X-CLIP


def save_xclip_original(tmp_path, seed=41, frames=4):
    sd = R.xclip_original_state_dict(seed, frames=frames)
    path = tmp_path / f"k400_{frames}_tiny.pth"
    save_with_yacs_config({"model": sd, "epoch": 29, "max_accuracy": 80.4}, frames, path)
    return path, sd


def test_xclip_original_matches_reference(tmp_path):
    pytest.importorskip("transformers")
    path, sd = save_xclip_original(tmp_path)
    model = load_model(str(path), classes=R.CLASSES)
    assert model.arch == "xclip" and model.layout == "original" and model.num_frames == 4
    clips = R.frames(3, 4)
    x = R.centre_crop_normalise(clips, R.IMAGE, R.IMAGENET_MEAN, R.IMAGENET_STD)
    ref_clip = R.tiny_clip(41, embed=R.XCLIP_EMBED)  # the same text weights, through open_clip's text tower
    text = R.text_features(ref_clip, [c.replace("_", " ") for c in R.CLASSES])
    ref = R.xclip_reference({k: v.float() for k, v in sd.items()}, x, text)
    close(model.predict(clips), ref.numpy(), tol=2e-4)
    with pytest.raises(HatError, match="built for 4 frames"):
        load_model(str(path), classes=R.CLASSES, frames=8)


def test_xclip_huggingface_directory(tmp_path):
    """The same weights saved as transformers saves them load from the directory and give the same scores."""
    pytest.importorskip("transformers")
    import json

    from transformers import XCLIPModel

    from hat.models.xclip import XCLIP as Adapter

    path, sd = save_xclip_original(tmp_path, seed=43)
    orig = load_model(str(path), classes=R.CLASSES)
    assert isinstance(orig, Adapter)
    hf_dir = tmp_path / "xclip-tiny-hf"
    net = XCLIPModel(orig.net.config)
    net.load_state_dict(orig.net.state_dict())
    net.save_pretrained(hf_dir)  # config.json + model.safetensors, as on the hub
    (hf_dir / "preprocessor_config.json").write_text(json.dumps({
        "do_resize": True, "size": {"shortest_edge": 36}, "crop_size": {"height": 32, "width": 32},
        "do_rescale": True, "rescale_factor": 1 / 255, "image_mean": [0.485, 0.456, 0.406],
        "image_std": [0.229, 0.224, 0.225], "image_processor_type": "VideoMAEImageProcessor"}))
    hf = load_model(str(hf_dir), classes=R.CLASSES)
    assert hf.layout == "huggingface" and hf.num_frames == 4
    clips = R.frames(2, 4)
    close(hf.predict(clips), orig.predict(clips), tol=1e-5)
    # and a full forward of transformers' own model on the same pixels gives the same logits
    import open_clip

    x = R.centre_crop_normalise(clips, R.IMAGE, R.IMAGENET_MEAN, R.IMAGENET_STD)
    ids = open_clip.tokenize([c.replace("_", " ") for c in R.CLASSES])
    with torch.no_grad():
        full = net.eval()(input_ids=ids, attention_mask=(ids != 0).long(), pixel_values=x).logits_per_video
    close(hf.predict(clips), full.numpy(), tol=2e-4)
    (hf_dir / "model.safetensors").unlink()
    with pytest.raises(HatError, match="no model.safetensors or pytorch_model.bin"):
        load_model(str(hf_dir), classes=R.CLASSES)


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_half_precision_close_to_fp32(tmp_path, precision):
    base_path, ck_path = openvclip_files(tmp_path)
    clips = R.frames(2, 8, 32, 32)
    full = load_model(str(ck_path), classes=R.CLASSES, clip_weights=str(base_path)).predict(clips)
    half = load_model(str(ck_path), classes=R.CLASSES, clip_weights=str(base_path), precision=precision)
    assert half.describe()["precision"] == precision and next(half.net.parameters()).dtype != torch.float32
    got = half.predict(clips)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, full, atol=0.05 * np.abs(full).max())


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA device")
def test_cuda_without_a_gpu_is_refused(tmp_path):
    ref = R.tiny_clip(6)
    torch.save(ref.state_dict(), tmp_path / "c.pt")
    with pytest.raises(HatError, match="no CUDA device is available"):
        load_model(str(tmp_path / "c.pt"), classes=R.CLASSES, device="cuda")
    with pytest.raises(HatError, match="unknown device 'gpu0'"):
        load_model(str(tmp_path / "c.pt"), classes=R.CLASSES, device="gpu0")


@pytest.mark.parametrize("arch", ["vificlip", "openvclip", "xclip"])
def test_every_used_key_is_required(tmp_path, arch):
    """Dropping any one weight the format uses is an error that names it, never a silent random init."""
    from hat.models.base import read_checkpoint

    opts = {}
    if arch == "vificlip":
        base_path, path, _ = vificlip_files(tmp_path)
        opts["clip_weights"] = str(base_path)
        ck = read_checkpoint(path)
        victim = "module.text_encoder.transformer.resblocks.1.mlp.c_fc.bias"
        del ck["model"][victim]
    elif arch == "openvclip":
        base_path, path = openvclip_files(tmp_path)
        opts["clip_weights"] = str(base_path)
        ck = read_checkpoint(path)
        victim = "model.visual.transformer.resblocks.0.attn.in_proj_bias"
        del ck["model_state"][victim]
    else:
        pytest.importorskip("transformers")
        path, _ = save_xclip_original(tmp_path)
        ck = read_checkpoint(path)
        victim = "prompts_generator.decoder.1.norm3.bias"
        del ck["model"][victim]
    torch.save(ck, tmp_path / "broken.pth")
    with pytest.raises(HatError, match=r"missing|lacks") as e:
        load_model(str(tmp_path / "broken.pth"), classes=R.CLASSES, **opts)
    assert victim.split(".")[-2] in str(e.value)


def test_class_names_file_and_ssv2_placeholders(tmp_path):
    from hat.models.clip_common import prompt_name

    assert prompt_name("Putting [something] onto [something]") == "Putting something onto something"
    assert prompt_name("passing_American_football_(in_game)") == "passing American football (in game)"
    ref = R.tiny_clip(9)
    torch.save(ref.state_dict(), tmp_path / "c.pt")
    names = tmp_path / "names.txt"
    names.write_text("rappelling\nshooting arrows\nbackbend\nchin-ups\n")
    model = load_model(str(tmp_path / "c.pt"), classes=R.CLASSES, class_names=str(names))
    t = R.text_features(ref, [f"a photo of a {c}." for c in names.read_text().split("\n") if c])
    t = t / t.norm(dim=-1, keepdim=True)
    close(model.text[0] / model.text[0].norm(dim=-1, keepdim=True), t, tol=1e-5)
    assert model.describe()["class_names"] == str(names)
    names.write_text("only one\n")
    with pytest.raises(HatError, match="1 class names, the benchmark has 4 classes"):
        load_model(str(tmp_path / "c.pt"), classes=R.CLASSES, class_names=str(names))
