"""The runs list's filters, answered by the database (store/runquery.py), on SQLite and on a real
PostgreSQL server alike: every filter, paging, totals' columns, the values the form offers."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from synthetic_run import SyntheticRun
from wattprint.dashboard.query import PAGE_SIZE, QueryError, RunFilter, group_totals, page
from wattprint.intensity.base import Intensity
from wattprint.store.open import open_store
from wattprint.store.runquery import RunWhere

WALL0 = 1_800_000_000.0  # 2027-01-15 08:00 UTC
_TEMPLATE: dict[str, Any] = {}


def _template() -> dict[str, Any]:
    if not _TEMPLATE:
        one = SyntheticRun(wall0=WALL0, watts=(100.0, 5.0))
        one.tick(10)
        one.stop(Intensity(56.0, "test", "FR"))
        _TEMPLATE.update(one.run.to_dict(with_timeline=False, with_windows=False))
    return _TEMPLATE


def _save(store: Any, i: int, **kw: Any) -> None:
    t = _template()
    store.save_final({**t, "id": f"r{i:03d}", "name": "job", "status": "finished", "host": "node-a",
                      "start_utc": WALL0 + i * 86400.0, "tags": {}, "command": ["python", "t.py"],
                      "pid": 0, **kw})


def _ids(store: Any, **params: str) -> list[str]:
    runs, total = store.find_runs(RunFilter.from_params(params).where())
    assert total == len(runs)
    return sorted(r["id"] for r in runs)


def test_every_filter_is_answered_by_the_database(store_target: str) -> None:
    store = open_store(store_target)
    fallback = {**_template()["intensity"], "fallback": True}
    _save(store, 0, name="Train-A", tags={"team": "vision", "lr": "0.1"}, project="LLM", owner="ana")
    _save(store, 1, host="node-b", tags={"team": "vision-2"})
    _save(store, 2, intensity=fallback, status="failed", tags={"x": 'quo"te'})
    _save(store, 3, command=["bash", "--secret-x"], project="vision", owner="bo")
    _save(store, 4, name="100%_done", tags={"team=x": "y"})
    sel = lambda **p: _ids(store, **p)  # noqa: E731
    assert sel() == ["r000", "r001", "r002", "r003", "r004"]
    assert sel(name="train") == ["r000"] and sel(name="TRAIN-a") == ["r000"]
    assert sel(name="%") == ["r004"] and sel(name="_") == ["r004"]  # LIKE's wildcards are plain text here
    assert sel(tag="team") == ["r000", "r001"] and sel(tag="team=vision") == ["r000"]
    assert sel(tag="team=v") == [] and sel(tag="team=Vision") == []  # a tag's value is matched whole, as written
    assert sel(tag='x=quo"te') == ["r002"] and sel(tag="team=x=y") == [] and sel(tag="lr=0.1") == ["r000"]
    assert sel(host="B") == ["r001"]
    assert sel(fallback="yes") == ["r002"] and sel(fallback="no") == ["r000", "r001", "r003", "r004"]
    assert sel(status="failed") == ["r002"] and sel(status="running") == []
    assert sel(q="secret-x") == ["r003"] and sel(q="TEAM=VISION") == ["r000"]
    assert sel(q="r003") == ["r003"] and sel(q="node-b") == ["r001"] and sel(q="llm") == ["r000"]
    assert sel(project="ll") == ["r000"] and sel(owner="BO") == ["r003"] and sel(project="x") == []
    day1 = dt.datetime.fromtimestamp(WALL0 + 86400, dt.timezone.utc).date()
    assert sel(since=str(day1), until=str(day1)) == ["r001"]
    assert sel(since=str(day1)) == ["r001", "r002", "r003", "r004"]
    assert sel(until=str(day1)) == ["r000", "r001"]
    assert sel(name="job", host="node-a", fallback="no") == ["r003"]
    for bad in ({"since": "2027-13-01"}, {"until": "tomorrow"}, {"fallback": "sometimes"}):
        with pytest.raises(QueryError):
            RunFilter.from_params(bad)
    found = store.run_facets()
    assert found["project"] == ["LLM", "vision"] and found["owner"] == ["ana", "bo"]
    assert found["host"] == ["node-a", "node-b"] and found["status"] == ["failed", "finished"]
    store.close()


def test_a_running_run_whose_process_is_gone_is_found_as_killed(store_target: str) -> None:
    store = open_store(store_target)
    from wattprint.host import hostname

    _save(store, 0, status="running", host=hostname(), pid=2**22 + 12345)  # no such process
    _save(store, 1)
    assert _ids(store, status="killed") == ["r000"] and _ids(store, status="running") == []
    assert _ids(store, status="finished") == ["r001"]
    store.close()


def test_pages_come_from_the_database_newest_first(store_target: str) -> None:
    store = open_store(store_target)
    n = PAGE_SIZE * 2 + 17
    for i in range(n):
        _save(store, i, name=f"n{i % 2}")
    where = RunWhere()
    first, number, pages, matched = page(store, where, 1)
    assert (number, pages, matched) == (1, 3, n) and len(first) == PAGE_SIZE
    assert [r["id"] for r in first] == [f"r{i:03d}" for i in range(n - 1, n - 1 - PAGE_SIZE, -1)]
    last = page(store, where, 99)
    assert last[1] == 3 and len(last[0]) == 17 and last[0][-1]["id"] == "r000"
    assert page(store, where, -5)[1] == 1
    odd = page(store, RunWhere(name="n1"), 2)
    assert odd[3] == n // 2 and all(r["name"] == "n1" for r in odd[0]) and len(odd[0]) == n // 2 - PAGE_SIZE
    assert page(store, RunWhere(name="nothing"), 1) == ([], 1, 1, 0)
    assert store.count_runs() == n
    store.close()


def test_totals_read_columns_of_every_selected_run(store_target: str) -> None:
    store = open_store(store_target)
    for i in range(6):
        _save(store, i, project=("a", "b", None)[i % 3], energy_j=1000.0 * (i + 1))
    rows = store.run_values(RunWhere(), ("start_utc", "energy_j", "project"))
    assert [r["energy_j"] for r in rows] == [6000.0, 5000.0, 4000.0, 3000.0, 2000.0, 1000.0]
    by = {g["key"]: g for g in group_totals(rows, "project")}
    assert by["a"]["energy_j"] == 5000.0 and by[""]["runs"] == 2
    assert len(store.run_values(RunWhere(project="b"), ("energy_j",))) == 2
    with pytest.raises(ValueError):
        store.run_values(RunWhere(), ("energy_j; DROP TABLE runs",))
    store.close()


def test_exact_names_and_leaving_out_the_ranks_of_jobs(store_target: str) -> None:
    store = open_store(store_target)
    _save(store, 0, name="fit")
    _save(store, 1, name="fit", job={"id": "J", "rank": 1, "world_size": 2, "boot_id": "b"})  # a rank's partial
    _save(store, 2, name="fit", job={"id": "J", "rank": None, "merged": True})  # its job view
    _save(store, 3, name="fit-2")
    found = lambda w: sorted(r["id"] for r in store.find_runs(w)[0])  # noqa: E731
    assert found(RunWhere(names=("fit",))) == ["r000", "r001", "r002"]
    assert found(RunWhere(names=("fit",), partials=False)) == ["r000", "r002"]
    assert found(RunWhere(names=("fit", "fit-2"), partials=False)) == ["r000", "r002", "r003"]
    store.close()


@pytest.mark.timeout(180)
def test_the_dashboard_serves_a_postgresql_store(pg_url: str, tmp_path: Path) -> None:
    from test_dashboard_helpers import fetch, fetch_json, need_dashboard, server
    from wattprint.tracking.measure import Interval

    need_dashboard()
    store = open_store(pg_url)
    for i in range(3):
        _save(store, i, name=("alpha", "beta", "alpha")[i], host=f"node-{i}")
    header = {**_template(), "id": "long", "name": "long", "status": "running", "start_utc": WALL0, "pid": 0}
    rows = [Interval(float(t), t + 1.0, WALL0 + t, {"fake:0": 100.0 + t % 97, "fake:1": 5.0}) for t in range(12_000)]
    for k in range(0, len(rows), 1000):
        store.save_progress(header, rows[k : k + 1000])
    store.save_final({**header, "status": "finished", "duration_s": 12_000.0})
    store.close()
    with server(tmp_path, pg_url) as s:  # type: ignore[arg-type]
        status, _, body = fetch(f"{s.base}/?name=alph")
        assert status == 200 and b"2 of 4 runs match" in body
        data = fetch_json(f"{s.base}/api/runs/long/series?points=500")
        assert data["intervals"] == 12_000 and not data["exact"] and data["rows"] <= 201  # minute rows
        for name in ("fake:0", "fake:1"):
            drawn = sum(w * (b - a) for (a, b), w in zip(data["t"], data["w"][name]))
            assert drawn == pytest.approx(sum(r.energy_j[name] for r in rows), rel=1e-9)
        zoom = fetch_json(f"{s.base}/api/runs/long/series?points=500&t0=600&t1=700")
        assert zoom["exact"] and [a for a, _ in zoom["t"]] == [float(t) for t in range(600, 700)]
