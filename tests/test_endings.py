"""The stop signal's door (src/wattprint/tracking/endings.py): once the stopper has taken the
open runs, a run that starts waits instead of being written as running and never finished (the
process dies of the signal right after), and runs that joined while the stop went on are
stopped too."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

import wattprint
from fake_rapl import make_tree
from wattprint.errors import WattprintWarning
from wattprint.tracking import endings


def test_a_run_starting_while_a_stop_signal_ends_the_process_waits(tmp_path: Path) -> None:
    db = tmp_path / "w.db"
    t = wattprint.Tracker("late", rapl_root=str(make_tree(tmp_path / "pc")), store=str(db), gpus="none",
                          country="FR", interval=0.05)
    endings._stopper.alive.clear()  # what the stopper does before it stops the open runs
    # (started off the main thread, the run says it cannot install a signal handler there)
    with pytest.warns(WattprintWarning, match="outside the main thread"):
        try:
            starter = threading.Thread(target=t.start)
            starter.start()
            time.sleep(0.5)
            assert starter.is_alive() and t not in endings._active
            assert not db.exists()  # nothing written: no run left "running" when the process dies
        finally:
            endings._stopper.alive.set()  # the process outlived the signal: the run goes on
        starter.join(10)
    assert not starter.is_alive() and t in endings._active
    run = t.stop()
    assert run.status == "finished" and t not in endings._active


class Fake:
    def __init__(self, joins: list[Fake]) -> None:
        self.joins = joins
        self.stops = 0

    def _stop_urgently(self, status: str) -> None:
        self.stops += 1
        endings._active.discard(self)
        for other in self.joins:  # a run another thread started while this one was being stopped
            endings._active.add(other)


class Stuck(Fake):
    def _stop_urgently(self, status: str) -> None:
        self.stops += 1  # stays in _active (its own thread is still writing it)


def test_the_stop_also_stops_runs_that_joined_meanwhile_each_once() -> None:
    late, stuck = Fake([]), Stuck([])
    first = Fake([late, stuck])
    saved = set(endings._active)
    endings._active.clear()
    endings._active.add(first)
    try:
        endings._stop_all_urgently()
        assert (first.stops, late.stops, stuck.stops) == (1, 1, 1)
        assert endings._active == {stuck}  # tried once, not spun on
    finally:
        endings._active.clear()
        endings._active.update(saved)
