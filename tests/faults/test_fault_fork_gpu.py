"""fork() inside tracked code on a GPU machine: the child never touches the parent's NVML handles.

NVML is not fork-safe. The program below runs a real tracker on an injected fake
NVML that records every call with the PID making it and the handle it passes, then
calls ``os.fork()`` inside the tracked block. The child opens a window on the
parent's run (its copy) and then a run of its own; it reports its calls through
a pipe. The parent's run must be intact and exact.
"""

from __future__ import annotations

import json
from pathlib import Path

from faultkit import TIMEOUT_S, python

from fake_rapl import make_tree

TESTS = str(Path(__file__).resolve().parents[1])

FORK_GPU = f"""
import json, os, sys, time
sys.path.insert(0, {TESTS!r})
from fake_gpu import FakeMigHandle, FakeNvGpu, FakeNvml, nv_uuid

GETTERS = {{"nvmlDeviceGetHandleByIndex", "nvmlDeviceGetMigDeviceHandleByIndex"}}

class Recorder:
    # pynvml as the sensor sees it: every call recorded as (pid, function, handles passed)
    def __init__(self, fake):
        self._fake, self.calls, self.obtained = fake, [], {{}}
    def __getattr__(self, name):
        attr = getattr(self._fake, name)
        if not (name.startswith("nvml") and callable(attr)):
            return attr
        def call(*args):
            pid = os.getpid()
            handles = [id(a) for a in args if isinstance(a, (FakeNvGpu, FakeMigHandle))]
            self.calls.append((pid, name, handles))
            out = attr(*args)
            if name in GETTERS:
                self.obtained.setdefault(pid, set()).add(id(out))
            return out
        return call

gpu = FakeNvGpu(nv_uuid(1), energy_mj=0)
nvml = Recorder(FakeNvml([gpu]))
sys.modules["pynvml"], sys.modules["amdsmi"] = nvml, None
import wattprint

kw = dict(rapl_root=sys.argv[1], gpus="all", store=False, country="FR", interval=0.02)
channel = "gpu:" + nv_uuid(1)
with wattprint.track("parent", **kw) as run:
    gpu.energy_mj += 1_000
    time.sleep(0.1)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        report = {{}}
        try:
            with run.window("in-child") as win:
                gpu.energy_mj += 7_000
            report["window_gpu_j"] = win.channels[channel].energy_j
            report["window_channels"] = sorted(win.channels)
            with wattprint.track("child", **kw) as own:
                gpu.energy_mj += 4_000
                time.sleep(0.05)
            report["own_status"] = own.status
            report["own_gpu_j"] = own.channels[channel].energy_j
            me = os.getpid()
            report["calls"] = [c for c in nvml.calls if c[0] == me]
            report["obtained"] = sorted(nvml.obtained.get(me, ()))
        except BaseException as exc:
            report["error"] = repr(exc)
        os.write(w, json.dumps(report).encode())
        os._exit(0)
    os.close(w)
    _, status = os.waitpid(pid, 0)
    child = json.loads(os.read(r, 1 << 20).decode())
    gpu.energy_mj += 2_000
    time.sleep(0.1)
parent_calls = [c for c in nvml.calls if c[0] == os.getpid()]
print(json.dumps({{"status": os.waitstatus_to_exitcode(status), "child": child,
                  "run_status": run.status, "run_gpu_j": run.channels[channel].energy_j,
                  "run_windows": [w.name for w in run.windows], "run_faults": [f.message for f in run.faults],
                  "parent_shutdowns": sum(1 for c in parent_calls if c[1] == "nvmlShutdown"),
                  "parent_reads": sum(1 for c in parent_calls if c[1] == "nvmlDeviceGetTotalEnergyConsumption")}}))
"""


def test_a_forked_child_makes_no_nvml_call_on_the_parents_handles(tmp_path: Path) -> None:
    p = python(FORK_GPU, str(make_tree(tmp_path / "pc")))
    out, err = p.communicate(timeout=TIMEOUT_S)
    assert p.returncode == 0, err
    result = json.loads(out)
    child = result["child"]
    assert result["status"] == 0 and "error" not in child, child

    # the child's copy of the parent's run: CPU counters still read, the GPU not at all
    assert child["window_gpu_j"] == 0.0 and "gpu:GPU-00000001-1111-2222-3333-000000000001" in child["window_channels"]
    calls = [[name, handles] for _, name, handles in child["calls"]]
    own_init = calls.index(["nvmlInit", []])  # nothing before the child's own session begins
    assert own_init == 0, calls
    # every handle the child passes is one it obtained itself, in its own session
    assert {h for _, handles in calls for h in handles} <= set(child["obtained"]), calls
    # its own run measured the GPU through that fresh session, and closed it
    assert child["own_status"] == "finished" and child["own_gpu_j"] == 4.0
    assert calls[-1] == ["nvmlShutdown", []]

    # the parent's run: intact, exact, nothing of the child's in it
    assert result["run_status"] == "finished"
    assert result["run_gpu_j"] == 3.0  # 1 J before the fork + 2 J after; the child's 11 J moved its own copy
    assert result["run_windows"] == []
    assert result["run_faults"] == []
    assert result["parent_shutdowns"] == 1 and result["parent_reads"] > 3
