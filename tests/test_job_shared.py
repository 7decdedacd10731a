"""Two jobs on one node: each names the other on the devices both measured, and its total counts its
attributed share of them, never the whole device twice. A job alone is untouched.

Real processes: two ``wattprint run`` jobs (different ``WATTPRINT_JOB``) on one fake powercap tree and
boot id, overlapping in time, each burning CPU in its own command; the test moves the package counter
steadily (a fake meter: the device's whole energy is known) while they run.
"""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from fake_rapl import make_tree, set_uj
from job_machines import RANKS, env, python
from wattprint.report.job import job_lines
from wattprint.report.schema import build_report
from wattprint.store.sqlite import SqliteStore
from wattprint.tracking.record import check_run_record

STEP_UJ = 400_000  # every 20 ms: 20 W on package 0
PACKAGE = "cpu:package-0"


class Meter:
    """Moves package 0's counter on a thread; ``total_j``: everything it moved."""

    def __init__(self, rapl: Path) -> None:
        self.rapl, self.uj, self.done = rapl, 0, threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.done.wait(0.02):
            self.uj += STEP_UJ
            set_uj(self.rapl, "intel-rapl:0", self.uj)

    def stop(self) -> float:
        self.done.set()
        self.thread.join(timeout=10)
        return self.uj / 1e6


class Node:
    def __init__(self, tmp_path: Path) -> None:
        self.dir, self.db = tmp_path, tmp_path / "db.sqlite"
        self.rapl = make_tree(tmp_path / "rapl", packages=1)
        (tmp_path / "boot_id").write_text("00000000-one-shared-node\n")
        self.meter = Meter(self.rapl)

    def job(self, name: str) -> subprocess.Popen[str]:
        e = env(WATTPRINT_JOB=name, WATTPRINT_BOOT_ID_FILE=str(self.dir / "boot_id"),
                WATTPRINT_HOST_REGISTRY_DIR=str(self.dir / "registry"))
        cmd = [python(), "-m", "wattprint.cli.main", "run", "-q", "--db", str(self.db), "--country", "FR",
               "--gpus", "none", "--rapl-root", str(self.rapl), "--interval", "0.1", "--name", name, "--",
               python(), str(RANKS / "burn.py"), str(self.dir), name]
        proc = subprocess.Popen(cmd, env=e, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 60
        while not (self.dir / f"ready-{name}").exists():
            assert proc.poll() is None, proc.communicate()[0]
            assert time.monotonic() < deadline, f"job {name} never started"
            time.sleep(0.02)
        return proc

    def partial(self, name: str) -> Any:
        store = SqliteStore.open(self.db)
        (head,) = [h for h in store.list_runs() if h["job"] and h["job"]["id"] == name and h["job"]["rank"] == 0]
        return store.get_run(head["id"])

    def view(self, name: str) -> Any:
        store = SqliteStore.open(self.db)
        (head,) = [h for h in store.list_runs() if h["job"] and h["job"]["id"] == name and h["job"]["rank"] is None]
        return store.get_run(head["id"])


def ended(proc: subprocess.Popen[str]) -> None:
    out = proc.communicate(timeout=60)[0]
    assert proc.returncode == 0, out


def counted_j(run: Any) -> float:
    return sum(c["energy_j"] for c in run["channels"].values() if c["in_total"])


@pytest.fixture
def node(tmp_path: Path) -> Any:
    n = Node(tmp_path)
    yield n
    n.meter.stop()


def test_two_jobs_on_one_node_name_each_other_and_split_the_package(node: Node) -> None:
    a = node.job("job-a")
    time.sleep(1.0)
    b = node.job("job-b")
    time.sleep(3.0)  # both run: each looks at the registry about once a second
    (node.dir / "stop").touch()
    ended(a)
    ended(b)
    device_j = node.meter.stop()  # the package's whole energy over both runs
    shares = []
    for me, other in (("job-a", "job-b"), ("job-b", "job-a")):
        run = node.partial(me)
        assert check_run_record(run) is None
        shared = {s["channel"]: s for s in run["job"]["shared_devices"]}
        pkg = shared[PACKAGE]
        assert pkg["other_jobs"] == [other] and pkg["device"] == f"00000000-one-shared-node/{PACKAGE}"
        assert 1.0 <= pkg["overlap_s"] <= run["duration_s"] + 0.5
        assert pkg["split"].startswith("attributed:")
        assert pkg["device_energy_j"] == run["channels"][PACKAGE]["energy_j"] > 0  # the whole device
        assert 0 < pkg["share_j"] < pkg["device_energy_j"]
        cut = sum(s["device_energy_j"] - s["share_j"] for s in shared.values())
        assert run["energy_j"] == pytest.approx(counted_j(run) - cut)  # the total counts the share
        assert run["energy_j"] < counted_j(run)
        lines = "\n".join(job_lines(run))  # show: the whole device, the share, whose the rest is
        assert "Shared devices" in lines and other in lines and "belongs to the other job(s)" in lines
        method = " ".join(build_report(run)["methodology"])
        assert f"For {PACKAGE}" in method and "attributed share" in method
        view = node.view(me)  # the job view (one rank) keeps the same split
        assert view["job"]["shared_devices"][0]["other_jobs"] == [other]
        assert view["energy_j"] == pytest.approx(run["energy_j"])
        shares.append(pkg["share_j"])
    assert sum(shares) <= device_j + 1e-6  # together, never more than the device gave (counter: 1 µJ)


def test_a_job_alone_shows_no_sharing(node: Node) -> None:
    a = node.job("job-alone")
    time.sleep(1.5)
    (node.dir / "stop").touch()
    ended(a)
    run = node.partial("job-alone")
    assert "shared_devices" not in run["job"]
    assert run["energy_j"] == pytest.approx(counted_j(run)) and run["energy_j"] > 0
    assert "shared_devices" not in node.view("job-alone")["job"]


def test_without_attribution_a_shared_device_is_labelled_not_split_and_counted_whole(node: Node) -> None:
    """The Python API follows no process tree: the job cannot know its share, so it claims none."""
    import wattprint

    other = node.job("job-run")
    tracker = wattprint.Tracker("api", rapl_root=str(node.rapl), store=str(node.db), country="FR", gpus="none",
                                boot_id_file=str(node.dir / "boot_id"), job="job-api", interval=0.1,
                                host_registry_dir=str(node.dir / "registry"))
    tracker.start()
    try:
        time.sleep(2.5)
    finally:
        tracker.stop()
        (node.dir / "stop").touch()
        ended(other)
    run = node.partial("job-api")
    pkg = {s["channel"]: s for s in run["job"]["shared_devices"]}[PACKAGE]
    assert pkg["other_jobs"] == ["job-run"] and pkg["share_j"] is None
    assert pkg["split"].startswith("shared, not split")
    assert run["energy_j"] == pytest.approx(counted_j(run)) and run["energy_j"] > 0  # whole, and labelled so
    text = "\n".join(job_lines(run))
    assert "Shared devices" in text and "not split" in text and "counted whole" in text
    # the other job, which does attribute, names this one and counts only its share
    theirs = {s["channel"]: s for s in node.partial("job-run")["job"]["shared_devices"]}[PACKAGE]
    assert theirs["other_jobs"] == ["job-api"] and theirs["share_j"] is not None


def test_shared_devices_lines_escape_job_ids() -> None:
    job = {"id": "j", "rank": 0, "world_size": 1, "shared_devices": [
        {"channel": "cpu:package-0", "device": "b/cpu:package-0", "other_jobs": ["evil\x1b[2J\x07job"],
         "overlap_s": 2.0, "device_energy_j": 10.0, "share_j": None, "split": "shared, not split: \x1b[31m"}]}
    text = "\n".join(job_lines({"job": job}))
    assert "Shared devices" in text and "evil" in text and "not split" in text
    assert "\x1b" not in text and "\x07" not in text


def test_a_look_never_waits_for_a_locked_registry(tmp_path: Path) -> None:
    """A registry another process holds locked is skipped for this look (the sampler thread never blocks)."""
    from wattprint.tracking.hostreg import HostRegistry

    reg = HostRegistry(str(tmp_path), "boot")
    reg.register("other", 0, 0, [], ["boot/cpu:package-0"])
    assert reg.others_on("mine", {"boot/cpu:package-0"}) == [("other", {"boot/cpu:package-0"}, pytest.approx(
        time.time(), abs=60))]
    holder = subprocess.Popen([python(), "-c", (
        "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR); fcntl.flock(fd, fcntl.LOCK_EX); "
        "print('locked', flush=True); time.sleep(30)"), reg.path], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        t0 = time.monotonic()
        assert reg.others_on("mine", {"boot/cpu:package-0"}) is None
        assert time.monotonic() - t0 < 1.0
    finally:
        holder.kill()
        holder.wait(timeout=10)
    assert reg.others_on("mine", {"boot/cpu:package-0"}) is not None
