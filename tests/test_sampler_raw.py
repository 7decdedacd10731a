"""Ticks read raw and settled later (src/wattprint/tracking/sampler.py, ``Sampler._keep_raw``).

Between two calls of its listeners the sampler only takes each sensor's raw reading (RAPL: the
counters' bytes) and makes the snapshots when someone needs them. They must be exactly the
snapshots full reads would have made, wraps, bad values and long gaps included, in order, in every
keep list; a sensor that fails or cannot defer, a leaving listener, a fork and ``call_soon`` are
handled without losing a tick.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fake_rapl import RANGE_UJ, make_tree, set_uj
from synthetic_run import FakeClock
from test_sampler import ScriptedSensor
from wattprint.sensors.base import Kind
from wattprint.sensors.cpu.rapl import RaplSensor
from wattprint.tracking.sampler import KEEP_MAX, Sampler, Snapshot

ZONES = ("intel-rapl:0", "intel-rapl:0:0", "intel-rapl:1", "intel-rapl:1:0")


def _sampler(root: Path, clock: FakeClock) -> tuple[Sampler, list[Snapshot]]:
    sensor = RaplSensor(root, cpu_vendor="intel", clock=clock.mono)
    sampler = Sampler([sensor], clock=clock.mono, wall_clock=clock.wall)
    keep: list[Snapshot] = []
    sampler._listeners[0] = (lambda snap: None, 1.0, keep)  # as subscribe() does, without the thread
    sampler._relisten()
    return sampler, keep


def _seen(keep: list[Snapshot]) -> list[tuple[int, float, dict[str, float]]]:
    return [(s.t_ns, s.wall, s.totals) for s in keep]


step = st.tuples(
    st.integers(1, 4_000),  # ms to the next tick (long gaps: the counters' wrap check)
    st.lists(st.integers(0, RANGE_UJ // 3), min_size=4, max_size=4),  # µJ each zone drew
    st.sampled_from(["tick", "tick", "tick", "settle", "read_now", "call", "bad value"]),
)


@settings(max_examples=60, deadline=None)
@given(steps=st.lists(step, min_size=1, max_size=60))
def test_raw_ticks_settle_to_the_snapshots_full_reads_make(tmp_path_factory: pytest.TempPathFactory,
                                                           steps: list[tuple[int, list[int], str]]) -> None:
    root = make_tree(tmp_path_factory.mktemp("rapl"), packages=2, dram=True)
    clock = FakeClock(1_800_000_000.0)
    full, full_keep = _sampler(root, clock)
    raw, raw_keep = _sampler(root, clock)
    try:
        _compare(root, clock, steps, (full, full_keep), (raw, raw_keep))
    finally:  # the counters' files stay open until closed: hundreds of examples would run out
        full.close(), raw.close()


def _compare(root: Path, clock: FakeClock, steps: list[tuple[int, list[int], str]],
             fulls: tuple[Sampler, list[Snapshot]], raws: tuple[Sampler, list[Snapshot]]) -> None:
    (full, full_keep), (raw, raw_keep) = fulls, raws
    # the long-gap check fires after range / 4 kW: make it reachable within the steps
    for sensor in (full._reading[0], raw._reading[0]):
        for z in sensor._zones:  # type: ignore[attr-defined]
            z.wrap_ns = 3e9
    counters = [0] * 4
    for ms, drawn, what in steps:
        clock.advance(ms / 1000)
        for i, zone in enumerate(ZONES):
            counters[i] = (counters[i] + drawn[i]) % (RANGE_UJ + 1)  # wraps as the kernel's does
            set_uj(root, zone, RANGE_UJ + 7 if what == "bad value" and i == 1 else counters[i])
        if what == "read_now":  # a window's edge: both read whole, the raw one settles first
            assert full.read_now().totals == raw.read_now().totals
            continue
        if what == "call":  # the listeners' due tick
            full._call(), raw._call()
            continue
        full._call()
        assert raw._keep_raw() is False
        if what == "settle":  # a run reading its rows
            raw.settle()
            assert _seen(raw_keep) == _seen(full_keep)
    raw.settle()
    assert raw._raw == []
    assert _seen(raw_keep) == _seen(full_keep)
    assert [(f.wall, f.source, f.message) for f in raw.faults] == [(f.wall, f.source, f.message) for f in full.faults]
    assert raw.recent_power_w == full.recent_power_w


def test_kept_raw_ticks_call_the_listeners_at_keep_max(tmp_path: Path) -> None:
    clock = FakeClock(1_800_000_000.0)
    s, keep = _sampler(make_tree(tmp_path / "pc"), clock)
    for n in range(1, KEEP_MAX + 1):
        clock.advance(0.01)
        assert s._keep_raw() is (n == KEEP_MAX)
    assert keep == [] and len(s._raw) == KEEP_MAX
    s.close()


class FailingRaw(ScriptedSensor):
    def __init__(self) -> None:
        super().__init__(Kind.ENERGY, [float(i) for i in range(100)], name="failing")
        self.fail = False

    def read(self) -> dict[str, float]:
        if self.fail:
            raise OSError("the device went away")
        return super().read()


def test_a_sensor_failing_a_raw_read_is_dropped_by_the_full_read_and_no_tick_is_lost() -> None:
    clock = FakeClock(1_800_000_000.0)
    bad, good = FailingRaw(), ScriptedSensor(Kind.ENERGY, [float(10 * i) for i in range(100)], name="good")
    s = Sampler([bad, good], clock=clock.mono, wall_clock=clock.wall)
    keep: list[Snapshot] = []
    s._listeners[0] = (lambda snap: None, 1.0, keep)
    s._relisten()
    for _ in range(3):
        clock.advance(1)
        assert s._keep_raw() is False
    bad.fail = True
    clock.advance(1)
    assert s._keep_raw() is True  # the loop then makes a full tick:
    s._call()
    assert [snap.totals["good:0"] for snap in keep] == [10.0, 20.0, 30.0, 40.0]
    assert [snap.totals["failing:0"] for snap in keep] == [1.0, 2.0, 3.0, 3.0]  # its last total stays
    assert [f.message for f in s.faults] == ["sensor dropped: OSError: the device went away"]
    assert s._reading == (good,) and s._raw_reads is not None  # the rest still reads raw


class Derived(ScriptedSensor):
    """A sensor reading the others' totals (as the platform models do) cannot be read raw."""

    def bind_totals(self, totals: dict[str, float]) -> None:
        self.totals = totals


def test_a_sensor_reading_the_others_totals_makes_every_tick_whole() -> None:
    s = Sampler([ScriptedSensor(Kind.ENERGY, [0.0, 1.0]), Derived(Kind.ENERGY, [0.0], name="derived")])
    assert s._raw_reads is None
    assert s._keep_raw() is True and s._raw == []
    s._drop(s._reading[1], "gone")
    assert s._raw_reads is not None


def test_a_leaving_listener_gets_every_tick_up_to_now_and_the_thread_calls_when_due() -> None:
    s = Sampler([ScriptedSensor(Kind.ENERGY, [float(i) for i in range(100_000)])])
    calls: list[int] = []
    kept_at_call: list[int] = []
    far = 60 * 10**9
    keep: list[Snapshot] = []

    def listener(snap: Snapshot) -> int:
        calls.append(snap.t_ns)
        kept_at_call.append(len(keep))
        return snap.t_ns + far  # a store flushing once a minute

    token = s.subscribe(listener, 0.01, keep=keep)
    deadline = time.monotonic() + 10
    while len(s._raw) < 10 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(calls) == 1 and len(s._raw) >= 10  # called at the first tick, then only kept raw
    s.call_soon()
    while len(calls) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(calls) == 2 and kept_at_call[1] >= 11  # soon: the next tick settled the kept ones, then called
    time.sleep(0.1)
    s.unsubscribe(token)
    assert s._raw == [] and s._thread is not None and not s._thread.is_alive()
    assert len(keep) >= 11 and [k.t_ns for k in keep] == sorted({k.t_ns for k in keep})
    assert keep[-1].totals["scripted:0"] == s.read_now().totals["scripted:0"] - 1  # nothing read is missing


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_settles_what_was_read_raw_but_fills_no_parent_keep_list(tmp_path: Path) -> None:
    clock = FakeClock(1_800_000_000.0)
    root = make_tree(tmp_path / "pc")
    s, keep = _sampler(root, clock)
    for i in range(3):
        clock.advance(1)
        set_uj(root, "intel-rapl:0", (i + 1) * 1_000_000)
        s._keep_raw()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report, then leave at once
        try:
            s.after_fork_in_child()
            os.write(w, f"{len(keep)} {len(s._raw)} {s.read_now().totals['cpu:package-0']}".encode())
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r) as fh:
        got = fh.read()
    os.waitpid(pid, 0)
    assert got == "0 0 3.0"  # the parent's keep list untouched in the child, the counter's state moved on
    assert len(s._raw) == 3 and keep == []
    s.close()


def test_listeners_due_times_decide_the_full_ticks() -> None:
    s = Sampler([ScriptedSensor(Kind.ENERGY, [float(i) for i in range(1000)])])
    got: list[str] = []
    s._listeners[0] = (lambda snap: (got.append("a"), snap.t_ns + 5 * 10**9)[1], 1.0, None)
    s._listeners[1] = (lambda snap: got.append("b"), 1.0, None)  # None: every tick
    s._relisten()
    s._call()
    assert got == ["a", "b"] and s._due_ns == 0  # the every-tick listener wins
    del s._listeners[1]
    s._relisten()
    s._call()
    assert 0 < s._due_ns and not s._soon
    s.call_soon()
    assert s._soon


def test_call_soon_is_not_lost_while_the_listeners_run() -> None:
    s = Sampler([ScriptedSensor(Kind.ENERGY, [float(i) for i in range(1000)])])

    def listener(snap: Snapshot) -> int:
        s.call_soon()  # e.g. a signal handler asking for a flush while the store's listener runs
        return snap.t_ns + 10**12

    s._listeners[0] = (listener, 1.0, None)
    s._relisten()
    s._call()
    assert s._soon


def test_reads_from_other_threads_never_see_totals_go_back(tmp_path: Path) -> None:
    """Raw ticks and read_now from another thread, on real files: every snapshot's totals only grow."""
    root = make_tree(tmp_path / "pc")
    s = Sampler([RaplSensor(root, cpu_vendor="intel")])
    keep: list[Snapshot] = []
    token = s.subscribe(lambda snap: snap.t_ns + 10**12, 0.01, keep=keep)
    stop = threading.Event()

    def grow() -> None:
        uj = 0
        while not stop.is_set():
            uj += 1000
            set_uj(root, "intel-rapl:0", uj)

    writer = threading.Thread(target=grow)
    writer.start()
    edges = []
    deadline = time.monotonic() + 20
    try:  # at least 50 reads here and 10 ticks there, however slowly the threads take turns
        while (len(edges) < 50 or len(keep) + len(s._raw) < 10) and time.monotonic() < deadline:
            edges.append(s.read_now())
            time.sleep(0.005)
    finally:
        stop.set()
        writer.join()
        s.unsubscribe(token)
    snaps = sorted(keep + edges, key=lambda x: x.t_ns)
    totals = [x.totals["cpu:package-0"] for x in snaps]
    assert len(keep) >= 10 and totals == sorted(totals)
    assert not [f for f in s.faults if "outside" in f.message or "wrap" in f.message]
