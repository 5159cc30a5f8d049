"""``hat eval --engine ray`` on a local 2-CPU Ray: the local engine's bytes, a killed actor changes nothing,
one model actor per declared GPU, and one-line errors when Ray is missing or out of reach."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason="Ray is an extra: pip install 'hat-bias[ray]'")

from hat import ray_cluster  # noqa: E402
from hat.bench import Benchmark  # noqa: E402
from hat.cli import main  # noqa: E402
from hat.engines.eval import LocalEngine, ModelLoad, RayEngine  # noqa: E402
from hat.evaluate import evaluate_many  # noqa: E402
from hat.models import load_model  # noqa: E402

from test_eval_scale import PLUGIN, same_files  # noqa: E402

SETS = ["original", "human_only", "swap_random"]


@pytest.fixture(scope="module")
def ray2():
    """One local Ray with 2 CPUs for the module (started in a few seconds)."""
    ray_cluster.shutdown()
    ray_cluster.connect(num_cpus=2)
    yield
    ray_cluster.shutdown()


@pytest.fixture(autouse=True)
def _pinned_time(monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")


def _plugins(tmp_path: Path, names=("pix.py", "other.py")) -> list[Path]:
    paths = []
    for name in names:
        (tmp_path / "m").mkdir(exist_ok=True)
        p = tmp_path / "m" / name
        p.write_text(PLUGIN)
        paths.append(p)
    return paths


def _run(bench: Benchmark, specs: list[str], outs: list[Path], engine) -> list[dict]:
    models = [load_model(s, classes=bench.classes) for s in specs]
    return evaluate_many(models, bench, outs, sets=SETS, batch_size=4, part_size=8, engine=engine)


def test_ray_engine_gives_the_local_bytes_for_two_models(ray2, tiny_bench, tmp_path):
    b = Benchmark(tiny_bench)
    specs = [f"python:{p}:make" for p in _plugins(tmp_path)]
    _run(b, specs, [tmp_path / "la", tmp_path / "lb"], LocalEngine(0))
    eng = RayEngine([ModelLoad(s) for s in specs])
    _run(b, specs, [tmp_path / "ra", tmp_path / "rb"], eng)
    same_files(tmp_path / "la", tmp_path / "ra")
    same_files(tmp_path / "lb", tmp_path / "rb")
    assert len(eng.actors) == 1 and eng.actors[0]["gpu_ids"] == []  # no GPU: one CPU actor
    assert eng.actors[0]["parts"] == 2 * -(-len(list(b.items(SETS))) // 8)


def test_ray_actor_killed_mid_eval_changes_nothing(ray2, tiny_bench, tmp_path):
    b = Benchmark(tiny_bench)
    (spec,) = [f"python:{p}:make" for p in _plugins(tmp_path, ("pix.py",))]
    _run(b, [spec], [tmp_path / "local"], LocalEngine(0))
    (tmp_path / "m" / "kill-at").write_text("5")  # the actor's process dies at its 5th forward call
    _run(b, [spec], [tmp_path / "ray"], RayEngine([ModelLoad(spec)]))
    assert not (tmp_path / "m" / "kill-at").exists(), "the actor was killed"
    same_files(tmp_path / "local", tmp_path / "ray")


def test_cli_engine_ray(ray2, tiny_bench, tmp_path, monkeypatch):
    """The models load in the actors only; the run is named as the local engine names it."""
    (p,) = _plugins(tmp_path, ("pix.py",))
    monkeypatch.chdir(tmp_path)
    args = ["eval", "--model", f"python:{p}:make", "--bench", str(tiny_bench), "--sets", ",".join(SETS)]
    assert main([*args, "--out", str(tmp_path / "local"), "--loader-workers", "0"]) == 0
    assert main([*args, "--engine", "ray"]) == 0
    same_files(tmp_path / "local", tmp_path / "results" / f"pix-make__{tiny_bench.name}")


def test_cuda_on_a_cluster_without_gpus_is_one_line(ray2, tiny_bench, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["eval", "--model", "demo-frame", "--bench", str(tiny_bench), "--out", str(out), "--engine", "ray",
                 "--device", "cuda"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "the Ray cluster has no GPU" in err
    assert not out.exists()


def test_ray_missing_is_one_line_nothing_written(tiny_bench, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    (p,) = _plugins(tmp_path, ("pix.py",))
    out = tmp_path / "run"
    assert main(["eval", "--model", f"python:{p}:make", "--bench", str(tiny_bench), "--out", str(out),
                 "--engine", "ray"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "pip install 'hat-bias[ray]'" in err
    assert not out.exists()


def test_unreachable_cluster_is_one_line_nothing_written(tiny_bench, tmp_path, capsys):
    ray_cluster.shutdown()
    (p,) = _plugins(tmp_path, ("pix.py",))
    out = tmp_path / "run"
    assert main(["eval", "--model", f"python:{p}:make", "--bench", str(tiny_bench), "--out", str(out),
                 "--engine", "ray", "--ray-address", "127.0.0.1:9"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "cannot reach a Ray cluster at '127.0.0.1:9'" in err and "ray start --head" in err
    assert not out.exists()


@pytest.mark.slow
def test_one_model_actor_per_declared_gpu(tiny_bench, tmp_path):
    """Logical GPUs on a CPU machine: the scheduler gives each model actor its own GPU id."""
    ray_cluster.shutdown()
    ray_cluster.connect(num_cpus=6, num_gpus=4)  # 4 actors of 1 CPU + 1 GPU, and CPUs left to compose
    try:
        b = Benchmark(tiny_bench)
        (spec,) = [f"python:{p}:make" for p in _plugins(tmp_path, ("pix.py",))]
        _run(b, [spec], [tmp_path / "local"], LocalEngine(0))
        eng = RayEngine([ModelLoad(spec)])
        _run(b, [spec], [tmp_path / "ray"], eng)
    finally:
        ray_cluster.shutdown()
    assert sorted(a["gpu_ids"][0] for a in eng.actors) == ["0", "1", "2", "3"]
    assert all(len(a["gpu_ids"]) == 1 and a["cuda_visible_devices"] == a["gpu_ids"][0] for a in eng.actors)
    assert sum(a["parts"] for a in eng.actors) == -(-len(list(b.items(SETS))) // 8)
    same_files(tmp_path / "local", tmp_path / "ray")


@pytest.mark.slow
def test_bench_scale_eval_runs_at_its_smallest_size():
    """scripts/bench_scale_eval.py (called by scripts/bench_scale) prints every figure it promises."""
    import os
    import re
    import subprocess

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    r = subprocess.run([sys.executable, str(root / "scripts" / "bench_scale_eval.py"), "--eval-size", "64x80",
                        "--eval-frames", "4", "--eval-classes", "2", "--eval-videos-per-class", "1",
                        "--loader-workers", "0,1", "--eval-ray-cpus", "2", "--logical-gpus", "2"],
                       capture_output=True, text=True, env=env, cwd=root, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    for pattern in (r"loader-workers=0: [\d.]+ clips/s .* peak RSS \d+ MiB", r"loader-workers=1: [\d.]+ clips/s",
                    r"ray cpus=2 .*: [\d.]+ clips/s; local loader-workers=1: [\d.]+ clips/s; ray overhead -?\d+ %",
                    r"2 logical GPUs: 2 model actors", r"GPU ids 0, CUDA_VISIBLE_DEVICES=0", r"GPU ids 1, CUDA_VISIBLE_DEVICES=1"):
        assert re.search(pattern, r.stdout), f"no line matching {pattern!r} in:\n{r.stdout}"
