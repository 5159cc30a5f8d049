"""``hat build --engine ray`` on a local 2-CPU Ray (4 logical GPUs), one session for the module:
the same bytes as the local engine, GPU actors placed one per GPU, a killed actor or driver changes nothing."""

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pandas as pd
import pytest

from hat.engines.build import EngineOptions
from hat.engines.build_ray import actor_count
from hat.errors import HatError
from hat.pipeline import build

from conftest import TINY, tiny_config

ray = pytest.importorskip("ray", reason="Ray is an extra: pip install 'hat-bias[ray]'")

#: marks this module's Ray processes, so that a test kills only its own (other Ray sessions may run here)
MARK = f"hat-test-{uuid.uuid4().hex[:12]}"
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def session():
    from hat import ray_cluster

    if ray.is_initialized():
        ray.shutdown()
    os.environ["HAT_TEST_RAY_MARK"] = MARK  # inherited by the raylet and every worker it starts
    try:
        ray_cluster.connect(num_cpus=2, num_gpus=4)
        yield ray.get_runtime_context().gcs_address
    finally:
        ray_cluster.shutdown()
        os.environ.pop("HAT_TEST_RAY_MARK", None)


def files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file() and ".tmp-" not in p.name}


def assert_same_tree(a: Path, b: Path) -> None:
    fa, fb = files(a), files(b)
    assert sorted(fa) == sorted(fb)
    differ = [k for k in fa if fa[k] != fb[k]]
    assert not differ, f"differ: {differ[:5]}"


def stage_actor_pids() -> list[int]:
    """This module's Ray stage actors (process title ray::MapWorker(MapBatches(_Stages)))."""
    pids = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            cmd, env = (d / "cmdline").read_bytes(), (d / "environ").read_bytes()
        except OSError:
            continue
        if b"_Stages" in cmd and f"HAT_TEST_RAY_MARK={MARK}".encode() in env:
            pids.append(int(d.name))
    return pids


def test_actor_count_fits_the_cluster_gpus():
    assert actor_count(4, 0, 0) == 4
    assert actor_count(4, 1, 2) == 2 and actor_count(4, 0.5, 2) == 4 and actor_count(8, 0.25, 1) == 4
    assert actor_count(2, 1, 8) == 2


@pytest.mark.slow
def test_ray_build_is_byte_identical_to_local(session, tiny_bench, tmp_path):
    out = tmp_path / "tiny"
    s = build(tiny_config(), out, engine=EngineOptions("ray", workers=2))
    assert s.complete and s.counts["ok"] == 16 and s.stage_done["segment"] == 16
    assert_same_tree(tiny_bench, out)
    assert s.placement and set(s.placement.values()) == {"CPU"}
    again = build(tiny_config(), out, engine=EngineOptions("ray", workers=2))  # resume: nothing left to do
    assert not again.stage_done and again.stage_skipped["inpaint"] == 16
    assert_same_tree(tiny_bench, out)


@pytest.mark.slow
def test_gpu_actors_get_one_gpu_each(session, tiny_bench, tmp_path):
    out = tmp_path / "tiny"
    s = build(tiny_config(), out, engine=EngineOptions("ray", workers=4, gpus_per_worker=1))
    assert s.complete
    gpus = sorted(s.placement.values())
    assert len(gpus) >= 2 and all(g.startswith("GPU ") and "," not in g for g in gpus), gpus
    assert len(set(gpus)) == len(gpus) and set(gpus) <= {f"GPU {i}" for i in range(4)}
    assert_same_tree(tiny_bench, out)


def test_gpus_per_worker_beyond_any_node_refused_before_work(session, tmp_path):
    out = tmp_path / "bench"
    with pytest.raises(HatError, match=r"--gpus-per-worker 5 is more than any Ray node has \(largest node: 4 GPUs"):
        build(tiny_config(), out, engine=EngineOptions("ray", gpus_per_worker=5))
    assert not out.exists()


@pytest.mark.slow
def test_actor_killed_mid_build_changes_nothing(session, tiny_bench, tmp_path):
    out = tmp_path / "tiny"
    killed: list[tuple[int, int]] = []
    stop = threading.Event()

    def killer() -> None:
        while not stop.is_set():
            done = len(list((out / "artifacts" / "segment").glob("*.json"))) if out.exists() else 0
            pids = stage_actor_pids()
            if done >= 2 and pids:
                os.kill(pids[0], signal.SIGKILL)
                killed.append((pids[0], done))
                return
            time.sleep(0.02)

    t = threading.Thread(target=killer, daemon=True)
    t.start()
    try:
        s = build(tiny_config(), out, engine=EngineOptions("ray", workers=2))
    finally:
        stop.set()
        t.join(5)
    assert killed and killed[0][1] < 16, "the actor was not killed while videos were left"
    assert s.complete and s.counts["ok"] == 16 and not s.failed
    assert_same_tree(tiny_bench, out)


@pytest.mark.slow
def test_rerun_after_the_driver_is_killed_resumes(session, tiny_bench, tmp_path):
    out = tmp_path / "tiny"
    src = [a for k, v in TINY.items() for a in ("-S", f"{k}={v}")]
    cmd = [sys.executable, "-m", "hat", "build", *src, "--frames", str(TINY["num_frames"]), "--out", str(out),
           "--engine", "ray", "--ray-address", session, "--workers", "2"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    driver = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 240
    while time.time() < deadline and driver.poll() is None:
        if len(list((out / "artifacts" / "scene").glob("*.npz"))) >= 2:
            break
        time.sleep(0.02)
    assert driver.poll() is None, driver.stderr.read().decode()[-2000:]
    driver.kill()
    driver.wait()
    driver.stderr.close()
    assert not (out / "manifest.csv").exists()
    left = len(list((out / "artifacts" / "scene").glob("*.npz")))
    assert 2 <= left < 16
    s = build(tiny_config(), out, engine=EngineOptions("ray", workers=2))
    assert s.complete and s.stage_skipped["scene"] >= left and s.stage_done["scene"] == 16 - s.stage_skipped["scene"]
    assert_same_tree(tiny_bench, out)


@pytest.mark.slow
def test_failed_videos_recorded_as_the_local_engine_does(session, tmp_path):
    """A missing and a corrupt file fail in the frames stage; the reasons in manifest.csv are the local engine's."""
    from hat.config import BuildConfig
    from hat.video import write_video

    from test_video_sources import person_clip

    vids = tmp_path / "videos"
    rows = []
    for label, cls in enumerate(["jump", "run"]):
        for i in range(2):
            write_video(vids / f"{cls}_{i}.mp4", person_clip(label), fps=10)
            rows.append({"path": f"{cls}_{i}.mp4", "label": cls})
    (vids / "broken.mp4").write_bytes(b"garbage" * 50)
    rows += [{"path": "broken.mp4", "label": "jump"}, {"path": "gone.mp4", "label": "run"}]
    pd.DataFrame(rows).to_csv(vids / "list.csv", index=False)
    cfg = BuildConfig(source="csv", source_options={"list": str(vids / "list.csv")}, segmenter="auto",
                      num_frames=4, context_frames=4, k_close=1, k_far=1)
    a = build(cfg, tmp_path / "a" / "bench")
    b = build(cfg, tmp_path / "b" / "bench", engine=EngineOptions("ray", workers=2))
    assert sum(b.failed.values()) == 2 and b.failed == a.failed
    man = pd.read_csv(tmp_path / "b" / "bench" / "manifest.csv", keep_default_na=False).set_index("video_id")
    assert "missing video file" in man.loc["gone", "reason"] and man.loc["broken", "reason"].startswith("frames:")
    assert_same_tree(tmp_path / "a" / "bench", tmp_path / "b" / "bench")
