"""Fake machines for the distributed-job tests: one powercap tree and one boot id per simulated node.

The ranks of a test job read these trees (``rapl_root``) and boot ids (``boot_id_file``);
the test moves the counters by :data:`bump` amounts while every rank tracks, and compares the
job's total with what one tracker alone measures on the same machines (:func:`single_tracker_total`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import wattprint
from fake_gpu import FakeNvGpu, FakeNvml, nv_uuid
from fake_rapl import make_tree

HERE = Path(__file__).parent
RANKS = HERE / "distributed"


def bump(node: int) -> dict[str, int]:
    """Counter values (µJ) one node's zones reach while the job runs: different per node and zone."""
    return {
        "rapl/intel-rapl:0/energy_uj": 5_000_000 * (node + 1),
        "rapl/intel-rapl:0/intel-rapl:0:0/energy_uj": 1_000_000,
        "rapl/intel-rapl:1/energy_uj": 2_000_000 + 250_000 * node,
    }


def build(root: Path, nodes: int, gpus: int = 0) -> Path:
    """``root/node-N/{rapl,boot_id}`` for N < nodes (and ``gpu-K`` energy files, mJ, for K < gpus)
    and the ``bump`` file rank 0 applies."""
    moves = {}
    for n in range(nodes):
        make_tree(root / f"node-{n}" / "rapl", packages=2)
        (root / f"node-{n}" / "boot_id").write_text(f"{n:08d}-fake-boot-id\n")
        moves.update({f"node-{n}/{k}": v for k, v in bump(n).items()})
        for k in range(gpus):
            (root / f"node-{n}" / f"gpu-{k}").write_text("1000000\n")
            moves[f"node-{n}/gpu-{k}"] = 1_000_000 + 40_000 * (k + 1) + 7_000 * n
    (root / "bump").write_text(json.dumps(moves))
    return root


def apply_bump(root: Path) -> None:
    for path, value in json.loads((root / "bump").read_text()).items():
        with open(root / path, "r+", encoding="ascii") as fh:
            fh.write(f"{value}\n")


@dataclass
class FileGpu(FakeNvGpu):
    """A fake NVIDIA GPU whose energy counter (mJ) is a file: every rank on its node reads the same one."""

    path: str = ""

    @property  # type: ignore[override]
    def energy_mj(self) -> int:
        return int(Path(self.path).read_text())

    @energy_mj.setter
    def energy_mj(self, value: int | None) -> None:
        pass  # the file holds the counter


def fake_nvml(root: Path, node: int, gpus: int) -> FakeNvml:
    """NVML as node ``node`` shows it: ``gpus`` GPUs with UUIDs unique across nodes."""
    return FakeNvml([FileGpu(nv_uuid(16 * node + k), path=str(root / f"node-{node}" / f"gpu-{k}"))
                     for k in range(gpus)])


def single_tracker_total(root: Path, nodes: int, gpus: int = 0) -> float:
    """What one tracker per machine, alone, measures for the same counter moves (joules, all nodes)."""
    build(root, nodes, gpus)
    trackers = [wattprint.Tracker(rapl_root=str(root / f"node-{n}" / "rapl"), store=False, country="FR",
                                  sensors="rapl,nvml" if gpus else "rapl", job="off") for n in range(nodes)]
    saved = sys.modules.get("pynvml")
    try:
        for n, t in enumerate(trackers):
            if gpus:
                sys.modules["pynvml"] = fake_nvml(root, n, gpus)  # type: ignore[assignment]
            t.start()
    finally:
        if saved is not None:
            sys.modules["pynvml"] = saved
        else:
            sys.modules.pop("pynvml", None)
    apply_bump(root)
    return sum(t.stop().energy_j for t in trackers)


def env(**more: str) -> dict[str, str]:
    """The test process's environment for a rank, with the source tree importable."""
    out = {k: v for k, v in os.environ.items() if not k.startswith("WATTPRINT_JOB")}
    out["PYTHONPATH"] = os.pathsep.join([str(HERE.parent / "src"), str(HERE)])
    out.update(more)
    return out


def run(cmd: list[str], timeout: float, **kw: object) -> subprocess.CompletedProcess[str]:
    """A launcher, with a timeout so a hang fails the test; its output is kept for the failure message."""
    return subprocess.run(cmd, timeout=timeout, capture_output=True, text=True, **kw)  # type: ignore[call-overload]


def python() -> str:
    return sys.executable


def wait_started(nodes: Path, ranks: range | list[int], procs: list[subprocess.Popen[str]],
                 timeout: float = 60) -> None:
    """Until every rank wrote ``started-R``; fails at once (with its output) if a rank process ended."""
    deadline = time.monotonic() + timeout
    while not all((nodes / f"started-{r}").exists() for r in ranks):
        dead = [p for p in procs if p.poll() is not None]
        assert not dead, dead[0].stdout.read() if dead[0].stdout else f"a rank ended ({dead[0].returncode})"
        assert time.monotonic() < deadline, f"ranks {list(ranks)} never started"
        time.sleep(0.02)


def drive(nodes: Path, procs: list[subprocess.Popen[str]]) -> None:
    """Ranks 0..n-1 started: move the counters, let them stop, require every one to exit 0 (all killed
    in the end, so a failure leaves no rank behind)."""
    try:
        wait_started(nodes, range(len(procs)), procs)
        apply_bump(nodes)
        (nodes / "go").touch()
        assert [p.wait(timeout=60) for p in procs] == [0] * len(procs), [p.stdout.read() for p in procs if p.stdout]
    finally:
        for p in procs:
            p.kill()
