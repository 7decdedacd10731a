"""The sink seam: hooks, their order, dropped sinks, and the store written off the job's path."""

from __future__ import annotations

import io
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import wattprint
from fake_rapl import make_tree, set_uj
from local_http import LocalServer
from wattprint.sinks.base import HOOKS, Sink
from wattprint.sinks.jsonfile import JsonFileSink
from wattprint.sinks.live import LiveSink
from wattprint.sinks.store import StoreSink
from wattprint.store.sqlite import SqliteStore

SRC = str(Path(__file__).resolve().parents[1] / "src")


def wait_for(cond: Callable[[], bool], timeout: float = 20.0) -> None:
    """Poll ``cond`` until true; a generous bound so a slow machine never fails it."""
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


class Recorder(Sink):
    """Logs every hook with its argument and the thread that called it."""

    name = "recorder"

    def __init__(self) -> None:
        self.log: list[tuple[str, Any, str]] = []
        self.closed = 0

    def _note(self, hook: str, arg: Any = None) -> None:
        self.log.append((hook, arg, threading.current_thread().name))

    def started(self, run: Any) -> None:
        self._note("started")

    def interval(self, run: Any, interval: Any) -> None:
        self._note("interval", interval)

    def window(self, run: Any, window: Any) -> None:
        self._note("window", window)

    def flushed(self, run: Any) -> None:
        self._note("flushed")

    def finished(self, run: Any) -> None:
        self._note("finished")

    def close(self) -> None:
        self.closed += 1

    def hooks(self, name: str) -> list[Any]:
        return [arg for hook, arg, _ in self.log if hook == name]


class Raiser(Recorder):
    """Raises from one hook (and records every call it gets)."""

    name = "raiser"

    def __init__(self, hook: str) -> None:
        super().__init__()
        self.bad = hook

    def _note(self, hook: str, arg: Any = None) -> None:
        super()._note(hook, arg)
        if hook == self.bad:
            raise RuntimeError(f"boom in {hook}")


class CountingStore:
    """A real SqliteStore, with what each write was handed counted."""

    def __init__(self, path: str | None) -> None:
        self.inner = SqliteStore.open(path)
        self.progress: list[tuple[int, int]] = []  # (rows, windows) per flush
        self.final: list[tuple[int, int, int]] = []  # (rows, windows, repriced)

    def save_progress(self, header: Any, rows: Any, windows: Any) -> None:
        rows, windows = list(rows), list(windows)
        self.inner.save_progress(header, rows, windows)
        self.progress.append((len(rows), len(windows)))

    def save_final(self, header: Any, rows: Any, windows: Any, repriced: Any) -> None:
        rows, windows, repriced = list(rows), list(windows), list(repriced)
        self.inner.save_final(header, rows, windows, repriced)
        self.final.append((len(rows), len(windows), len(repriced)))

    def close(self) -> None:
        self.inner.close()


@pytest.fixture
def rapl(tmp_path: Path) -> Path:
    return make_tree(tmp_path / "pc", packages=1)


def tracker(rapl: Path, **kw: Any) -> wattprint.Tracker:
    opts: dict[str, Any] = dict(rapl_root=rapl, gpus="none", country="FR", interval=0.01, flush_every_s=0.0)
    opts.update(kw)
    return wattprint.Tracker("sinks", **opts)


@pytest.mark.parametrize("hook", HOOKS)
def test_a_sink_that_raises_is_dropped_and_recorded_and_the_run_is_stored(
    rapl: Path, tmp_path: Path, hook: str
) -> None:
    db = tmp_path / "runs.db"
    bad, good = Raiser(hook), Recorder()
    t = tracker(rapl, store=db, sinks=[bad, good])
    run = t.start()
    with run.window("w"):
        set_uj(rapl, "intel-rapl:0", 2_000_000)
    # every sampler-thread hook has come round at least once before stopping
    wait_for(lambda: all(good.hooks(h) for h in ("interval", "window", "flushed")))
    with pytest.warns(wattprint.WattprintWarning, match="sink:raiser"):
        run = t.stop()
    faults = [f for f in run.faults if f.source == "sink:raiser"]
    assert len(faults) == 1 and hook in faults[0].message and "boom" in faults[0].message
    assert len(bad.hooks(hook)) == 1  # dropped at once: never called again
    assert bad.log[-1][0] == hook and bad.closed == 1
    assert good.hooks("finished") == [None]  # the other sinks go on
    assert run.status == "finished" and run.energy_j == pytest.approx(2.0)
    stored = SqliteStore.open(db).get_run(run.id)
    assert stored["status"] == "finished"
    assert stored["energy_j"] == pytest.approx(2.0)
    if hook != "finished":  # a fault met before the final write is stored with the run
        assert any(f["source"] == "sink:raiser" for f in stored["faults"])


def test_hook_order_and_counts_for_a_run_with_windows(rapl: Path) -> None:
    rec = Recorder()
    t = tracker(rapl, store=False, sinks=[rec], flush_every_s=0.05)
    run = t.start()
    for i in range(3):
        with run.window(f"w{i}"):
            set_uj(rapl, "intel-rapl:0", 1_000_000 * (i + 1))
        wait_for(lambda i=i: len(rec.hooks("window")) == i + 1)  # noqa: B023 - bound by the default
    wait_for(lambda: len(rec.hooks("flushed")) >= 2)
    run = t.stop()
    hooks = [h for h, _, _ in rec.log]
    assert hooks[0] == "started" and hooks[-1] == "finished" and hooks.count("finished") == 1
    assert hooks.count("started") == 1 and rec.closed == 1
    # each row and window exactly once, in order, the very objects of the run
    assert rec.hooks("interval") == run.timeline
    assert [w.name for w in rec.hooks("window")] == ["w0", "w1", "w2"]
    assert all(a is b for a, b in zip(rec.hooks("window"), run.windows, strict=True))
    # a window is delivered after it closed, never from the thread that closed it
    main = threading.current_thread().name
    assert {th for h, _, th in rec.log if h in ("window", "flushed")} == {"wattprint-sampler"}
    assert {th for h, _, th in rec.log if h == "interval"} <= {"wattprint-sampler", main}
    assert [th for h, _, th in rec.log if h in ("started", "finished")] == [main, main]


def test_a_user_sink_receives_every_interval(rapl: Path) -> None:
    rec = Recorder()
    t = tracker(rapl, store=False, sinks=[rec], interval=0.02)
    run = t.start()
    for k in range(1, 6):
        set_uj(rapl, "intel-rapl:0", 700_000 * k)
        time.sleep(0.03)
    wait_for(lambda: len(rec.hooks("interval")) >= 1)  # a row closed by a tick, whatever the load
    run = t.stop()
    rows = rec.hooks("interval")
    assert len(rows) == len(run.timeline) >= 2
    assert rows[0].t0_s == 0.0 and rows[-1].t1_s == pytest.approx(run.duration_s)
    assert all(a.t1_s == b.t0_s for a, b in zip(rows, rows[1:], strict=False))  # no gap, no overlap
    got = sum(iv.energy_j["cpu:package-0"] for iv in rows)
    assert got == pytest.approx(run.channels["cpu:package-0"].energy_j) == pytest.approx(3.5)


def test_a_sink_added_to_a_running_tracker_is_told_it_started(rapl: Path) -> None:
    t = tracker(rapl, store=False)
    run = t.start()
    rec = Recorder()
    t.add_sink(rec)
    wait_for(lambda: bool(rec.hooks("interval")))
    t.stop()
    assert rec.log[0][0] == "started" and rec.log[-1][0] == "finished"
    assert rec.hooks("interval") == run.timeline[-len(rec.hooks("interval")):]


def test_a_flush_writes_only_new_windows_and_rows(rapl: Path, tmp_path: Path) -> None:
    db = str(tmp_path / "runs.db")
    holder: list[CountingStore] = []

    def opener(path: str | None) -> CountingStore:
        holder.append(CountingStore(path))
        return holder[0]

    t = tracker(rapl, store=False, sinks=[StoreSink(db, opener=opener)])
    run = t.start()
    for i in range(5):
        with run.window(f"a{i}"):
            set_uj(rapl, "intel-rapl:0", 100_000 * (i + 1))
    wait_for(lambda: bool(holder) and sum(w for _, w in holder[0].progress) == 5)
    seen = len(holder[0].progress)
    wait_for(lambda: len(holder[0].progress) >= seen + 5)  # idle flushes go on
    assert all(w == 0 for _, w in holder[0].progress[seen:])  # ...and write no window again
    for i in range(2):
        with run.window(f"b{i}"):
            set_uj(rapl, "intel-rapl:0", 1_000_000 * (i + 1))
    run = t.stop()
    store = holder[0]
    written = sum(w for _, w in store.progress) + sum(w for _, w, _ in store.final)
    assert written == len(run.windows) == 7  # each window once
    rows = sum(r for r, _ in store.progress) + sum(r for r, _, _ in store.final)
    assert rows == len(run.timeline)  # each row once
    assert [r for _, _, r in store.final] == [0]  # the intensity never changed: nothing re-priced
    got = SqliteStore.open(db).get_run(run.id)
    assert [w["name"] for w in got["windows"]] == [w.name for w in run.windows]
    assert [w["energy_j"] for w in got["windows"]] == pytest.approx([w.energy_j for w in run.windows])
    assert [w["emissions_g"] for w in got["windows"]] == pytest.approx([w.emissions_g for w in run.windows])
    assert len(got["timeline"]) == len(run.timeline)
    assert got["energy_j"] == pytest.approx(run.energy_j) == pytest.approx(2.0)


def test_windows_written_before_the_final_intensity_are_repriced_at_the_end(
    rapl: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A live provider (served on 127.0.0.1) changes the figure at the end: stored windows follow."""
    hour = int(time.time() // 3600) * 3600

    def iso(t: float) -> str:
        return time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime(t))

    body = json.dumps({"data": [
        {"from": iso(hour + k * 1800), "to": iso(hour + (k + 1) * 1800), "intensity": {"actual": 50}}
        for k in range(-4, 6)
    ]}).encode()
    server = LocalServer(lambda m, p, h: (200, {"Content-Type": "application/json"}, body))
    monkeypatch.setenv("WATTPRINT_UK_CARBON_INTENSITY", "1")
    monkeypatch.setenv("WATTPRINT_UK_CARBON_INTENSITY_URL", server.url)
    holder: list[CountingStore] = []

    def opener(path: str | None) -> CountingStore:
        holder.append(CountingStore(path))
        return holder[0]

    db = str(tmp_path / "runs.db")
    try:
        t = tracker(rapl, country="GB", store=False, sinks=[StoreSink(db, opener=opener)])
        run = t.start()
        for i in range(3):
            with run.window(f"w{i}"):
                set_uj(rapl, "intel-rapl:0", 1_000_000 * (i + 1))
        wait_for(lambda: bool(holder) and sum(w for _, w in holder[0].progress) == 3)
        provisional = [w.emissions_g for w in run.windows]
        run = t.stop()
    finally:
        server.close()
    assert run.intensity is not None and run.intensity.series  # the live series arrived
    assert [r for _, _, r in holder[0].final] == [3]  # the windows written while running, once
    got = SqliteStore.open(db).get_run(run.id)["windows"]
    final = [w.emissions_g for w in run.windows]
    assert final == pytest.approx([w.energy_j / 3.6e6 * 50 * run.intensity.pue for w in run.windows])
    assert final != pytest.approx(provisional)
    assert [w["emissions_g"] for w in got] == pytest.approx(final)
    assert [w["channels"]["cpu:package-0"]["emissions_g"] for w in got] == pytest.approx(
        [w.channels["cpu:package-0"].emissions_g for w in run.windows])


def test_flushes_go_on_when_the_wall_clock_steps_back(rapl: Path, tmp_path: Path) -> None:
    holder: list[CountingStore] = []

    def opener(path: str | None) -> CountingStore:
        holder.append(CountingStore(path))
        return holder[0]

    t = tracker(rapl, store=False, sinks=[StoreSink(str(tmp_path / "r.db"), opener=opener)],
                flush_every_s=0.05)
    t.start()
    wait_for(lambda: bool(holder) and len(holder[0].progress) >= 2)
    assert t._sampler is not None
    t._sampler._wall = lambda: 86_400.0  # the system clock jumps back to 1970
    seen = len(holder[0].progress)
    wait_for(lambda: len(holder[0].progress) >= seen + 3)
    t.stop()


def _hold_write_lock(db: Path) -> sqlite3.Connection:
    """Another process's writer: a real second connection inside BEGIN IMMEDIATE."""
    SqliteStore.open(db).close()  # the database exists, migrated
    conn = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    conn.execute("BEGIN IMMEDIATE")
    return conn


def test_the_child_starts_at_once_while_the_database_is_locked(rapl: Path, tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    out = tmp_path / "run.json"
    held_s = 4.0  # the child (python -c pass) ends well before; the final write waits up to 5 s for it
    conn = _hold_write_lock(db)
    release = threading.Timer(held_s, conn.rollback)
    release.start()
    try:
        r = subprocess.run(
            [sys.executable, "-m", "wattprint.cli.main", "run", "--rapl-root", str(rapl), "--country", "FR",
             "--db", str(db), "--json", str(out), "-q", "--", sys.executable, "-c", "pass"],
            capture_output=True, text=True, timeout=60, env=dict(os.environ, PYTHONPATH=SRC),
        )
    finally:
        release.join(timeout=30)
        conn.close()
    assert r.returncode == 0, r.stderr
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["duration_s"] < held_s - 1.0  # the lock wait is not the run's duration
    assert [f for f in data["faults"] if f["source"] == "store"] == []
    got = SqliteStore.open(db).get_run(data["id"])  # stored once the lock went
    assert got["status"] == "finished" and got["duration_s"] == pytest.approx(data["duration_s"])


def test_a_store_write_still_pending_is_a_fault_and_lands_once_the_lock_goes(
    rapl: Path, tmp_path: Path
) -> None:
    db = tmp_path / "runs.db"
    conn = _hold_write_lock(db)
    try:
        t = tracker(rapl, store=False, sinks=[StoreSink(db, wait_s=0.5)])
        t0 = time.monotonic()
        run = t.start()
        started_s = time.monotonic() - t0
        with pytest.warns(wattprint.WattprintWarning, match="still pending"):
            run = t.stop()
        stop_s = time.monotonic() - t0 - started_s
    finally:
        conn.rollback()
        conn.close()
    assert started_s < 5.0 and stop_s < 8.0  # the database's 10 s busy wait is nobody's
    assert any(f.source == "store" and "still pending" in f.message for f in run.faults)
    store = SqliteStore.open(db)
    wait_for(lambda: any(r["id"] == run.id and r["status"] == "finished" for r in store.list_runs()))


def test_a_store_that_cannot_be_opened_is_a_fault_and_the_run_still_reaches_json(
    rapl: Path, tmp_path: Path
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    out = tmp_path / "run.json"
    t = tracker(rapl, store=blocker / "sub" / "runs.db", sinks=[JsonFileSink(out)])
    t.start()
    with pytest.warns(wattprint.WattprintWarning, match="not storing this run"):
        run = t.stop()
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["id"] == run.id and data["status"] == "finished"
    assert any(f["source"] == "store" and "cannot use database" in f["message"] for f in data["faults"])


def test_json_that_cannot_be_written_is_one_line_and_a_fault(rapl: Path, tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    bad = tmp_path / "missing-dir" / "run.json"
    r = subprocess.run(
        [sys.executable, "-m", "wattprint.cli.main", "run", "--rapl-root", str(rapl), "--country", "FR",
         "--db", str(db), "--json", str(bad), "--", sys.executable, "-c", "pass"],
        capture_output=True, text=True, timeout=60, env=dict(os.environ, PYTHONPATH=SRC),
    )
    assert r.returncode == 0
    lines = r.stderr.splitlines()
    assert sum(line.startswith(f"wattprint: error: cannot write {bad}") for line in lines) == 1
    assert any("sink:json" in line for line in lines)  # and in the summary, as a fault
    assert SqliteStore.open(db).list_runs()[0]["status"] == "finished"


class FlakyStore(CountingStore):
    """A real store whose first ``fail_progress`` flushes fail (a disk briefly full), and the final if asked."""

    def __init__(self, path: str | None, fail_progress: int, fail_final: bool) -> None:
        super().__init__(path)
        self.fail_progress, self.fail_final = fail_progress, fail_final

    def save_progress(self, header: Any, rows: Any, windows: Any) -> None:
        if self.fail_progress > 0:
            self.fail_progress -= 1
            raise sqlite3.OperationalError("database or disk is full")
        super().save_progress(header, rows, windows)

    def save_final(self, header: Any, rows: Any, windows: Any, repriced: Any) -> None:
        if self.fail_final:
            raise sqlite3.OperationalError("database or disk is full")
        super().save_final(header, rows, windows, repriced)


def test_failed_flushes_are_one_fault_and_their_rows_go_with_the_next(rapl: Path, tmp_path: Path) -> None:
    db = str(tmp_path / "runs.db")
    holder: list[FlakyStore] = []

    def opener(path: str | None) -> FlakyStore:
        holder.append(FlakyStore(path, fail_progress=4, fail_final=False))
        return holder[0]

    with pytest.warns(wattprint.WattprintWarning, match="disk is full"), wattprint.track(
        "flaky", rapl_root=rapl, gpus="none", country="FR", interval=0.01, flush_every_s=0.0,
        store=False, sinks=[StoreSink(db, opener=opener)],
    ) as run:
        with run.window("w"):
            set_uj(rapl, "intel-rapl:0", 2_000_000)
        wait_for(lambda: bool(holder) and len(holder[0].progress) >= 2)  # written again after the failures
    assert run.tags == {}  # sinks= is an option, not a tag
    faults = [f for f in run.faults if f.source == "store"]
    assert len(faults) == 1 and "disk is full" in faults[0].message and "retrying" in faults[0].message
    got = SqliteStore.open(db).get_run(run.id)
    assert len(got["timeline"]) == len(run.timeline)  # nothing lost, nothing twice
    assert [w["name"] for w in got["windows"]] == ["w"]
    assert got["energy_j"] == pytest.approx(2.0) and got["status"] == "finished"
    assert [f["source"] for f in got["faults"]] == ["store"]


def test_a_failed_final_write_is_a_fault_in_the_summary_and_the_json(rapl: Path, tmp_path: Path) -> None:
    out = tmp_path / "run.json"

    def opener(path: str | None) -> FlakyStore:
        return FlakyStore(path, fail_progress=0, fail_final=True)

    t = tracker(rapl, store=False, sinks=[StoreSink(str(tmp_path / "r.db"), opener=opener), JsonFileSink(out)])
    t.start()
    with pytest.warns(wattprint.WattprintWarning, match="could not store the run"):
        run = t.stop()
    from wattprint.report.text import summary

    assert "! store: could not store the run: database or disk is full" in summary(run.to_dict())
    data = json.loads(out.read_text(encoding="utf-8"))
    assert any("could not store the run" in f["message"] for f in data["faults"])


def test_the_live_view_is_shown_from_started_to_finished(rapl: Path) -> None:
    out = io.StringIO()
    live = LiveSink(mode="plain", stream=out, progress_every_s=0.05, refresh_s=0.05)
    t = tracker(rapl, store=False, sinks=[live])
    t.start()
    assert live.view is not None
    set_uj(rapl, "intel-rapl:0", 2_000_000)
    wait_for(lambda: "| " in out.getvalue())
    view = live.view
    t.stop()
    assert live.view is None and view.error is None
    shown = out.getvalue()
    time.sleep(0.3)  # six refresh periods: a view still running would have printed again
    assert out.getvalue() == shown
    assert shown.splitlines()[0].startswith("wattprint: ") and " cpu " in shown


def test_a_sink_that_stops_the_tracker_from_the_sampler_thread_does_not_hang(rapl: Path) -> None:
    """Against the rules, but it must not hang: in a process of its own, so a hang fails the test."""
    code = (
        "import time, wattprint\n"
        "from wattprint.sinks import Sink\n"
        "class Stopper(Sink):\n"
        "    name = 'stopper'\n"
        "    def interval(self, run, interval):\n"
        "        t.stop()\n"
        f"t = wattprint.Tracker(rapl_root={str(rapl)!r}, gpus='none', country='FR', store=False,\n"
        "                      interval=0.01, sinks=[Stopper()])\n"
        "run = t.start()\n"
        "deadline = time.monotonic() + 20\n"
        "while run.status == 'running' and time.monotonic() < deadline:\n"
        "    time.sleep(0.01)\n"
        "print(run.status, t.stop() is run)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, PYTHONPATH=SRC))
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["finished", "True"]


@pytest.mark.parametrize("bad", [5, "store", [object()]])
def test_sinks_that_are_not_sinks_are_refused_at_once(rapl: Path, bad: object) -> None:
    with pytest.raises(wattprint.ConfigError, match="sinks wants a list of Sink objects"):
        tracker(rapl, store=False, sinks=bad)
