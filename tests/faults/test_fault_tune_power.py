"""``wattprint tune-power`` as a real process, on a stand-in pynvml (tests/fake_pynvml) whose
GPU state lives in a file: the original limit comes back after a full sweep, a failing
workload, SIGTERM, Ctrl-C, and (through the journal) after SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from faultkit import SRC, TIMEOUT_S

SHIM = str(Path(__file__).resolve().parents[1] / "fake_pynvml")
ORIGINAL_MW = 250_000
WORKLOAD = """
import json, os, sys, time
limit_w = json.load(open(os.environ["FAKE_NVML_STATE"]))["limit_mw"] / 1000
open(os.environ["RAN_MARKER"], "a").write(f"{limit_w:g}\\n")
if limit_w == float(os.environ.get("FAIL_AT_W", "0")):
    sys.exit(3)
time.sleep(float(os.environ.get("STEP_S", "0.02")) * 300 / limit_w)
"""


@pytest.fixture
def gpu(tmp_path: Path) -> Path:
    state = tmp_path / "gpu.json"
    state.write_text(json.dumps({"limit_mw": ORIGINAL_MW, "range_mw": [100_000, 300_000], "default_mw": 300_000,
                                 "static_w": 60.0, "set_error": None, "t": time.time(), "energy_mj": 0}))
    return state


def _env(state: Path, **extra: str) -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=os.pathsep.join([SRC, SHIM]), FAKE_NVML_STATE=str(state),
                RAN_MARKER=str(state.with_suffix(".ran")), **extra)


def _cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "wattprint.cli.main", "tune-power", *args]


def _workload(tmp_path: Path) -> list[str]:
    script = tmp_path / "step.py"
    script.write_text(WORKLOAD)
    return ["--", sys.executable, str(script)]


def _limit(state: Path) -> int:
    return int(json.loads(state.read_text())["limit_mw"])


def _journal() -> Path:
    return Path(os.environ["XDG_DATA_HOME"]) / "wattprint" / "power-limits.json"


def test_a_full_sweep_restores_the_limit_and_recommends(gpu: Path, tmp_path: Path) -> None:
    r = subprocess.run(_cmd("--limits", "300,200,100", "--repeats", "2:3", "--tolerance", "50", "--json",
                            *_workload(tmp_path)), env=_env(gpu), capture_output=True, text=True, timeout=TIMEOUT_S)
    assert r.returncode == 0, r.stderr
    out: dict[str, Any] = json.loads(r.stdout)
    assert [p["limit_w"] for p in out["points"]] == [300.0, 200.0, 100.0]
    for p in out["points"]:  # the workload sleeps longer at lower limits; the counter follows the limit
        assert p["seconds"] > 0.02 * 300 / p["limit_w"]
        assert p["energy_j"] == pytest.approx((60 + p["limit_w"]) * p["seconds"], rel=0.25)
    assert out["recommendation"]["reference_w"] == 300.0
    assert _limit(gpu) == ORIGINAL_MW and json.loads(gpu.read_text())["history"][-1] == ORIGINAL_MW
    assert not _journal().exists()


def test_a_failing_workload_is_one_line_and_the_limit_comes_back(gpu: Path, tmp_path: Path) -> None:
    r = subprocess.run(_cmd("--limits", "300,200", "--repeats", "1:1", *_workload(tmp_path)),
                       env=_env(gpu, FAIL_AT_W="200"), capture_output=True, text=True, timeout=TIMEOUT_S)
    assert r.returncode == 2 and "exited with 3" in r.stderr.strip().splitlines()[-1], r.stderr
    assert "Traceback" not in r.stderr
    assert _limit(gpu) == ORIGINAL_MW and not _journal().exists()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP],
                         ids=lambda s: signal.Signals(s).name)
def test_a_signal_mid_sweep_restores_the_limit(gpu: Path, tmp_path: Path, signum: int) -> None:
    p = subprocess.Popen(_cmd("--limits", "300,150", "--repeats", "3:3", *_workload(tmp_path)),
                         env=_env(gpu, STEP_S="0.3"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(lambda: _limit(gpu) == 150_000)  # the second limit is set: the sweep is under way
        p.send_signal(signum)
        _, err = p.communicate(timeout=TIMEOUT_S)
    finally:
        p.kill()
    assert p.returncode != 0, err
    assert _limit(gpu) == ORIGINAL_MW, err
    assert not _journal().exists()


def test_after_sigkill_the_journal_restores_the_limit(gpu: Path, tmp_path: Path) -> None:
    p = subprocess.Popen(_cmd("--limits", "300,150", "--repeats", "3:3", *_workload(tmp_path)),
                         env=_env(gpu, STEP_S="0.3"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(lambda: _limit(gpu) == 150_000)
        p.kill()
        p.communicate(timeout=TIMEOUT_S)
    finally:
        p.kill()
    assert _limit(gpu) == 150_000 and json.loads(_journal().read_text()) == {
        "GPU-00000000-1111-2222-3333-000000000000": ORIGINAL_MW / 1000}
    r = subprocess.run(_cmd("--restore"), env=_env(gpu), capture_output=True, text=True, timeout=TIMEOUT_S)
    assert r.returncode == 0, r.stderr
    assert "restored to 250 W" in r.stderr and _limit(gpu) == ORIGINAL_MW and not _journal().exists()


def test_without_permission_nothing_runs(gpu: Path, tmp_path: Path) -> None:
    state = json.loads(gpu.read_text())
    gpu.write_text(json.dumps({**state, "set_error": "NVMLError_NoPermission"}))
    r = subprocess.run(_cmd(*_workload(tmp_path)), env=_env(gpu), capture_output=True, text=True, timeout=TIMEOUT_S)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "needs root" in r.stderr, r.stderr
    assert not gpu.with_suffix(".ran").exists() and not _journal().exists()


@pytest.mark.parametrize(("args", "words"), [
    (["--limits", "50"], "the boards allow 100-300 W"),
    (["--limits", "abc"], "--limits"),
    (["--repeats", "5:2"], "--repeats"),
    (["--points", "1"], "--points"),
    (["--max-slowdown", "nan"], "percentages"),
    ([], "give the workload"),
])
def test_bad_options_are_one_line(gpu: Path, tmp_path: Path, args: list[str], words: str) -> None:
    tail = [] if not args else _workload(tmp_path)
    r = subprocess.run(_cmd(*args, *tail), env=_env(gpu), capture_output=True, text=True, timeout=TIMEOUT_S)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and words in r.stderr, r.stderr
    assert _limit(gpu) == ORIGINAL_MW


def _wait_for(done: Any, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)
