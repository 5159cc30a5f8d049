"""E2FGVI: the in-package network against the official layout and outputs, checkpoint loading, the
windowed loop (sparse targets = whole-video run, bounded buffers) and a build that uses it."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from hat.cli import main
from hat.errors import HatError
from hat.inpainters import INPAINTERS
from hat.inpainters.e2fgvi import (
    load_e2fgvi, mirror_pad, nearest_refs, needed_frames, plan_windows, reference_frames,
)
from hat.inpainters.e2fgvi_net import E2FGVIArch, InpaintGenerator
from hat.masks import dilate
from hat.pipeline import build, make_context, stage_frames
from hat.store import read_npz
from hat.video import segment_indices

from conftest import TINY as TINY_SOURCE
from conftest import tiny_config
from e2fgvi_fixtures import REF_FILE, TINY, official_keys, reference_input, seeded_state_dict


def tiny_net(hq=True, seed=0):
    torch.manual_seed(seed)
    return InpaintGenerator(E2FGVIArch(hq=hq, **TINY)).eval()


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory):
    path = tmp_path_factory.mktemp("e2fgvi") / "tiny-hq.pth"
    torch.save(tiny_net().state_dict(), path)
    return path


def moving_person(t=30, h=48, w=64, seed=0):
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 255, (t, h, w, 3), dtype=np.uint8)
    masks = np.zeros((t, h, w), bool)
    for i in range(t):
        x = 4 + (i * 2) % (w - 20)
        masks[i, 10:34, x:x + 12] = True
    return frames, masks


# ----------------------------------------------------------------------------- the network


@pytest.mark.parametrize("variant,hq", [("e2fgvi_hq", True), ("e2fgvi", False)])
def test_state_dict_has_the_official_names_shapes_and_dtypes(variant, hq):
    with torch.device("meta"):
        ours = InpaintGenerator(E2FGVIArch(hq=hq)).state_dict()
    want = official_keys(variant)
    assert list(ours) == list(want), "same names in the same order"
    for k, (shape, dtype) in want.items():
        assert list(ours[k].shape) == shape and str(ours[k].dtype) == f"torch.{dtype}", k


@pytest.mark.parametrize("variant,hq", [("e2fgvi_hq", True), pytest.param("e2fgvi", False, marks=pytest.mark.slow)])
def test_outputs_match_the_official_network(variant, hq):
    """Released sizes, seeded weights: the official code's outputs (recorded once) are reproduced."""
    ref = json.loads(REF_FILE.read_text())[variant]
    net = InpaintGenerator(E2FGVIArch(hq=hq)).eval()
    template = {k: net.state_dict()[k] for k in official_keys(variant)}
    net.load_state_dict(seeded_state_dict(template), strict=True)
    x = reference_input(tuple(ref["shape"]))
    with torch.inference_mode():
        y = net(x, ref["n_local"])
    pooled = F.avg_pool2d(y, ref["pool"]).flatten().numpy()
    assert y.std().item() == pytest.approx(ref["std"], rel=1e-4)
    np.testing.assert_allclose(pooled, np.asarray(ref["pooled"]), atol=2e-5)


def test_valid_ind_rolled_is_the_released_buffer():
    att = tiny_net().transformer[0].attn
    assert att.valid_ind_rolled.shape == (120,)  # 4 rolled windows of 45 minus the 15 already in the window
    assert att.valid_ind_rolled[:5].tolist() == [5, 6, 7, 8, 14]


def test_size_checks():
    with pytest.raises(ValueError, match="multiples of"):
        tiny_net()(torch.zeros(1, 3, 3, 64, 108), 2)
    with pytest.raises(ValueError, match="240 x 432"):
        tiny_net(hq=False)(torch.zeros(1, 3, 3, 120, 216), 2)


def test_mirror_pad_is_symmetric_padding():
    x = torch.arange(2 * 5 * 7, dtype=torch.float32).view(1, 2, 5, 7)
    got = mirror_pad(x, 12, 20).numpy()
    want = np.pad(x.numpy(), ((0, 0), (0, 0), (0, 7), (0, 13)), mode="symmetric")
    np.testing.assert_array_equal(got, want)


# ----------------------------------------------------------------------------- checkpoints


def test_checkpoint_loads_strictly_and_gives_the_same_outputs(tiny_ckpt):
    net = load_e2fgvi(str(tiny_ckpt))
    assert net.arch == E2FGVIArch(hq=True, **TINY)
    x = reference_input((1, 4, 3, 60, 108))
    with torch.inference_mode():
        np.testing.assert_allclose(net(x, 3).numpy(), tiny_net()(x, 3).numpy(), atol=1e-6)  # CPU sums may reorder


def test_bad_checkpoints_give_one_line_errors(tmp_path, tiny_ckpt):
    sd = torch.load(tiny_ckpt, weights_only=True)
    broken = dict(sd)
    broken.pop("feat_prop_module.fusion.weight")
    torch.save(broken, tmp_path / "missing.pth")
    with pytest.raises(HatError, match=r"1 missing \(e.g. feat_prop_module.fusion.weight\)"):
        load_e2fgvi(str(tmp_path / "missing.pth"))
    torch.save({**sd, "extra.weight": torch.zeros(1)}, tmp_path / "extra.pth")
    with pytest.raises(HatError, match=r"1 unexpected \(e.g. extra.weight\)"):
        load_e2fgvi(str(tmp_path / "extra.pth"))
    torch.save({**sd, "sc.bias_conv.bias": torch.zeros(3)}, tmp_path / "shape.pth")
    with pytest.raises(HatError, match=r"1 of another shape \(e.g. sc.bias_conv.bias: \(3,\), expected \(16,\)\)"):
        load_e2fgvi(str(tmp_path / "shape.pth"))
    torch.save({"conv.weight": torch.zeros(2)}, tmp_path / "disc.pth")
    with pytest.raises(HatError, match="not an E2FGVI generator"):
        load_e2fgvi(str(tmp_path / "disc.pth"))
    (tmp_path / "junk.pth").write_bytes(b"not a torch file")
    with pytest.raises(HatError, match="a text file .*, not a E2FGVI checkpoint"):
        load_e2fgvi(str(tmp_path / "junk.pth"))
    with pytest.raises(HatError, match="checkpoint not found"):
        load_e2fgvi(str(tmp_path / "nope.pth"))
    with pytest.raises(HatError, match="is the HQ network, not variant 'e2fgvi'"):
        load_e2fgvi(str(tiny_ckpt), variant="e2fgvi")
    with pytest.raises(HatError, match="needs weights: give --e2fgvi-ckpt"):
        INPAINTERS.create("e2fgvi")
    with pytest.raises(HatError, match="fp16 needs a CUDA device"):
        INPAINTERS.create("e2fgvi", ckpt=str(tiny_ckpt), precision="fp16")
    with pytest.raises(HatError, match="valid: original, centred"):
        INPAINTERS.create("e2fgvi", ckpt=str(tiny_ckpt), windows="all")


def test_checkpoint_with_code_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("ran",))

    torch.save({"x": Evil()}, tmp_path / "evil.pth")
    with pytest.raises(HatError, match="cannot read"):
        load_e2fgvi(str(tmp_path / "evil.pth"))


# ----------------------------------------------------------------------------- windows


def test_reference_frames_follow_the_original():
    assert reference_frames(0, range(0, 6), 40, 10, -1) == [10, 20, 30]
    assert reference_frames(20, range(15, 26), 40, 10, -1) == [0, 10, 30]
    # bounded: every 10th frame within f +- 10 * (num_ref // 2), up to num_ref + 1 of them (the original's test)
    assert reference_frames(50, range(45, 56), 200, 10, 4) == [30, 40, 60, 70]
    assert reference_frames(55, range(50, 61), 200, 10, 2) == [45, 65]
    assert reference_frames(195, range(190, 200), 200, 10, 2) == [185]  # never past the last frame


def test_plan_windows_covers_targets_like_the_whole_video_loop():
    wins = plan_windows([7, 31], 40, stride=5, ref_length=10, num_ref=2, mode="original")
    assert [w.centre for w in wins] == [5, 10, 30, 35]  # the official loop's windows that contain 7 or 31
    assert wins[0].local == tuple(range(0, 11)) and wins[0].refs == ()  # 0 and 10 are local already
    assert wins[2].refs == (20,)  # 40 would be past the end
    assert all(any(t in w.local for t in (7, 31)) for w in wins)
    cen = plan_windows([7, 31], 40, stride=5, ref_length=10, num_ref=2, mode="centred")
    assert [w.centre for w in cen] == [7, 31] and cen[0].local == tuple(range(2, 13))
    assert set(needed_frames(cen)) >= set(range(2, 13)) | set(range(26, 37))
    with pytest.raises(HatError, match="valid: original, centred"):
        plan_windows([1], 10, mode="dense")


def test_reference_cap_keeps_the_nearest_and_spares_kinetics_lengths():
    assert nearest_refs([0, 10, 20, 30, 40], 24, 2) == [20, 30]
    assert nearest_refs([0, 10, 20], 15, 1) == [10]  # ties: the earlier
    assert nearest_refs([0, 10, 20], 15, 0) == [0, 10, 20]
    targets = segment_indices(300, 16)  # a 10 s clip at 30 fps: the cap changes nothing
    assert plan_windows(targets, 300) == plan_windows(targets, 300, max_ref=0)
    long = plan_windows([5000], 10_000)
    assert all(len(w.refs) == 30 and max(abs(r - w.centre) for r in w.refs) <= 160 for w in long)


@pytest.mark.parametrize("num_ref", [-1, 20])
def test_needed_frames_do_not_grow_with_video_length(num_ref):
    counts = []
    for n in (20_000, 200_000):  # once targets are further apart than the reference span
        targets = np.linspace(0, n - 1, 16).round().astype(int)
        counts.append(len(needed_frames(plan_windows(targets, n, num_ref=num_ref))))
    assert counts[0] == counts[1]


def test_inpaint_keeps_pixels_outside_the_dilated_mask():
    frames, masks = moving_person()
    inp = INPAINTERS.create("e2fgvi", model=tiny_net(), num_ref=2)
    targets = np.array([0, 9, 29])
    out = inp.inpaint(frames, masks, targets)
    assert out.shape == (3, 48, 64, 3) and out.dtype == np.uint8
    holes = dilate(masks, 4)
    for k, t in enumerate(targets):
        assert np.array_equal(out[k][~holes[t]], frames[t][~holes[t]])
        assert not np.array_equal(out[k][holes[t]], frames[t][holes[t]]), "the hole is filled by the network"
    assert (holes.sum() > masks.sum())


@pytest.mark.slow
def test_sparse_targets_equal_the_whole_video_stream():
    """Only the windows that cover the targets run, and the targets come out as in a full run."""
    frames, masks = moving_person(t=40)
    inp = INPAINTERS.create("e2fgvi", model=tiny_net(), num_ref=2)
    targets = [3, 17, 39]
    keep = needed_frames(plan_windows(targets, 40, num_ref=2))
    assert len(keep) < 40
    sparse = inp.inpaint(frames[keep], masks[keep], np.searchsorted(keep, targets), src_index=keep, n_frames=40)
    sparse_runs = inp.windows_run
    full = list(inp.stream(iter(frames), iter(masks), 40))
    assert len(full) == 40 and inp.windows_run - sparse_runs == 8  # centres 0, 5, ..., 35
    for k, t in enumerate(targets):
        assert np.array_equal(sparse[k], full[t]), t
    with pytest.raises(HatError, match="needs source frame 0"):
        inp.inpaint(frames[keep[1:]], masks[keep[1:]], [2], src_index=keep[1:], n_frames=40)


@pytest.mark.slow
def test_stream_memory_is_flat_in_video_length():
    """Frames held and Python-side memory (numpy buffers, outputs, blends) do not grow with the video."""
    import tracemalloc

    peaks, traced = [], []
    for t in (30, 90):
        frames, masks = moving_person(t=t, h=24, w=32)
        inp = INPAINTERS.create("e2fgvi", model=tiny_net(), max_ref=2, neighbor_stride=3)
        tracemalloc.start()
        n_out = sum(1 for _ in inp.stream(iter(frames), iter(masks), t))
        traced.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        assert n_out == t
        peaks.append(inp.peak_buffer)
    assert peaks[0] == peaks[1] <= 2 * 3 + 1 + 2 * 20
    assert traced[1] < 1.25 * traced[0], traced  # holding every frame would add ~180 KB here
    with pytest.raises(HatError, match="stream needs bounded references"):
        next(INPAINTERS.create("e2fgvi", model=tiny_net(), max_ref=0).stream(iter(frames), iter(masks), t))


@pytest.mark.slow
def test_non_hq_network_works_at_other_sizes():
    frames, masks = moving_person(t=8, h=36, w=48)
    out = INPAINTERS.create("e2fgvi", model=tiny_net(hq=False), num_ref=1, neighbor_stride=2).inpaint(frames, masks, [4])
    holes = dilate(masks, 4)[4]
    assert out.shape == (1, 36, 48, 3) and np.array_equal(out[0][~holes], frames[4][~holes])


# ----------------------------------------------------------------------------- in a build


def _cfg(inpainter, **opts):
    return tiny_config(
        source_options={"num_frames": 40}, num_frames=4, context_frames=4, inpainter=inpainter, inpainter_options=opts,
        repeats=1,
    )


def rec_of(out, vid):
    from hat.sources import create_source

    src = create_source("synthetic", **{**TINY_SOURCE, "num_frames": 40})
    return next(r for r in src.records("val") if r.video_id == vid)


@pytest.mark.slow
def test_build_decodes_and_segments_the_context_apart(tmp_path, tiny_ckpt):
    out = tmp_path / "e2"
    s = build(_cfg("e2fgvi", ckpt=str(tiny_ckpt), neighbor_stride=2, num_ref=1, windows="centred"), out)
    assert s.complete
    ref = tmp_path / "prop"
    build(_cfg("propagate"), ref)
    vid = pd.read_csv(out / "manifest.csv")["video_id"][0]
    fr = stage_frames(make_context(_cfg("e2fgvi", ckpt=str(tiny_ckpt), neighbor_stride=2, num_ref=1,
                                        windows="centred"), out), rec_of(out, vid))
    fr0 = read_npz(ref / "artifacts" / "frames" / f"{vid}.npz")
    assert "ctx_frames" not in fr0 and np.array_equal(fr["frames"], fr0["frames"])
    assert len(fr["ctx_index"]) == len(fr["ctx_frames"]) > 0 and not set(fr["ctx_index"]) & set(fr["src_index"])
    assert np.array_equal(read_npz(out / "artifacts" / "frames" / f"{vid}.npz")["ctx_index"], fr["ctx_index"])
    seg = json.loads((out / "artifacts" / "segment" / f"{vid}.json").read_text())
    assert seg["context"]["index"] == fr["ctx_index"].tolist() and len(seg["context"]["rle"]) == len(fr["ctx_index"])
    # the neighbours of every evaluation frame are there
    src = set(fr["src_index"]) | set(fr["ctx_index"])
    for e in fr["src_index"][fr["eval_pos"]]:
        assert {i for i in range(e - 2, e + 3) if 0 <= i < 40} <= src
    # scene and mask statistics do not depend on the inpainter's extra frames
    a, b = pd.read_csv(out / "manifest.csv"), pd.read_csv(ref / "manifest.csv")
    pd.testing.assert_frame_equal(a, b)
    assert (out / "mask_quality.csv").read_bytes() == (ref / "mask_quality.csv").read_bytes()
    bg = read_npz(out / "artifacts" / "inpaint" / f"{vid}.npz")["bg"]
    assert bg.shape == fr["frames"][fr["eval_pos"]].shape
    # the inpainter-only pixels are never written (their indices are)
    assert "ctx_frames" not in read_npz(out / "artifacts" / "frames" / f"{vid}.npz")
    # resume: nothing is redone
    cfg = _cfg("e2fgvi", ckpt=str(tiny_ckpt), neighbor_stride=2, num_ref=1, windows="centred")
    again = build(cfg, out)
    assert sum(again.stage_done.values()) == 0
    # a video resumed before its Background-Only decodes those frames again and gives the same pixels
    (out / "artifacts" / "inpaint" / f"{vid}.npz").unlink()
    redo = build(cfg, out)
    assert redo.stage_done == {"frames": 1, "inpaint": 1}
    assert np.array_equal(read_npz(out / "artifacts" / "inpaint" / f"{vid}.npz")["bg"], bg)
    for stage, ext in (("segment", "json"), ("inpaint", "npz")):  # stopped right after the frames stage
        (out / "artifacts" / stage / f"{vid}.{ext}").unlink()
    redo = build(cfg, out)
    assert redo.stage_done == {"frames": 1, "segment": 1, "inpaint": 1}
    assert np.array_equal(read_npz(out / "artifacts" / "inpaint" / f"{vid}.npz")["bg"], bg)


def test_cli_e2fgvi_flags(tmp_path, tiny_ckpt, capsys):
    assert main(["build", "--out", str(tmp_path / "x"), "--e2fgvi-ckpt", str(tiny_ckpt)]) == 2
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0 and "--e2fgvi-ckpt is an option of --inpainter e2fgvi, not of 'propagate'" in err
    assert not (tmp_path / "x").exists()
    assert main(["build", "--out", str(tmp_path / "y"), "--inpainter", "e2fgvi"]) == 2
    assert "needs weights: give --e2fgvi-ckpt" in capsys.readouterr().err
    assert not (tmp_path / "y").exists()
    rc = main(["build", "--out", str(tmp_path / "z"), "--inpainter", "e2fgvi", "--e2fgvi-ckpt", str(tiny_ckpt),
               "-S", "num_classes=2", "-S", "train_per_class=2", "-S", "val_per_class=2", "-S", "size=32",
               "-S", "num_frames=12", "--frames", "2", "--context-frames", "1", "--inpainter-opt", "max_ref=1",
               "--inpainter-opt", "neighbor_stride=1", "--repeats", "1"])
    assert rc == 0, capsys.readouterr().err
    build_yaml = (tmp_path / "z" / "build.yaml").read_text()
    assert "ckpt_sha256" in build_yaml and "max_ref: 1" in build_yaml


def test_bf16_autocast_runs_on_cpu_close_to_fp32():
    frames, masks = moving_person(t=8, h=20, w=30)
    a = INPAINTERS.create("e2fgvi", model=tiny_net(), max_ref=2, precision="bf16").inpaint(frames, masks, [3])
    b = INPAINTERS.create("e2fgvi", model=tiny_net(), max_ref=2).inpaint(frames, masks, [3])
    assert np.abs(a.astype(int) - b).mean() < 1.0


def test_deformable_alignment_samples_at_pixel_plus_flow():
    """Offsets are the flow (x, y) flipped to mmcv's/torchvision's (dy, dx) per tap: with a zero residue and
    an identity centre tap, the aligned feature is the input read at pixel + flow, times sigmoid(0)."""
    from hat.inpainters.e2fgvi_net import SecondOrderDeformableAlignment, flow_warp

    torch.manual_seed(0)
    al = SecondOrderDeformableAlignment(32, 16)
    with torch.no_grad():
        al.weight.zero_()
        for c in range(16):
            al.weight[c, c, 1, 1] = 1.0
    x = torch.rand(1, 32, 6, 7)
    flow_1 = torch.zeros(1, 2, 6, 7)
    flow_1[:, 0] = 1.0  # one pixel right
    flow_1[:, 1] = 2.0  # two down
    out = al(x, torch.rand(1, 48, 6, 7), flow_1, torch.zeros(1, 2, 6, 7))
    want = 0.5 * x[:, :16, 2:, 1:]
    torch.testing.assert_close(out[:, :, :4, :6], want)
    assert out[:, :, 4:].abs().max() == 0 and out[:, :, :, 6:].abs().max() == 0  # read outside: zero
    torch.testing.assert_close(out, 0.5 * flow_warp(x[:, :16], flow_1.permute(0, 2, 3, 1)))


def test_flow_warp_keeps_subpixel_positions_in_bf16():
    """A bf16 grid would snap x = 100.25 to 100; sampling stays float32 whatever the feature dtype."""
    from hat.inpainters.e2fgvi_net import flow_warp

    x = (torch.arange(108) % 2).to(torch.bfloat16).view(1, 1, 1, 108).repeat(1, 1, 2, 1)
    flow = torch.full((1, 2, 108, 2), 0.25)
    flow[..., 1] = 0
    out = flow_warp(x, flow).float()[0, 0, 0, :107]
    want = torch.where(torch.arange(107) % 2 == 0, 0.25, 0.75)
    torch.testing.assert_close(out, want)


def test_centred_targets_do_not_depend_on_each_other():
    frames, masks = moving_person(t=30)
    inp = INPAINTERS.create("e2fgvi", model=tiny_net(), max_ref=2, windows="centred")
    alone = inp.inpaint(frames, masks, [10])
    with_neighbour = inp.inpaint(frames, masks, [10, 12])
    assert np.array_equal(alone[0], with_neighbour[0])


def test_grid_references_fast_path_equals_the_listing():
    from hat.inpainters.e2fgvi import _nearest_grid_refs

    for n in (7, 40, 301, 5000):
        for c in sorted({0, 3, n // 3, n // 2, n - 1}):
            for stride, ref_length, cap in ((5, 10, 30), (5, 10, 2), (2, 3, 4), (12, 5, 3)):
                local = tuple(range(max(0, c - stride), min(n, c + stride + 1)))
                slow = nearest_refs(reference_frames(c, local, n, ref_length, -1), c, cap)
                assert _nearest_grid_refs(c, local, n, ref_length, cap, stride) == slow, (n, c, stride, ref_length, cap)


def test_stream_and_option_errors_are_one_line():
    frames, masks = moving_person(t=10)
    inp = INPAINTERS.create("e2fgvi", model=tiny_net(), max_ref=2)
    with pytest.raises(HatError, match="frame 8 .* is missing; the video was said to have 12 frames"):
        list(inp.stream(iter(frames[:8]), iter(masks[:8]), 12))
    with pytest.raises(HatError, match=r"targets must be frames 0..7 of the video \(got 8..8\)"):
        inp.inpaint(frames, masks, [3], src_index=np.arange(10) + 5, n_frames=8)
    with pytest.raises(HatError, match="model= takes an InpaintGenerator"):
        INPAINTERS.create("e2fgvi", model="x.pth")


def test_an_inpainter_without_frame_indices_still_works_in_a_build(monkeypatch):
    """Plugins written against the three-argument ``inpaint`` are called as before."""
    from types import SimpleNamespace

    from hat.inpainters import Inpainter
    from hat.pipeline import stage_inpaint

    class Old(Inpainter):
        name = "old"

        def inpaint(self, frames, masks, targets):
            return frames[targets]

    frames, masks = moving_person(t=6)
    fr = {"frames": frames, "src_index": np.arange(6), "eval_pos": np.array([1, 4]), "info": np.array([6.0, 48, 64, 25])}
    out = stage_inpaint(SimpleNamespace(inpainter=Old()), None, fr, masks, None)
    assert np.array_equal(out["bg"], frames[[1, 4]])
