"""The run page's prediction and ranks-and-nodes sections over HTTP, against the stored records.

Real runs (tests/test_dashboard_helpers.py ``job_and_prediction_store``): a job of two ranks
made by wattprint in one process, a run that reported its progress, and one still running.
Every figure shown is checked through its ``data-value`` against the stored record.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from test_dashboard_helpers import Server, fetch, job_and_prediction_store, server
from wattprint.store.sqlite import SqliteStore

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    return job_and_prediction_store(tmp_path_factory.mktemp("sections"))


@pytest.fixture(scope="module")
def live(made: tuple[Path, dict[str, str]]) -> Iterator[Server]:
    with server(made[0].parent, made[0]) as s:
        yield s


def _page(live: Server, run_id: str) -> str:
    status, _, body = fetch(f"{live.base}/runs/{run_id}")
    assert status == 200, body[:300]
    return body.decode()


def _values(page: str, field: str) -> list[float]:
    return [float(v) for v in re.findall(rf'data-field="{re.escape(field)}" data-value="([^"]*)"', page)]


def _stored(db: Path, run_id: str) -> dict[str, Any]:
    store = SqliteStore.open(db, write=False)
    try:
        return dict(store.get_run(run_id, timeline=False))
    finally:
        store.close()


def test_a_finished_run_shows_the_actual_and_each_checkpoints_error(live: Server,
                                                                    made: tuple[Path, dict[str, str]]) -> None:
    db, ids = made
    pred = _stored(db, ids["finished"])["prediction"]
    page = _page(live, ids["finished"])
    assert "<h2>Prediction</h2>" in page and 'id="prediction-actual"' in page
    assert 'id="prediction-latest"' not in page  # once the actual is known, the checkpoints say it all
    assert _values(page, "actual.energy_kwh") == [pytest.approx(pred["actual"]["energy_j"] / 3.6e6, rel=1e-12)]
    assert _values(page, "actual.duration_s") == [pred["actual"]["duration_s"]]
    cps = pred["checkpoints"]
    assert len(cps) >= 3 and page.count("<tr data-fraction=") == len(cps)
    assert _values(page, "checkpoint.energy_j") == [c["energy_j"][1] for c in cps if c["energy_j"]]
    assert _values(page, "checkpoint.duration_s") == [c["duration_s"][1] for c in cps]
    assert _values(page, "error.energy_j") == [c["error"]["energy_j"]["relative"] for c in cps
                                               if c["error"]["energy_j"]]
    assert _values(page, "error.duration_s") == [c["error"]["duration_s"]["relative"] for c in cps]
    assert sum(1 for c in cps if c["error"]["energy_j"]) >= 2
    for c in [c for c in cps if c["error"]["energy_j"]]:  # the interval beside each figure, and whether it held
        row = page.split(f'<tr data-fraction="{c["fraction"]!r}">', 1)[1].split("</tr>", 1)[0]
        assert ("inside" if c["error"]["energy_j"]["covered"] else "OUTSIDE") in row
        assert row.count("–") >= 3


def test_a_running_run_shows_its_latest_prediction_with_the_interval(live: Server,
                                                                     made: tuple[Path, dict[str, str]]) -> None:
    db, ids = made
    latest = _stored(db, ids["running"])["prediction"]["latest"]
    page = _page(live, ids["running"])
    assert 'id="prediction-latest"' in page and 'id="prediction-actual"' not in page
    assert f"from {latest['done']:g} of {latest['total']:g} done" in page
    assert _values(page, "latest.energy_j") == [latest["energy_j"][1]]
    assert _values(page, "latest.duration_s") == [latest["duration_s"][1]]
    assert latest["energy_j"][0] < latest["energy_j"][1] < latest["energy_j"][2]


def test_runs_without_progress_or_job_have_neither_section(live: Server, made: tuple[Path, dict[str, str]]) -> None:
    page = _page(live, made[1]["rank0"])
    assert "<h2>Prediction</h2>" not in page
    assert "<h2>Ranks and nodes</h2>" in page
    status, _, body = fetch(f"{live.base}/runs/{made[1]['view']}")
    assert status == 200 and b"<h2>Prediction</h2>" not in body


def test_the_job_view_lists_nodes_ranks_and_duplicates(live: Server, made: tuple[Path, dict[str, str]]) -> None:
    db, ids = made
    job = _stored(db, ids["view"])["job"]
    page = _page(live, ids["view"])
    nodes, parts = job["nodes"], job["parts"]
    assert len(nodes) == 1 and len(parts) == 2
    assert page.count("<tr data-node=") == 1 and page.count("<tr data-rank=") == 2
    table = page.split('id="job-ranks"', 1)[1].split("</table>", 1)[0]
    for p in parts:  # each rank links to its partial run; rank 1's host devices were counted at rank 0
        row = table.split(f'<tr data-rank="{p["rank"]}">', 1)[1].split("</tr>", 1)[0]
        assert f'href="/runs/{p["run_id"]}"' in row
        assert all(html.escape(d) in row for d in p["duplicates"])
    assert not any(p["duplicates"] for p in parts)  # the election gave the host to rank 0 alone
    assert ids["rank0"] in {p["run_id"] for p in parts} and ids["rank1"] in {p["run_id"] for p in parts}
    shown = [float(v) for v in re.findall(r'data-value="([^"]*)"', page.split('id="job-nodes"', 1)[1]
                                          .split("</table>", 1)[0])]
    assert shown == [pytest.approx(nodes[0]["energy_j"] / 3.6e6, rel=1e-12)]
    assert html.escape(job["method"]) in page


def test_a_rank_links_to_the_job_view_and_its_other_ranks(live: Server, made: tuple[Path, dict[str, str]]) -> None:
    _, ids = made
    page = _page(live, ids["rank1"])
    assert "Rank 1 of 2 in job" in page and f'href="/runs/{ids["view"]}"' in page
    table = page.split('id="job-ranks"', 1)[1].split("</table>", 1)[0]
    assert f'href="/runs/{ids["rank0"]}"' in table and f'href="/runs/{ids["rank1"]}"' in table


def test_devices_measured_twice_are_shown_as_counted_at_the_lower_rank(
        live: Server, made: tuple[Path, dict[str, str]]) -> None:
    db, ids = made
    job = _stored(db, ids["dup-view"])["job"]
    parts = job["parts"]
    assert not parts[0]["duplicates"] and len(parts[1]["duplicates"]) >= 2  # both packages, measured by both
    page = _page(live, ids["dup-view"])
    row = page.split('<tr data-rank="1">', 1)[1].split("</tr>", 1)[0]
    dup_cell = row.split('class="detail dup">', 1)[1].split("</td>", 1)[0]
    assert sorted(dup_cell.split(", ")) == sorted(html.escape(d) for d in parts[1]["duplicates"])
    rank0 = _stored(db, ids["dup-rank0"])
    assert job["nodes"][0]["energy_j"] == pytest.approx(rank0["energy_j"])  # counted once, not twice


def test_compare_by_name_takes_each_job_once(live: Server, made: tuple[Path, dict[str, str]]) -> None:
    _, ids = made
    status, _, body = fetch(f"{live.base}/compare?name=fit")
    assert status == 200, body[:300]
    page = body.decode()
    head = page.split('id="compare"', 1)[1].split("</thead>", 1)[0]
    assert ids["view"] in head and ids["dup-view"] in head  # the two jobs' views, not their four ranks
    assert not any(ids[k] in head for k in ("rank0", "rank1", "dup-rank0", "dup-rank1"))
