"""A tick only keeps its reading; the run's rows are made when next read (src/wattprint/tracking/run.py,
``Run._wait``) and the sinks are handed them every tick only when one wants them as they close.

The rows, their running prices and the windows' figures must be exactly those of rows made one by
one; a sink that is ``timely`` must still get each row as it closes; the store still gets every row.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

import wattprint
from fake_rapl import make_tree
from synthetic_run import FakeClock
from test_window_pricing import HOUR, StepSensor, _hourly
from wattprint.sinks.base import Sink
from wattprint.tracking.measure import Interval
from wattprint.tracking.run import Run
from wattprint.tracking.sampler import Sampler


def _runs(watts: list[float], interval_s: float) -> tuple[FakeClock, list[tuple[Sampler, Run]]]:
    clock = FakeClock(HOUR - 1800)
    pairs = []
    for _ in range(2):
        sampler = Sampler([StepSensor(clock, watts)], clock=clock.mono, wall_clock=clock.wall)
        run = Run(name="r", sampler=sampler, interval_s=interval_s, command=None, tags={}, availability=[])
        run.intensity = _hourly([100.0, 400.0])
        pairs.append((sampler, run))
    return clock, pairs


@settings(max_examples=60, deadline=None)
@given(
    watts=st.lists(st.floats(0.0, 500.0), min_size=2, max_size=40),
    steps_ms=st.lists(st.integers(1, 2500), min_size=1, max_size=80),
    reads=st.lists(st.booleans(), min_size=80, max_size=80),
    interval_s=st.sampled_from([0.25, 1.0, 3.0]),
    status=st.sampled_from(["running", "interrupted", "preempted"]),
)
def test_rows_made_later_are_the_rows_made_each_tick(
    watts: list[float], steps_ms: list[int], reads: list[bool], interval_s: float, status: str,
) -> None:
    clock, ((sa, each), (sb, kept)) = _runs(watts, interval_s)
    wa = wb = None
    for i, step in enumerate(steps_ms):
        clock.advance(step / 1000)
        each._on_tick(sa.read_now())
        kept._wait(sb.read_now())
        if i % 7 == 3:  # windows open and close between ticks, priced while the run goes
            if wa is not None and wb is not None:
                wa.close(), wb.close()
                assert wb.emissions_g == wa.emissions_g and wb.energy_j == wa.energy_j
            wa, wb = each.open_window("w"), kept.open_window("w")
        if reads[i]:  # someone reads the rows now (a sink's delivery, current(), the program)
            assert [iv.to_dict() for iv in kept.timeline] == [iv.to_dict() for iv in each.timeline]
            assert kept.current().emissions_g == each.current().emissions_g
    clock.advance(0.5)
    each.status = kept.status = status  # as stop() sets a signal's or an exception's status first
    each._finish(sa.read_now())
    kept._finish(sb.read_now())
    assert kept._waiting == []
    assert [iv.to_dict() for iv in kept.timeline] == [iv.to_dict() for iv in each.timeline]
    assert kept.timeline.appended == each.timeline.appended
    assert (kept.energy_j, kept.emissions_g) == (each.energy_j, each.emissions_g)
    for run in (each, kept):
        run.price(_hourly([100.0, 400.0]))
    assert [w.emissions_g for w in kept.windows] == [w.emissions_g for w in each.windows]
    assert kept.emissions_g == each.emissions_g


def test_kept_readings_are_bounded_whatever_the_flush_period() -> None:
    from wattprint.tracking.run import KEEP_MAX

    clock, ((sa, each), (sb, kept)) = _runs([50.0] * 5, 1.0)
    for _ in range(KEEP_MAX * 3 + 7):
        clock.advance(0.01)
        kept._wait(sb.read_now())
        assert len(kept._waiting) < KEEP_MAX
    assert kept._timeline.appended >= 5  # rows were made along the way (one per 100 readings here)
    assert kept.timeline.appended == kept._timeline.appended


class Timely(Sink):
    name = "timely"

    def __init__(self) -> None:
        self.rows: list[tuple[float, Interval]] = []

    def interval(self, run: Run, interval: Interval) -> None:
        self.rows.append((time.monotonic(), interval))


def _until(done: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def _stored_rows(db: Path, run_id: str) -> int:
    from wattprint.store.sqlite import SqliteStore

    if not db.exists():
        return 0
    store = SqliteStore.open(db)
    try:
        return sum(1 for r in store.list_runs() if r["id"] == run_id) and len(store.get_run(run_id)["timeline"])
    finally:
        store.close()


def _tracker(tmp_path: Path, **kw: object) -> wattprint.Tracker:
    return wattprint.Tracker("b", rapl_root=str(make_tree(tmp_path / "pc")), gpus="none", country="FR",
                             interval=0.02, store=str(tmp_path / "b.db"), **kw)  # type: ignore[arg-type]


def test_with_only_the_store_ticks_are_kept_raw_until_the_rows_are_read(tmp_path: Path) -> None:
    t = _tracker(tmp_path, flush_every_s=3600)
    run = t.start()
    try:
        _until(lambda: len(t._sampler._raw) >= 5)  # ticks read raw: no snapshot, no row made yet
        raw = len(t._sampler._raw)
        assert len(run._waiting) <= 2 and run._timeline.appended == 0  # the first tick calls the tracker
        made = run.timeline.appended
        assert made >= raw // 2  # a tick early by jitter makes no row
        # settled: at most the one tick the sampler may have taken since, and nothing kept waiting
        assert len(t._sampler._raw) <= 1 and run._waiting == []
    finally:
        t.stop()
    assert _stored_rows(tmp_path / "b.db", run.id) == run.timeline.appended > made


def test_a_timely_sink_gets_each_row_as_it_closes(tmp_path: Path) -> None:
    sink = Timely()
    t = _tracker(tmp_path, flush_every_s=3600, sinks=[sink])
    run = t.start()
    try:
        _until(lambda: len(sink.rows) >= 5)
        assert len(run._waiting) <= 1 and t._sampler._raw == []  # every tick read whole
    finally:
        t.stop()
    assert len(sink.rows) == run.timeline.appended


def test_each_flush_writes_the_rows_kept_since_the_last(tmp_path: Path) -> None:
    t = _tracker(tmp_path, flush_every_s=0.1)
    run = t.start()
    try:
        run.progress(1, 10)  # the header's prediction reads the rows too, under the run's lock
        deadline = time.monotonic() + 10
        stored = 0
        while stored < 10 and time.monotonic() < deadline:
            time.sleep(0.05)
            run.progress(2, 10)
            stored = _stored_rows(tmp_path / "b.db", run.id)
        assert stored >= 10  # written while the run goes, flush by flush
    finally:
        t.stop()
