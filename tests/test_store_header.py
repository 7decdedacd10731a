"""A run's row and channels as a store writes them again: only what changed, and the same result
as writing them whole.

Each flush of a running run rewrites its header (duration, totals, faults...). The store
remembers what it last committed for each run and writes the changed columns and channel
totals only; these tests hold it to the same database content as a whole write, on SQLite and
on a real PostgreSQL server, through changes of every kind, a row removed meanwhile and a write
rolled back.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from store_fixtures import STORE_KINDS, raw
from wattprint.store.open import open_store
from wattprint.tracking.measure import Interval

pytestmark = pytest.mark.timeout(120)

START = 1.7e9


@pytest.fixture(params=STORE_KINDS)
def two_targets(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """Two fresh, empty stores of one kind: where a run is written step by step, and where each
    step is written whole into a store that never saw the run."""
    if request.param == "sqlite":
        yield str(tmp_path / "steps.db"), str(tmp_path / "whole.db")
        return
    server = request.getfixturevalue("pg_server")
    yield server.new_database(), server.new_database()


def _channel(name: str, component: str, detail: str = "", emissions_g: float | None = 0.0) -> dict[str, Any]:
    return {"name": name, "component": component, "method": "counter", "band": 0.05, "in_total": True,
            "detail": detail, "energy_j": 0.0, "emissions_g": emissions_g}


def _head(**over: Any) -> dict[str, Any]:
    head: dict[str, Any] = {
        "id": "run1", "name": "train", "status": "running", "start_utc": START, "duration_s": 0.0,
        "energy_j": 0.0, "emissions_g": 0.0, "host": "h", "interval_s": 1.0, "faults": [],
        "sensors": ["rapl"], "intensity": {"location": "FR", "source": "table", "g_per_kwh": 50.0},
        "channels": {"cpu:package-0": _channel("cpu:package-0", "cpu")},
    }
    head.update(over)
    return head


def _rows(n: int, start: int = 0, joules: float = 2.0) -> list[Interval]:
    return [Interval(float(i), float(i + 1), START + i, {"cpu:package-0": joules, "dram:package-0": joules / 4})
            for i in range(start, start + n)]


def _stored(target: str) -> dict[str, Any]:
    got = dict(open_store(target).get_run("run1", timeline=False))
    got.pop("timeline_intervals", None)
    return got


two_channels = {"cpu:package-0": _channel("cpu:package-0", "cpu"),
                "dram:package-0": _channel("dram:package-0", "dram")}
# each step: (header, rows new at that step, final write?)
STEPS: list[tuple[dict[str, Any], list[Interval], bool]] = [
    (_head(), [], False),
    (_head(), _rows(3), False),  # duration and totals only
    (_head(), [], False),  # nothing new at all
    (_head(faults=[{"source": "store", "message": "x"}], progress={"done": 3, "total": 10}), _rows(2, 3), False),
    (_head(channels=two_channels), _rows(1, 5), False),  # a channel came
    (_head(channels={**two_channels, "cpu:package-0": _channel("cpu:package-0", "cpu", "now with a detail")}),
     [], False),  # a channel's description changed
    (_head(channels={"dram:package-0": _channel("dram:package-0", "dram", emissions_g=None)}), _rows(1, 6),
     False),  # one went, and the other has no emissions figure
    (_head(status="finished", end_utc=START + 9, exit_code=0, duration_s=9.0, energy_j=17.5, emissions_g=0.2,
           channels={"dram:package-0": {**_channel("dram:package-0", "dram"), "energy_j": 17.5,
                                        "emissions_g": 0.2}}),
     _rows(2, 7), True),
]


def test_each_write_leaves_the_database_as_a_whole_write_would(two_targets: tuple[str, str]) -> None:
    steps_db, whole_db = two_targets
    steps = open_store(steps_db)
    every_row: list[Interval] = []
    for k, (head, rows, final) in enumerate(STEPS):
        every_row += rows
        (steps.save_final if final else steps.save_progress)(head, rows)
        whole = open_store(whole_db)  # a store object that never wrote the run, on an empty database
        for table in ("channels", "timeline_chunks", "timeline_rollup", "runs"):
            raw(whole_db, f"DELETE FROM {table}")  # noqa: S608 - our tables
        (whole.save_final if final else whole.save_progress)(head, every_row)
        whole.close()
        assert _stored(steps_db) == _stored(whole_db), f"step {k}"
    steps.close()
    final = _stored(steps_db)
    assert final["status"] == "finished" and list(final["channels"]) == ["dram:package-0"]


def _statements(db: str) -> tuple[Any, list[str]]:
    store = open_store(db)
    said: list[str] = []
    store._conn.set_trace_callback(said.append)
    return store, said


def test_a_flush_of_a_running_run_updates_only_its_changed_columns(tmp_path: Path) -> None:
    db = str(tmp_path / "runs.db")
    store, said = _statements(db)
    store.save_progress(_head(channels=two_channels), _rows(2))
    assert any(s.startswith("INSERT INTO runs") for s in said)  # the first write is whole
    said.clear()
    store.save_progress(_head(channels=two_channels), _rows(3, 2))
    runs = [s for s in said if " runs " in f" {s} " or s.startswith("UPDATE runs")]
    assert len(runs) == 1 and runs[0].startswith("UPDATE runs SET duration_s=")
    assert "energy_j=" in runs[0] and "name=" not in runs[0]
    assert "faults=" not in runs[0] and "sensors=" not in runs[0]  # unchanged: not sent
    assert not any(s.startswith(("DELETE FROM channels", "INSERT INTO channels")) for s in said)
    assert sum(s.startswith("UPDATE channels SET energy_j=") for s in said) == 2
    said.clear()
    store.save_progress(_head(channels=two_channels))  # nothing new: no statement for the row
    assert not any("runs" in s or "channels" in s for s in said if not s.startswith("SELECT"))
    store.close()
    got = open_store(db).get_run("run1")
    assert got["duration_s"] == 5.0 and got["energy_j"] == pytest.approx(12.5)
    assert got["channels"]["dram:package-0"]["energy_j"] == pytest.approx(2.5)


def test_a_row_removed_meanwhile_is_written_whole_again(two_targets: tuple[str, str]) -> None:
    db, _ = two_targets
    store = open_store(db)
    store.save_progress(_head(channels=two_channels), _rows(2))
    raw(db, "DELETE FROM channels WHERE run_id='run1'")
    raw(db, "DELETE FROM runs WHERE id='run1'")  # by hand, or `db copy` of another run1 meanwhile
    store.save_progress(_head(channels=two_channels, name="ignored"), _rows(1, 2))
    store.close()
    got = _stored(db)
    assert got["status"] == "running" and got["duration_s"] == 3.0 and set(got["channels"]) == set(two_channels)
    assert got["channels"]["cpu:package-0"]["energy_j"] == pytest.approx(6.0)


class _FailOnce(sqlite3.Connection):
    """A connection whose first timeline-chunk insert fails: the write it belongs to rolls back."""

    failed = False

    def executemany(self, sql: str, params: Any, /) -> sqlite3.Cursor:  # type: ignore[override]
        if sql.startswith("INSERT INTO timeline_chunks") and not _FailOnce.failed:
            _FailOnce.failed = True
            raise sqlite3.OperationalError("disk I/O error (injected)")
        return super().executemany(sql, params)


def test_a_write_rolled_back_is_written_again_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = str(tmp_path / "runs.db")
    store = open_store(db)
    store.save_progress(_head(), _rows(2))
    store.close()
    real_connect = sqlite3.connect
    monkeypatch.setattr(sqlite3, "connect", lambda *a, **k: real_connect(*a, **{**k, "factory": _FailOnce}))
    _FailOnce.failed = True  # not yet
    store = open_store(db)
    store.save_progress(_head(), _rows(1, 2))  # a fresh store object: it remembers nothing yet
    _FailOnce.failed = False
    changed = _head(faults=[{"source": "x", "message": "y"}])
    with pytest.raises(sqlite3.OperationalError, match="injected"):
        store.save_progress(changed, _rows(1, 3))  # the row's update is rolled back with the chunk
    store.save_progress(changed, _rows(1, 3))  # so this write must send the faults again
    store.close()
    got = _stored(db)
    assert got["faults"] == [{"source": "x", "message": "y"}] and got["duration_s"] == 4.0


def test_a_run_imported_over_itself_by_the_store_that_wrote_it_is_all_there(two_targets: tuple[str, str]) -> None:
    db, _ = two_targets
    store = open_store(db)
    store.save_progress(_head(channels=two_channels), _rows(2))
    record = store.get_run("run1", timeline=False)
    rows = list(store.iter_timeline("run1"))
    store.import_run(record, rows)  # deletes the run, then writes it again: nothing it remembered is there
    store.close()
    got = _stored(db)
    assert got["status"] == "running" and set(got["channels"]) == set(two_channels)
    assert got["duration_s"] == 2.0
