"""The dashboard driven in headless Chromium (Debian's package, through Playwright).

A real server subprocess on a store of real runs; the browser loads the runs
list, filters it, opens a run, hovers and zooms the power chart, compares two
runs. The chart's drawn points are mapped back through the SVG's scales and
checked against the stored timeline: every stored interval falls in exactly
one drawn step, and each step's power is its intervals' energy over their time.
No console error (a CSP violation is one) may appear; screenshots are kept in
``test-artifacts/dashboard/`` (``$WATTPRINT_TEST_ARTIFACTS`` to move it).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from realparts import need_module, need_program
from test_dashboard_helpers import ARTIFACTS, HOSTILE, Server, dashboard_store, job_and_prediction_store, server
from wattprint.report.compare import mean_ci
from wattprint.store.sqlite import SqliteStore

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return dashboard_store(tmp_path_factory.mktemp("dash-browser"))


@pytest.fixture(scope="module")
def live(db: Path) -> Iterator[Server]:
    with server(db.parent, db) as s:
        yield s


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    need_module("playwright", "pip install playwright (the Python package only; never 'playwright install')")
    chromium = need_program("chromium", "apt-get install chromium (.ci/setup.d/10-chromium.sh)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, timeout=60_000)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = ctx.new_page()
    pg.set_default_timeout(30_000)
    errors: list[str] = []
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("response", lambda r: errors.append(f"HTTP {r.status} for {r.url}") if r.status >= 400 else None)
    pg.on("request", lambda r: errors.append(f"off-origin request {r.url}")
          if not r.url.startswith(("http://127.0.0.1", "data:")) else None)
    yield pg
    ctx.close()
    assert errors == [], errors


def shot(page: Any, name: str) -> None:
    out = ARTIFACTS / "dashboard"
    out.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(out / f"{name}.png"), full_page=True)


def stored(db: Path, run_id: str) -> tuple[dict[str, Any], list[Any]]:
    store = SqliteStore.open(db, write=False)
    try:
        return store.get_run(run_id, timeline=False), list(store.iter_timeline(run_id))
    finally:
        store.close()


def drawn(page: Any) -> dict[str, Any]:
    """The chart as drawn: its scales and each polyline's points, in SVG units."""
    return page.evaluate("""() => {
        const svg = document.querySelector('#chart svg#power-chart');
        const lines = {};
        svg.querySelectorAll('polyline.series').forEach(p => {
            lines[p.getAttribute('data-channel')] = p.getAttribute('points').trim().split(' ')
                .map(xy => xy.split(',').map(Number));
        });
        return {x0: +svg.dataset.x0, x1: +svg.dataset.x1, ymax: +svg.dataset.ymax,
                plot: svg.dataset.plot.split(' ').map(Number), exact: svg.dataset.exact, lines};
    }""")


def check_chart_against_store(chart: dict[str, Any], run: dict[str, Any], rows: list[Any],
                              t_lo: float, t_hi: float) -> int:
    """Every stored interval inside the drawn range lies in exactly one step; each step's power
    per channel (read off the pixels) is its intervals' energy over their time. Returns the steps."""
    left, top, pw, ph = chart["plot"]
    x0, x1, ymax = chart["x0"], chart["x1"], chart["ymax"]
    to_t = lambda x: x0 + (x - left) / pw * (x1 - x0)  # noqa: E731
    to_w = lambda y: (top + ph - y) / ph * ymax  # noqa: E731
    t_tol = (x1 - x0) / pw * 0.002 + 1e-9  # the points carry three decimals of a unit
    w_tol = ymax / ph * 0.002 + 1e-9
    counted = [n for n, c in run["channels"].items() if c["in_total"]]
    assert set(chart["lines"]) == set(run["channels"]) | ({"total"} if len(counted) > 1 else set())
    inside = [r for r in rows if r.t1_s > t_lo and r.t0_s < t_hi]
    starts = [r.t0_s for r in inside]  # stored intervals are in time order

    def within(a: float, b: float) -> list[Any]:
        """The intervals inside the span [a, b] (found by bisection: a week has 604,800)."""
        out = []
        for r in inside[bisect.bisect_left(starts, a - t_tol):]:
            if r.t0_s > b + t_tol:
                break
            if r.t1_s <= b + t_tol:
                out.append(r)
        return out

    steps = None
    for name, pts in chart["lines"].items():
        assert len(pts) % 2 == 0
        spans = [(to_t(pts[k][0]), to_t(pts[k + 1][0])) for k in range(0, len(pts), 2)]
        if steps is None:
            steps = spans
            firsts = [a for a, _ in spans]
            owners = []
            for r in inside:  # the steps holding r: only the last two starting before it can
                near = bisect.bisect_right(firsts, r.t0_s + t_tol)
                owners.append([i for i in range(max(0, near - 2), near)
                               if r.t0_s >= spans[i][0] - t_tol and r.t1_s <= spans[i][1] + t_tol])
            clipped = [r for r, o in zip(inside, owners) if not o]  # only at the edges of a zoom
            assert all(r.t0_s < t_lo + t_tol or r.t1_s > t_hi - t_tol for r in clipped)
            assert all(len(o) <= 1 or (len(o) == 2 and abs(spans[o[0]][1] - spans[o[1]][0]) < t_tol)
                       for o in owners)
        for k, (a, b) in enumerate(spans):
            ya, yb = pts[2 * k][1], pts[2 * k + 1][1]
            assert ya == yb  # a step: flat over its span
            part = within(a, b)
            if not part or a <= x0 + t_tol and part[0].t0_s < x0 or b >= x1 - t_tol and part[-1].t1_s > x1:
                continue  # a step cut by the edge of a zoomed view
            secs = sum(r.t1_s - r.t0_s for r in part)
            if name == "total":
                joules = sum(r.energy_j.get(n, 0.0) for r in part for n in counted)
            else:
                joules = sum(r.energy_j.get(name, 0.0) for r in part)
            assert to_w(ya) == pytest.approx(joules / secs, abs=w_tol), (name, k)
    assert steps
    return len(steps)


def test_runs_list_filter_and_open_a_run(live: Server, db: Path, page: Any) -> None:
    page.goto(live.base + "/")
    assert page.locator("#runs tbody tr").count() == 5
    shot(page, "runs-list")
    page.fill("input[name=name]", "train")
    with page.expect_navigation():
        page.click("#filters button[type=submit]")
    assert page.locator("#runs tbody tr").count() == 2
    assert page.inner_text("#count").startswith("2 of 5")
    shot(page, "runs-filtered")
    first = page.locator("#runs tbody tr").first
    run_id = first.get_attribute("data-run")
    with page.expect_navigation():
        first.locator("a.runlink").click()
    assert page.inner_text("#run-id") == run_id
    page.wait_for_selector("#chart[data-state=ready]")
    run, rows = stored(db, run_id)
    chart = drawn(page)
    assert chart["exact"] == "1"
    n = check_chart_against_store(chart, run, rows, -1.0, run["duration_s"] + 1.0)
    assert n == len(rows)  # a short run: one step per stored interval
    shown = float(page.get_attribute("[data-field='totals.energy_kwh']", "data-value"))
    assert shown == pytest.approx(run["energy_j"] / 3.6e6, rel=1e-12)
    shot(page, "run-page")


def test_chart_hover_and_zoom(live: Server, db: Path, page: Any) -> None:
    store = SqliteStore.open(db, write=False)
    run_id = next(r["id"] for r in store.list_runs() if r["name"] == "api-job")
    store.close()
    page.goto(live.base + f"/runs/{run_id}")
    page.wait_for_selector("#chart[data-state=ready]")
    box = page.locator("#chart rect.overlay").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] / 2)
    tip = page.locator("#chart g.tip")
    assert tip.get_attribute("visibility") == "visible"
    assert " W" in tip.inner_html() and "cpu:package-0" in tip.inner_html()
    shot(page, "run-hover")
    page.mouse.move(box["x"] + box["width"] * 0.25, box["y"] + 20)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.75, box["y"] + 40, steps=5)
    page.mouse.up()
    page.wait_for_function("() => !document.getElementById('zoom-reset').disabled")
    page.wait_for_selector("#chart[data-state=ready]")
    run, rows = stored(db, run_id)
    chart = drawn(page)
    span = run["duration_s"]
    assert chart["x0"] > 0.1 * span and chart["x1"] < 0.9 * span  # about the middle half
    check_chart_against_store(chart, run, rows, chart["x0"], chart["x1"])
    shot(page, "run-zoomed")
    page.click("#zoom-reset")
    page.wait_for_function("() => document.getElementById('zoom-reset').disabled")
    page.wait_for_selector("#chart[data-state=ready]")
    assert drawn(page)["x0"] == pytest.approx(0.0, abs=1e-6)


def test_compare_two_repeats(live: Server, db: Path, page: Any) -> None:
    page.goto(live.base + "/?name=train")
    boxes = page.locator("#runs input[name=id]")
    assert boxes.count() == 2
    boxes.nth(0).check()
    boxes.nth(1).check()
    assert page.inner_text("#compare-btn") == "Compare selected (2)"
    with page.expect_navigation():
        page.click("#compare-btn")
    assert page.locator("#compare thead th").count() == 3
    ids = page.eval_on_selector_all("#compare thead th a", "as => as.map(a => a.textContent)")
    assert len(ids) == 2
    store = SqliteStore.open(db, write=False)
    energies = [r["energy_j"] / 3.6e6 for r in store.list_runs() if r["name"] == "train"]
    store.close()
    want = mean_ci(energies)
    row = page.locator("table.ci[data-group=train] tr[data-metric=energy_kwh] .num")
    assert float(row.nth(0).get_attribute("data-value")) == pytest.approx(want["mean"], rel=1e-12)
    assert float(row.nth(1).get_attribute("data-value")) == pytest.approx(want["half_width"], rel=1e-12)
    shot(page, "compare")


def test_hostile_names_stay_text(live: Server, page: Any) -> None:
    page.goto(live.base + "/?tag=k")
    assert page.locator("#runs tbody tr").count() == 1
    assert page.inner_text("#runs td.name") == HOSTILE
    with page.expect_navigation():
        page.click("#runs a.runlink")
    page.wait_for_selector("#chart[data-state=ready]")
    assert page.inner_text("#run-name") == HOSTILE
    assert page.evaluate("() => window.__pwned") is None
    assert page.evaluate("() => document.querySelectorAll('img, iframe').length") == 0
    assert page.evaluate("() => document.scripts.length") == 1


def test_totals_page_draws_the_periods(live: Server, page: Any) -> None:
    page.goto(live.base + "/totals?period=day")
    assert page.locator("#totals-chart rect.bar").count() == page.locator("#totals tbody tr").count() >= 1
    shot(page, "totals")


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A job of two ranks, its duplicate-measuring twin, and runs with predictions; plus a run of
    three hours at 1 s (10,800 stored intervals: more than the chart reads whole, so it is drawn
    from the stored rollup)."""
    from synthetic_run import SyntheticRun
    from wattprint.intensity.base import Intensity
    from wattprint.sinks.store import StoreSink

    db, ids = job_and_prediction_store(tmp_path_factory.mktemp("dash-sections"))
    s = SyntheticRun(wall0=1_800_000_000.0 + 17.0, watts=(100.0, 250.0, 30.0), sinks=[StoreSink(db, wait_s=120)])
    clock, names, joules, last = s.clock, ["fake:0", "fake:1", "fake:2"], [0.0, 0.0, 0.0], [0.0]
    power = [100.0, 250.0, 30.0]

    def read() -> dict[str, float]:  # counters that integrate a power changing every minute
        now = clock.t_ns / 1e9
        for i, w in enumerate(power):
            joules[i] += w * (now - last[0])
        last[0] = now
        return dict(zip(names, joules))

    s.sampler._sensors[0].read = read  # type: ignore[method-assign] # the fake hardware, varied
    for k in range(3 * 60):  # a minute at a time, each at its own power, so the steps differ
        power[:] = [100.0 + k % 7 * 10, 250.0 - k % 5 * 20, 30.0 + k % 3]
        s.tick(60)
    s.stop(Intensity(56.0, "test", "FR"))
    ids["long"] = s.run.id
    return db, ids


@pytest.fixture(scope="module")
def live_sections(made: tuple[Path, dict[str, str]]) -> Iterator[Server]:
    with server(made[0].parent, made[0]) as s:
        yield s


def test_a_long_run_is_drawn_from_the_rollup_and_still_maps_back_to_the_stored_timeline(
        live_sections: Server, made: tuple[Path, dict[str, str]], page: Any) -> None:
    db, ids = made
    page.goto(f"{live_sections.base}/runs/{ids['long']}")
    page.wait_for_selector("#chart[data-state=ready]")
    run, rows = stored(db, ids["long"])
    assert len(rows) == 3 * 3600
    chart = drawn(page)
    assert chart["exact"] != "1"  # from the minute rows, not the 10,800 intervals
    n = check_chart_against_store(chart, run, rows, -1.0, run["duration_s"] + 1.0)
    assert 100 <= n <= 3 * 60 + 1  # one step per UTC minute the run touched
    shot(page, "long-run")
    box = page.locator("#chart rect.overlay").bounding_box()  # zoom to about 4 minutes: the intervals themselves
    left = box["x"] + box["width"] * 0.5
    page.mouse.move(left, box["y"] + 20)
    page.mouse.down()
    page.mouse.move(left + box["width"] * 0.02, box["y"] + 40, steps=5)
    page.mouse.up()
    page.wait_for_function("() => !document.getElementById('zoom-reset').disabled")
    page.wait_for_selector("#chart[data-state=ready]")
    chart = drawn(page)
    assert chart["exact"] == "1" and chart["x1"] - chart["x0"] < 600
    assert check_chart_against_store(chart, run, rows, chart["x0"], chart["x1"]) >= chart["x1"] - chart["x0"] - 2
    shot(page, "long-run-zoomed")


def test_ranks_and_nodes_of_a_job_and_back(live_sections: Server, made: tuple[Path, dict[str, str]],
                                           page: Any) -> None:
    db, ids = made
    page.goto(f"{live_sections.base}/runs/{ids['dup-view']}")
    assert page.locator("#job-nodes tbody tr").count() == 1
    assert page.locator("#job-ranks tbody tr").count() == 2
    store = SqliteStore.open(db, write=False)
    job = store.get_run(ids["dup-view"], timeline=False)["job"]
    store.close()
    dups = page.inner_text("#job-ranks tr[data-rank='1'] td.dup")
    assert sorted(dups.split(", ")) == sorted(job["parts"][1]["duplicates"])
    shot(page, "job-view")
    with page.expect_navigation():
        page.click("#job-ranks tr[data-rank='1'] a")
    assert page.inner_text("#run-id") == ids["dup-rank1"]
    assert page.inner_text("#job-summary").startswith("Rank 1 of 2 in job")
    with page.expect_navigation():
        page.click("#job-summary a")
    assert page.inner_text("#run-id") == ids["dup-view"]


def test_the_prediction_beside_the_actual(live_sections: Server, made: tuple[Path, dict[str, str]], page: Any) -> None:
    db, ids = made
    page.goto(f"{live_sections.base}/runs/{ids['finished']}")
    store = SqliteStore.open(db, write=False)
    pred = store.get_run(ids["finished"], timeline=False)["prediction"]
    store.close()
    shown = float(page.get_attribute("#prediction-actual [data-field='actual.energy_kwh']", "data-value"))
    assert shown == pytest.approx(pred["actual"]["energy_j"] / 3.6e6, rel=1e-12)
    assert page.locator("#prediction-checkpoints tbody tr").count() == len(pred["checkpoints"])
    shot(page, "prediction")
