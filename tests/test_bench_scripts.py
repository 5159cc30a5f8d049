"""Every ``scripts/bench*`` runs at its smallest size and prints its figures (issue 19 item 7).

Found by glob, so a new bench script fails here until it is given its smallest arguments below (or a
reason to be skipped): a refactor can never silently break one again.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "scripts"

#: the smallest run of each script, and what its output must show (a figure per row it promises)
SMOKE: dict[str, tuple[list[str], list[str]]] = {
    "bench": (["--videos-per-class", "1", "--size", "32", "--frames", "4"],
              [r"build .*videos/s", r"stage inpaint +[\d.]+ ms/video", r"eval +demo-frame .* clips/s", r"eval +demo-motion .* clips/s"]),
    "bench_eval": (["--tiny", "--clips", "1", "--batch", "1", "--classes", "2"],
                   [rf"^{a} +8 +\d+ +[\d.]+ +\d+ +[\d.]+ +[\d.]+" for a in ("clip", "vificlip", "actionclip", "openvclip", "xclip")]),
    "bench_inpaint": (["--tiny", "--size", "24x32", "--lengths", "6", "--max-ref", "1"],
                      [r"propagate align=none +6 +[\d.]+", r"propagate align=auto +6 +[\d.]+", r"e2fgvi HQ stream +6 +[\d.]+ +\d+",
                       r"windows=centred: \d+ windows"]),
    "bench_scale": (["--part", "build", "--videos", "2", "--workers", "1", "--size", "32", "--frames", "4"],
                    [r"^build local +1 +[\d.]+ +[\d.]+ +[\d.]+ +[\d.]+ +[\d.na]+ +\d+$",
                     r"^build ray +1 +[\d.]+ +[\d.]+ +[\d.]+ +[\d.]+ +[\d.na]+ +\d+$", r"ray overhead at 1 workers: [+-]\d+ %"]),
    "bench_stats": (["--videos", "60", "--classes", "3", "--resamples", "20"],
                    [r"^intervals +[\d.]+ s", r"^hat metrics +[\d.]+ s", r"^compare +[\d.]+ s"]),
    "bench_report": (["--videos", "24", "--classes", "3"], [r"^ +24 +3 +\d+ +[\d.]+ +[\d.]+ +\d+ +[\d.]+ +\d+$"]),
    "bench_segment": (["--tiny", "--frames", "1", "--batch", "1"],
                      [r"GroundingDINO .* [\d.]+ +[\d.]+ +\d+$", r"image encoder +[\d.]+", r"mask decoder .* [\d.]+"]),
}

#: scripts with a smoke test of their own elsewhere in the suite
OWN_TEST = {"bench_offline_segmenters": "smoke-tested by its own test file"}


def _selfie_model() -> bool:
    from hat.errors import HatError
    from hat.segmenters import selfie

    try:
        return bool(selfie.find_models())
    except HatError:
        return False


def _found() -> list[str]:
    return sorted(p.name for p in SCRIPTS.glob("bench*") if p.suffix == "")


def test_every_bench_script_has_a_smoke_run():
    missing = [s for s in _found() if s not in SMOKE and s not in OWN_TEST]
    assert not missing, f"give these scripts their smallest arguments in SMOKE (or a reason in OWN_TEST): {missing}"
    assert set(SMOKE) <= set(_found()), f"SMOKE names scripts that are gone: {sorted(set(SMOKE) - set(_found()))}"


@pytest.mark.parametrize("name", [s for s in _found() if s not in OWN_TEST])
def test_bench_script_runs_at_its_smallest_size(name):
    if name not in SMOKE:
        pytest.fail(f"scripts/{name} has no smoke arguments in SMOKE")
    wrapper = (SCRIPTS / name).read_text()
    assert os.access(SCRIPTS / name, os.X_OK), f"scripts/{name} is not executable"
    m = re.search(r"exec python (scripts/\S+\.py) \"\$@\"", wrapper)
    assert m, f"scripts/{name} does not exec its python script"
    args, figures = SMOKE[name]
    # The .py the wrapper runs, with this interpreter (the wrapper's _setup.sh would make a .venv first)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    r = subprocess.run([sys.executable, str(ROOT / m.group(1)), *args], capture_output=True, text=True, env=env,
                       cwd=ROOT, timeout=600)
    assert r.returncode == 0, f"scripts/{name} exited {r.returncode}:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}"
    for line in r.stdout.splitlines():
        if line.startswith("selfie") and "skipped" in line and not _selfie_model():
            continue  # the MediaPipe model is fetched by scripts/_setup.sh, and may be absent here (its own tests skip too)
        assert "failed" not in line and "skipped" not in line, r.stdout
    for pattern in figures:
        assert re.search(pattern, r.stdout, re.M), f"scripts/{name}: no line matching {pattern!r} in:\n{r.stdout}"
