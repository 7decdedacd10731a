"""``wattprint dashboard`` over HTTP: a real server subprocess on a store of real runs.

What a browser is not needed for: read-only (every other method 405), the
loopback-only Host check, the token when served to a network (401 without,
403 wrong, cookie after ``?token=``), the security headers, hostile run names
escaped, bad filters as 400, the report links giving the renderers' output,
the chart data preserving the stored energy. The browser tests are in
``test_dashboard_browser.py``.
"""

from __future__ import annotations

import datetime as dt
import html
import http.cookiejar
import json
import re
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from test_dashboard_helpers import HOSTILE, Server, dashboard_store, env, fetch, fetch_json, server
from wattprint.store.sqlite import SqliteStore


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return dashboard_store(tmp_path_factory.mktemp("dash"))


@pytest.fixture(scope="module")
def local(db: Path) -> Iterator[Server]:
    with server(db.parent, db) as s:
        yield s


@pytest.fixture(scope="module")
def runs(db: Path) -> list[dict[str, Any]]:
    store = SqliteStore.open(db, write=False)
    try:
        return [dict(r) for r in store.list_runs()]
    finally:
        store.close()


def _id(runs: list[dict[str, Any]], name: str) -> str:
    return next(r["id"] for r in runs if r["name"] == name)


def test_binds_loopback_and_prints_the_url(local: Server) -> None:
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/", local.url), local.url
    status, headers, body = fetch(local.base + "/")
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert b"5 of 5 runs match" in body


@pytest.mark.parametrize("path", ["/", "/runs/last", "/totals", "/compare", "/static/dashboard.js", "/nowhere"])
def test_every_response_carries_the_security_headers(local: Server, path: str) -> None:
    status, headers, _ = fetch(local.base + path)
    assert status in (200, 404)
    csp = headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-frame-options"] == "DENY"


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_read_only_every_other_method_is_refused(local: Server, runs: list[dict[str, Any]], method: str) -> None:
    for path in ("/", f"/runs/{runs[0]['id']}", "/static/dashboard.js"):
        status, headers, _ = fetch(local.base + path, method=method)
        assert status == 405 and headers["allow"] == "GET, HEAD", (method, path)


def test_a_foreign_host_name_is_refused_on_loopback(local: Server) -> None:
    # a page elsewhere rebinding its DNS name to 127.0.0.1 sends its own name as Host
    status, _, _ = fetch(local.base + "/", headers={"Host": "attacker.example"})
    assert status == 403
    assert fetch(local.base + "/", headers={"Host": "localhost"})[0] == 200


def test_hostile_run_names_are_escaped(local: Server, runs: list[dict[str, Any]]) -> None:
    rid = _id(runs, HOSTILE)
    escaped = html.escape(HOSTILE, quote=True)
    for path in ("/", f"/runs/{rid}", "/compare?id=" + rid + "&id=" + runs[-1]["id"], "/totals"):
        status, _, body = fetch(local.base + path)
        text = body.decode()
        assert status == 200, path
        assert "<script>window" not in text and 'onerror="' not in text, path
        if path != "/totals":
            assert escaped in text, path
    # only our own script tag, on every page
    page = fetch(local.base + f"/runs/{rid}")[2].decode()
    assert page.count("<script") == 1 and '<script src="/static/dashboard.js" defer></script>' in page


def test_filters_select_runs(local: Server, runs: list[dict[str, Any]]) -> None:
    def listed(query: str) -> set[str]:
        status, _, body = fetch(local.base + "/?" + query)
        assert status == 200, body[:300]
        return set(re.findall(r'<tr data-run="([^"]+)"', body.decode()))

    by_name = {r["id"]: r["name"] for r in runs}
    assert {by_name[i] for i in listed("name=train")} == {"train"} and len(listed("name=train")) == 2
    assert {by_name[i] for i in listed("tag=team%3Dvision")} == {"api-job"}
    assert {by_name[i] for i in listed("tag=k")} == {HOSTILE}
    assert {by_name[i] for i in listed("fallback=yes")} == {"eval"}
    assert len(listed("fallback=no")) == 4
    assert len(listed("status=finished")) == 5 and listed("status=killed") == set()
    assert {by_name[i] for i in listed("q=API-JOB")} == {"api-job"}
    day = runs[0]["start_utc"]
    today = dt.datetime.fromtimestamp(day, dt.timezone.utc).date()
    assert len(listed(f"since={today}&until={today}")) == 5
    assert listed(f"since={today + dt.timedelta(days=1)}") == set()


@pytest.mark.parametrize("query", ["since=yesterday", "fallback=maybe", "page=x"])
def test_a_bad_filter_is_a_400_with_one_clear_line(local: Server, query: str) -> None:
    status, _, body = fetch(local.base + "/?" + query)
    assert status == 400
    assert re.search(r'<p class="error">[^<]+</p>', body.decode())


def test_an_unknown_run_is_a_404(local: Server) -> None:
    status, _, body = fetch(local.base + "/runs/ffffffffffff")
    assert status == 404 and b"no run with id" in body


def test_report_links_give_the_renderers_output(local: Server, db: Path, runs: list[dict[str, Any]]) -> None:
    rid = _id(runs, "api-job")
    status, headers, body = fetch(local.base + f"/runs/{rid}/report.json")
    assert status == 200 and headers["content-type"].startswith("application/json")
    rep = json.loads(body)
    cli = subprocess.run([sys.executable, "-m", "wattprint.cli.main", "report", rid, "--format", "json", "--db",
                          str(db)], capture_output=True, text=True, env=env(db.parent), timeout=60)
    want = json.loads(cli.stdout)
    rep.pop("generated_utc"), want.pop("generated_utc")
    assert rep == want  # the same document `wattprint report` gives
    for ext, needle in (("md", "# "), ("html", "<!doctype html"), ("tex", "\\"), ("yaml", "co2_eq_emissions")):
        status, headers, body = fetch(local.base + f"/runs/{rid}/report.{ext}")
        assert status == 200 and needle.encode() in body.lower(), ext
    # the HTML report keeps its inline style under its own, still script-free, policy
    _, headers, _ = fetch(local.base + f"/runs/{rid}/report.html")
    assert "script-src" not in headers["content-security-policy"]
    assert fetch(local.base + f"/runs/{rid}/report.exe")[0] == 404


def test_the_chart_data_keeps_the_stored_energy(local: Server, db: Path, runs: list[dict[str, Any]]) -> None:
    rid = _id(runs, "train")
    data = fetch_json(local.base + f"/api/runs/{rid}/series?points=5")
    store = SqliteStore.open(db, write=False)
    try:
        rows = list(store.iter_timeline(rid))
        run = store.get_run(rid, timeline=False)
    finally:
        store.close()
    assert len(data["t"]) <= 5 and data["exact"] and data["intervals"] == len(rows)
    for name in run["channels"]:
        drawn = sum(w * sum(r.t1_s - r.t0_s for r in rows if r.t0_s >= a and r.t1_s <= b)
                    for (a, b), w in zip(data["t"], data["w"][name]))
        stored = sum(r.energy_j.get(name, 0.0) for r in rows)
        assert drawn == pytest.approx(stored, rel=1e-9), name
    assert fetch(local.base + f"/api/runs/{rid}/series?t0=nan")[0] == 400


def test_totals_add_up_the_runs(local: Server, runs: list[dict[str, Any]]) -> None:
    status, _, body = fetch(local.base + "/totals?period=day")
    assert status == 200
    text = body.decode()
    shown = [float(v) for v in re.findall(r'data-field="energy_kwh" data-value="([^"]+)"', text)]
    assert sum(shown) == pytest.approx(sum(r["energy_j"] for r in runs) / 3.6e6, rel=1e-9)
    bars = [float(v) for v in re.findall(r'<rect class="bar"[^>]* data-kwh="([^"]+)"', text)]
    assert bars == shown[::-1]  # the chart runs oldest first, the table newest first
    assert fetch(local.base + "/totals?period=month")[0] == 400


def test_network_mode_needs_the_token_on_every_request(db: Path, tmp_path: Path) -> None:
    token = "s3cret-token-for-the-test-0123456789"
    (tmp_path / "token").write_text(token + "\n")
    with server(db.parent, db, "--host", "0.0.0.0", "--allow-network", "--token-file", str(tmp_path / "token")) as s:
        assert token not in s.url  # a token from a file is never printed
        base = s.base.replace("0.0.0.0", "127.0.0.1")
        for path in ("/", "/static/dashboard.css", "/api/runs/last/series"):
            assert fetch(base + path)[0] == 401, path
            assert fetch(base + path, headers={"Authorization": "Bearer wrong-token-0123456789"})[0] == 403, path
            assert fetch(base + path, headers={"Authorization": f"Bearer {token}"})[0] == 200, path
        assert fetch(base + "/?token=nope")[0] == 403
        status, headers, _ = fetch(base + f"/totals?period=day&token={token}", follow=False)
        assert status == 303 and headers["location"] == "/totals?period=day"
        cookie = headers["set-cookie"].split(";")[0]
        for sneaky in ("//attacker.example", "/\\attacker.example"):  # never a redirect off this server
            status, headers2, _ = fetch(base + f"{sneaky}?token={token}", follow=False)
            assert status == 303 and headers2["location"] == "/attacker.example", headers2["location"]
        status, headers2, _ = fetch(base + f"/runs/%C3%A9t%C3%A9?token={token}", follow=False)
        assert status == 303 and headers2["location"] == "/runs/%C3%A9t%C3%A9"
        assert "HttpOnly" in headers["set-cookie"] and "SameSite=Strict" in headers["set-cookie"]
        assert fetch(base + "/totals?period=day", headers={"Cookie": cookie})[0] == 200
        # served to a network, any Host name is fine: the token is the check
        assert fetch(base + "/", headers={"Host": "dash.example", "Cookie": cookie})[0] == 200


def test_a_generated_token_is_printed_once_in_the_url(db: Path) -> None:
    with server(db.parent, db, "--host", "127.0.0.1", "--allow-network") as s:
        token = s.url.split("?token=")[1]
        assert len(token) >= 32
        assert fetch(s.base + "/")[0] == 401
        browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        with browser.open(s.url, timeout=30) as resp:  # the printed URL logs in (redirect, cookie)
            assert resp.status == 200 and resp.url == s.base + "/" and b"5 of 5 runs match" in resp.read()


@pytest.mark.parametrize("args, needle", [
    (["--host", "0.0.0.0"], "--allow-network"),
    (["--token-file", "t"], "goes with --allow-network"),
    (["--port", "70000"], "port number"),
    (["--allow-network", "--token-file", "missing-file"], "cannot read --token-file"),
])
def test_bad_flags_are_one_line_and_exit_2(db: Path, args: list[str], needle: str) -> None:
    r = subprocess.run([sys.executable, "-m", "wattprint.cli.main", "dashboard", "--db", str(db), *args],
                       capture_output=True, text=True, env=env(db.parent), timeout=60, cwd=db.parent)
    assert r.returncode == 2 and needle in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_a_weak_token_file_is_refused(db: Path, tmp_path: Path) -> None:
    (tmp_path / "t").write_text("short\n")
    r = subprocess.run([sys.executable, "-m", "wattprint.cli.main", "dashboard", "--db", str(db), "--allow-network",
                        "--token-file", str(tmp_path / "t")], capture_output=True, text=True, env=env(db.parent),
                       timeout=60)
    assert r.returncode == 2 and "16-256 characters" in r.stderr
