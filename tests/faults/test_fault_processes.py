"""fork() inside tracked code, and a run killed mid-way: what each process stores."""

from __future__ import annotations

import math
import signal
from pathlib import Path

from faultkit import TIMEOUT_S, python, stored_energy, stored_runs, wait_until

from fake_rapl import make_tree

TESTS = str(Path(__file__).resolve().parents[1])

FORK = """
import os, sys, time, wattprint
rapl, db = sys.argv[1], sys.argv[2]
kw = dict(rapl_root=rapl, store=db, gpus="none", country="FR", interval=0.02)
with wattprint.track("parent", **kw) as run:
    time.sleep(0.1)
    pid = os.fork()
    if pid == 0:
        with run.window("in-child"):
            time.sleep(0.05)
        with wattprint.track("child", **kw) as own:  # the child's own run works as usual
            time.sleep(0.1)
        assert own.status == "finished", own.status
        sys.exit(0)  # leaves the parent's with-block in the child, then the exit hooks run
    _, status = os.waitpid(pid, 0)
    time.sleep(0.3)
print(os.waitstatus_to_exitcode(status), run.status, run.duration_s, flush=True)
"""


def test_a_forked_child_never_stores_or_stops_the_parents_run(tmp_path: Path) -> None:
    rapl, db = make_tree(tmp_path / "pc"), tmp_path / "fork.db"
    p = python(FORK, str(rapl), str(db))
    out, err = p.communicate(timeout=TIMEOUT_S)
    assert p.returncode == 0, err
    child_code, status, duration = out.split()
    assert (child_code, status) == ("0", "finished")
    assert "could not store" not in err and "UNIQUE" not in err
    runs = {r["name"]: r for r in stored_runs(db)}
    assert set(runs) == {"parent", "child"}
    parent = runs["parent"]
    assert parent["status"] == "finished"
    assert parent["duration_s"] == float(duration) >= 0.45  # not cut short at the child's exit
    assert parent["faults"] == []
    assert [w["name"] for w in parent["windows"]] == []  # the child's window stayed in the child
    assert runs["child"]["status"] == "finished" and runs["child"]["pid"] != parent["pid"]


KILLED = f"""
import sys, time
from pathlib import Path
sys.path.insert(0, {TESTS!r})
from fake_rapl import set_uj
import wattprint
rapl, db = Path(sys.argv[1]), sys.argv[2]
t = wattprint.Tracker("killed", rapl_root=rapl, store=db, gpus="none", country="FR", interval=0.05,
                      flush_every_s=0.1, process="self")
run = t.start()
uj = 0
while True:  # 10 W on the package counter, until SIGKILL
    uj += 100_000
    set_uj(rapl, "intel-rapl:0", uj)
    if uj == 3_000_000:
        print("flushed", flush=True)
    time.sleep(0.01)
"""


def test_a_killed_run_reads_back_with_what_it_emitted_so_far(tmp_path: Path) -> None:
    rapl, db = make_tree(tmp_path / "pc"), tmp_path / "killed.db"
    p = python(KILLED, str(rapl), str(db))
    assert p.stdout is not None
    assert p.stdout.readline() == "flushed\n", p.communicate(timeout=TIMEOUT_S)[1]
    wait_until(lambda: any(e > 2.0 for e in stored_energy(db).values()), "a flush past 2 J")
    p.send_signal(signal.SIGKILL)
    p.communicate(timeout=TIMEOUT_S)
    (run,) = stored_runs(db)
    assert run["status"] == "killed"
    assert run["duration_s"] > 0.2 and run["energy_j"] > 2.0
    intensity = run["intensity"]
    expected = run["energy_j"] / 3.6e6 * intensity["g_per_kwh"] * intensity["pue"]
    assert expected > 0 and math.isclose(run["emissions_g"], expected, rel_tol=1e-9)
    counted = [c for c in run["channels"].values() if c["in_total"]]
    assert math.isclose(sum(c["emissions_g"] for c in counted), run["emissions_g"])
    timeline_j = sum(sum(iv["energy_j"].values()) for iv in run["timeline"])
    assert math.isclose(timeline_j, sum(c["energy_j"] for c in run["channels"].values()))
    att = run["attribution"]
    assert att["machine_energy_j"] == run["energy_j"]
    assert 0.0 <= att["energy_j"] <= att["machine_energy_j"] and att["rest_of_machine_j"] >= 0.0
