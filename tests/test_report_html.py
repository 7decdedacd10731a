"""HTML report internals that need no browser: the chart series, escaping, size limits."""

from __future__ import annotations

import json
import re

import pytest

from report_sample import J_PER_KWH, START, gpu_run
from wattprint.report import html
from wattprint.report.schema import build_report


def _long_run(n: int) -> dict:
    d = gpu_run()
    rows = []
    for i in range(n):
        w = 100.0 + (i % 7) * 10.0
        rows.append({"t0_s": float(i), "t1_s": float(i + 1), "start_utc": START + i,
                     "energy_j": {"cpu:package-0": w, "dram:package-0": 5.0}})
    d["timeline"] = rows
    d["duration_s"] = float(n)
    d["interval_s"] = 1.0
    d["channels"] = {k: v for k, v in d["channels"].items() if k in ("cpu:package-0", "dram:package-0")}
    d["channels"]["cpu:package-0"]["energy_j"] = sum(r["energy_j"]["cpu:package-0"] for r in rows)
    d["channels"]["dram:package-0"]["energy_j"] = 5.0 * n
    d["energy_j"] = d["channels"]["cpu:package-0"]["energy_j"] + 5.0 * n
    d["emissions_g"] = d["energy_j"] / J_PER_KWH * 56 * 1.2
    d["windows"] = []
    d.pop("attribution")
    d.pop("baseline")
    return d


def test_downsampled_chart_keeps_the_energy() -> None:
    rep = build_report(_long_run(5000))
    s = html.power_series(rep)
    assert len(s["t"]) <= html.MAX_POINTS
    area = {c: sum((b - a) * w for (a, b), w in zip(s["t"], ws)) for c, ws in s["w"].items()}
    cpu = next(c for c in rep["components"] if c["component"] == "cpu")
    assert area["cpu"] == pytest.approx(cpu["energy_j"])
    assert area["total"] == pytest.approx(rep["totals"]["energy_j"])
    page = html.render(rep)
    assert "5000 intervals averaged into" in page


def test_embedded_copy_is_compacted_but_keeps_totals() -> None:
    rep = build_report(_long_run(12000))
    page = html.render(rep)
    embedded = json.loads(re.search(r'id="wattprint-report">(.*?)</script>', page, re.S).group(1))
    rows = embedded["timeline"]["rows"]
    assert len(rows) <= html.MAX_EMBEDDED_ROWS
    assert sum(r["energy_j"]["cpu:package-0"] for r in rows) == pytest.approx(
        sum(r["energy_j"]["cpu:package-0"] for r in rep["timeline"]["rows"]))
    assert (rows[0]["t0_s"], rows[-1]["t1_s"]) == (0.0, 12000.0)
    assert embedded["totals"] == rep["totals"]
    assert "gives the full series" in page


def test_user_text_cannot_break_out_of_the_page() -> None:
    d = gpu_run()
    d["name"] = "</script><script>alert(1)</script><b>x</b>"
    page = html.render(build_report(d))
    assert "<script>alert(1)" not in page
    assert page.count("</script>") == 1  # only the JSON block's own end tag
    embedded = json.loads(re.search(r'id="wattprint-report">(.*?)</script>', page, re.S).group(1))
    assert embedded["run"]["name"] == d["name"]


def test_no_timeline_is_said_not_drawn() -> None:
    d = gpu_run()
    d["timeline"] = []
    page = html.render(build_report(d))
    assert "No timeline was recorded" in page and "<polyline" not in page


def test_nice_steps() -> None:
    assert html.nice_step(754) == 200
    assert html.nice_step(10, 8) == 2
    assert html.nice_step(0) == 1.0
