"""The dashboard's routes: a Starlette app over a store's public read methods.

The app reads runs only through the store's public read methods (``find_runs``,
``run_values``, ``run_facets``, ``count_runs``, ``get_run``, ``list_job_runs``,
``timeline_rollup``, ``iter_timeline``, ``count_intervals``, ``resolve_id``): SQLite and
PostgreSQL alike, the filtering and paging done by the database. Every route is ``GET`` (the guard in
:mod:`wattprint.dashboard.security` refuses other methods); route functions are
plain functions, which Starlette runs in its thread pool, so a slow read never
holds the event loop.

=====================================  =============================================
``/``                                  runs list (filters in the query string)
``/runs/{id}``                         one run
``/runs/{id}/report.{md,html,json,tex,yaml}``  the report renderers' output
``/api/runs/{id}/series?t0=&t1=&points=``      the power chart's data (JSON)
``/compare?id=A&id=B`` / ``?name=N``   compare runs; repeats get mean ± 95 % CI
``/totals?period=day|week``            energy and emissions per day or week
``/static/...``                        the page's own CSS and JS (in the package)
=====================================  =============================================
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from wattprint.dashboard import pages, runpage
from wattprint.dashboard.query import TOTAL_COLUMNS, QueryError, RunFilter, group_totals, page, totals
from wattprint.dashboard.sections import job_section
from wattprint.dashboard.security import Guard
from wattprint.dashboard.series import MAX_POINTS, POINTS, SeriesCache
from wattprint.errors import StoreError, WattprintError
from wattprint.store.runquery import RunWhere

STATIC = Path(__file__).parent / "static"
# extension -> (format for render_report, content type)
REPORTS = {"md": ("md", "text/plain; charset=utf-8"), "html": ("html", "text/html; charset=utf-8"),
           "json": ("json", "application/json"), "tex": ("latex", "text/plain; charset=utf-8"),
           "yaml": ("modelcard", "text/plain; charset=utf-8")}
# the HTML report is one self-contained file with its style inline and no script to run
REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; frame-ancestors 'none'"
MAX_COMPARE = 50
WARM_RUNS = 2  # the newest runs whose chart is prepared at start (a long one costs one pass over its rows)


class Dashboard:
    """The route handlers, holding the store and the chart cache."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.series_cache = SeriesCache(store)

    def _run(self, request: Request, **read: Any) -> dict[str, Any]:
        run: dict[str, Any] = self.store.get_run(request.path_params["run_id"], **read)
        return run

    def runs(self, request: Request) -> Response:
        flt = RunFilter.from_params(request.query_params)
        shown, number, pages_n, matched = page(self.store, flt.where(), _int(request.query_params.get("page"), 1))
        return HTMLResponse(pages.runs_page(shown, matched, self.store.count_runs(), flt, self.store.run_facets(),
                                            number, pages_n))

    def run(self, request: Request) -> Response:
        from wattprint.report.schema import build_report

        run = self._run(request, timeline=False, windows=False)
        return HTMLResponse(runpage.run_page(run, build_report(run), self._job(run)))

    def _job(self, run: dict[str, Any]) -> str:
        """The ranks-and-nodes section of a job's run ('' for a plain run)."""
        from wattprint.store.jobs import merged_id

        job = run.get("job")
        if not job:
            return ""
        siblings = self.store.list_job_runs(job["id"]) if job.get("rank") is not None else []
        view = merged_id(job["id"])
        stored = any(r["id"] == view for r in siblings)
        return job_section(run, siblings, view if stored else None)

    def series(self, request: Request) -> Response:
        run = self._run(request, timeline=False, windows=False)
        q = request.query_params
        data = self.series_cache.series(run, t0=_float(q.get("t0")), t1=_float(q.get("t1")),
                                        points=min(MAX_POINTS, max(1, _int(q.get("points"), POINTS))))
        return JSONResponse(data)

    def report(self, request: Request) -> Response:
        from wattprint.cli.report import REPORT_ROWS, render_report

        ext = request.path_params["ext"]
        if ext not in REPORTS:
            return _error(404, f"no report format '{ext}' (md, html, json, tex, yaml)")
        fmt, ctype = REPORTS[ext]
        # as `wattprint report` does: every format but JSON reads the timeline merged
        run = self._run(request, max_rows=None if fmt == "json" else REPORT_ROWS)
        text = render_report(run, fmt)
        headers = {"content-security-policy": REPORT_CSP} if fmt == "html" else {}
        return Response(text, media_type=ctype, headers=headers)

    def compare(self, request: Request) -> Response:
        from wattprint.report.compare import CompareError, compare

        ids = list(dict.fromkeys(self.store.resolve_id(i) for i in request.query_params.getlist("id") if i))
        names = [n for n in request.query_params.getlist("name") if n]
        if names:
            # each job once, as `wattprint compare` takes it: its view, not its ranks' partial runs
            found, _ = self.store.find_runs(RunWhere(names=tuple(names), partials=False), limit=MAX_COMPARE + 1)
            ids += [r["id"] for r in reversed(found) if r["id"] not in ids]
        if len(ids) > MAX_COMPARE:
            return _error(400, f"compare takes at most {MAX_COMPARE} runs, got {len(ids)}")
        runs = [self.store.get_run(i, timeline=False, windows=False) for i in ids]
        try:
            result = compare(runs)
        except CompareError as exc:
            return HTMLResponse(runpage.compare_page(None, str(exc)))
        return HTMLResponse(runpage.compare_page(result))

    def totals(self, request: Request) -> Response:
        flt = RunFilter.from_params(request.query_params)
        period = request.query_params.get("period", "week")
        matched = self.store.run_values(flt.where(), TOTAL_COLUMNS)
        rows = totals(matched, period)
        found = self.store.run_facets()
        groups: dict[str, list[dict[str, Any]]] = {
            key: group_totals(matched, key) for key in ("project", "owner", "host") if found.get(key)}
        return HTMLResponse(pages.totals_page(rows, groups, flt, found, period, len(matched)))


def _int(text: str | None, default: int) -> int:
    try:
        return int(text) if text else default
    except ValueError:
        raise QueryError(f"not a whole number: '{str(text)[:40]}'") from None


def _float(text: str | None) -> float | None:
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise QueryError(f"not a number: '{text[:40]}'") from None
    if not math.isfinite(value):
        raise QueryError(f"not a finite number: '{text[:40]}'")
    return value


def _error(status: int, message: str) -> Response:
    return HTMLResponse(pages.error_page(status, message), status_code=status)


async def _query_error(request: Request, exc: Exception) -> Response:
    return _error(400, str(exc))


async def _store_error(request: Request, exc: Exception) -> Response:
    return _error(404, str(exc))


def create_app(store: Any, *, token: str | None = None, warm: int = WARM_RUNS) -> Guard:
    """The dashboard over ``store``; ``token``: required on every request (network mode),
    else only loopback ``Host`` names are answered (see :mod:`wattprint.dashboard.security`).
    ``warm``: the newest runs whose chart data is reduced at once, in a background thread."""
    d = Dashboard(store)
    if warm > 0:
        from wattprint._threads import new_thread

        def _warm() -> None:
            try:
                d.series_cache.warm(store.list_runs(warm))
            except Exception:  # a store that cannot list: the pages will say why
                pass

        new_thread(_warm, "wattprint-dashboard-warm").start()
    routes = [
        Route("/", d.runs),
        Route("/runs/{run_id}", d.run),
        Route("/runs/{run_id}/report.{ext}", d.report),
        Route("/api/runs/{run_id}/series", d.series),
        Route("/compare", d.compare),
        Route("/totals", d.totals),
        Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(routes=routes, exception_handlers={QueryError: _query_error, StoreError: _store_error,
                                                       WattprintError: _query_error})
    return Guard(app, token=token)
