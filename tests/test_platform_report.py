"""The whole machine in the reports (JSON, Markdown, HTML, LaTeX, summary), and the short-run band."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from fake_platform import HwmonTree, Machine
from wattprint.report import html, latex, markdown
from wattprint.report.schema import SCHEMA, build_report
from wattprint.report.text import summary as summary_text
from wattprint.sensors.base import Channel, Kind, Method
from wattprint.sensors.platform.hwmon import HwmonSensor
from wattprint.sensors.platform.model import rest_w
from wattprint.sensors.platform.total import SHORT_PERIODS, span_band
from wattprint.units import j_to_kwh

pytestmark = pytest.mark.timeout(60)


def _num(text: str) -> float:
    """A figure as the reports print it (thousands separated by commas)."""
    return float(text.replace(",", ""))


def _fallen_back_run(tmp_path: Path, name: str = "job") -> dict[str, Any]:
    """10 s: a 300 W meter (±2 %), down from 3 to 7 s; a 100 W package (±5 %)."""
    tree = HwmonTree(tmp_path / "hwmon")
    dev = tree.device("power_meter", power1_average=300_000_000, power1_average_interval=1000,
                      power1_accuracy="98%")
    m = Machine(HwmonSensor(tree.root, retry_s=0.0), name=name)
    m.tick(3)
    tree.set(dev, "power1_average", "x")
    m.tick(3)
    tree.set(dev, "power1_average", 300_000_000)
    m.tick(4)
    return m.finish()


class Figures(HTMLParser):
    """The ``data-field``/``data-value`` figures and the text of one table, by a real HTML parser."""

    def __init__(self, table_id: str) -> None:
        super().__init__()
        self.table_id, self.depth = table_id, 0
        self.values: dict[str, list[float]] = {}
        self.cells: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "table" and a.get("id") == self.table_id:
            self.depth = 1
        elif self.depth and tag == "table":
            self.depth += 1
        if self.depth and a.get("data-field"):
            self.values.setdefault(str(a["data-field"]), []).append(float(a["data-value"] or "nan"))
        if self.depth and tag == "td":
            self.cells.append("")

    def handle_endtag(self, tag: str) -> None:
        if self.depth and tag == "table":
            self.depth -= 1

    def handle_data(self, data: str) -> None:
        if self.depth and self.cells:
            self.cells[-1] += data


def test_the_report_puts_the_whole_machine_beside_the_components(tmp_path: Path) -> None:
    run = _fallen_back_run(tmp_path)
    report = build_report(run, now=1.7e9)
    jsonschema.Draft202012Validator(SCHEMA).validate(report)
    plat = report["platform"]
    # metered 6 s at 300 W + 4 s of the package at 100 W; the package alone drew 100 W for 10 s
    assert plat["used"] == "whole-machine" and plat["channel"] == "platform:hwmon-hwmon0"
    assert plat["whole_j"] == pytest.approx(2200.0) and plat["whole_kwh"] == pytest.approx(j_to_kwh(2200.0))
    assert plat["components_j"] == pytest.approx(1000.0) and plat["rest_j"] == pytest.approx(1200.0)
    assert plat["rest_method"] == "measured" and plat["components_band"] == pytest.approx(0.05)
    assert plat["rest_band"] == pytest.approx((2200 * plat["whole_band"] + 1000 * 0.05) / 1200)
    # band: 1800 J metered at ±2 %, 400 J at the package's ±5 %, + the 1 s refresh over 10 s on 1800/2200
    assert plat["whole_band"] == pytest.approx((1800 * 0.02 + 400 * 0.05) / 2200 + 0.1 * 1800 / 2200)
    assert report["totals"]["band"] == pytest.approx(plat["whole_band"])
    assert (plat["fallback_j"], plat["metered_s"], plat["fallback_s"], plat["fallback_spans"]) == \
        pytest.approx((400.0, 6.0, 4.0, 1))
    assert plat["short"] is False

    md = markdown.render(report)
    rows = {r.split("|")[1].strip(): [x.strip() for x in r.split("|")[2:-1]]
            for r in md.split("## Whole machine", 1)[1].split("\n\n", 2)[1].splitlines()[2:]}
    assert _num(rows["whole machine"][1]) == pytest.approx(2200.0)
    assert _num(rows["components (sum)"][1]) == pytest.approx(1000.0)
    assert _num(rows["rest of the platform"][1]) == pytest.approx(1200.0)
    assert _num(rows["components standing in"][1]) == pytest.approx(400.0)
    assert rows["rest of the platform"][2] == "measured"
    assert "metered for 6 s; for 4 s in 1 span it gave no reading" in md

    page = Figures("platform-table")
    page.feed(html.render(report))
    assert page.values["platform.whole_j"] == pytest.approx([2200.0, 2200.0])
    assert page.values["platform.components_j"] == pytest.approx([1000.0, 1000.0])
    assert page.values["platform.rest_j"] == pytest.approx([1200.0, 1200.0])
    assert page.values["platform.fallback_j"] == pytest.approx([400.0, 400.0])
    assert _num(page.cells[1]) == pytest.approx(j_to_kwh(2200.0), rel=1e-2)  # the kWh cell as shown

    tex = latex.render(report)
    assert "Whole machine &" in tex and "Rest of the platform &" in tex and "stood in" in tex


def test_hostile_channel_names_are_escaped(tmp_path: Path) -> None:
    run = _fallen_back_run(tmp_path, name="<b>run</b>")
    bad = "platform:<img src=x onerror=alert(1)>|*x*"
    run["channels"] = {(bad if k.startswith("platform:hwmon") else k): v for k, v in run["channels"].items()}
    run["channels"][bad]["name"] = bad
    report = build_report(run, now=1.7e9)
    page = html.render(report)
    assert "<img src=x" not in page and "&lt;img src=x" in page
    md = markdown.render(report)
    section = md.split("## Whole machine", 1)[1].split("##", 1)[0]
    assert re.search(r"(?<!\\)<img", section) is None and "\\<img" in section  # md_text's backslashes
    assert re.search(r"(?<!\\)\|\*x", section) is None  # the pipe cannot end a table cell
    assert "\\$" not in latex.render(report).replace("$\\pm$", "")  # the LaTeX renders (escaped text)


def test_modelled_rest_shown_as_modelled_with_its_band() -> None:
    m = Machine(None, cpu_w=100.0, model="on")
    m.tick(5)
    run = m.finish()
    report = build_report(run, now=1.7e9)
    jsonschema.Draft202012Validator(SCHEMA).validate(report)
    plat = report["platform"]
    rest = rest_w(100.0, "platinum", 10.0) * 5
    assert plat["used"] == "modelled-rest" and plat["rest_method"] == "modelled" and plat["rest_band"] == 0.5
    assert plat["rest_j"] == pytest.approx(rest) and plat["whole_j"] == pytest.approx(500.0 + rest)
    assert plat["metered_s"] is None and plat["fallback_s"] is None and run["platform"] is None
    md = markdown.render(report)
    assert "| rest of the platform |" in md and "| modelled | ±50 % |" in md.replace("±50%", "±50 %")
    page = Figures("platform-table")
    page.feed(html.render(report))
    assert page.values["platform.rest_j"] == pytest.approx([rest, rest])


def test_span_band_by_hand() -> None:
    meter = Channel("platform:x", "platform", Method.POWER_INTEGRATED, Kind.POWER, 0.015, update_s=2.0)
    assert span_band(meter, 1000.0, 0.0, 0.1, 4.0) == pytest.approx((0.015 + 0.5, 0.5))
    # 250 J fell back at ±10 %: the edges' 2/4 only on the metered 750 J
    assert span_band(meter, 1000.0, 250.0, 0.1, 4.0) == pytest.approx(
        ((750 * 0.015 + 250 * 0.1) / 1000 + 0.5 * 0.75, 0.375))
    assert span_band(meter, 1000.0, 0.0, 0.1, 3600.0)[1] == pytest.approx(2 / 3600)
    assert span_band(meter, 0.0, 0.0, 0.1, 4.0) == (0.015, 0.0)


def test_a_short_run_is_flagged_and_its_band_widened(tmp_path: Path) -> None:
    tree = HwmonTree(tmp_path / "hwmon")
    tree.device("power_meter", power1_average=200_000_000, power1_average_interval=2000,
                power1_accuracy="98.5%")
    m = Machine(HwmonSensor(tree.root, retry_s=0.0), cpu_w=80.0)
    m.tick(4)  # 4 s against a 2 s averaging window: under SHORT_PERIODS (3) periods
    run = m.finish()
    assert 4 < SHORT_PERIODS * 2
    ch = run["channels"]["platform:hwmon-hwmon0"]
    assert ch["energy_j"] == pytest.approx(800.0) and ch["band"] == pytest.approx(0.015 + 2 / 4)
    assert run["band"] == pytest.approx(0.515)
    assert run["platform"]["short"] is True and run["platform"]["edge_band"] == pytest.approx(0.5)
    text = summary_text(run)
    assert "Short run: under 3 refresh periods (2 s) of the meter; its band is widened by ±50%" in text
    assert "gave no reading" not in text
    report = build_report(json.loads(json.dumps(run)), now=1.7e9)
    assert report["platform"]["short"] is True and "Short run" in markdown.render(report)


def test_a_long_enough_run_is_not_flagged(tmp_path: Path) -> None:
    tree = HwmonTree(tmp_path / "hwmon")
    tree.device("power_meter", power1_average=200_000_000, power1_average_interval=2000)
    m = Machine(HwmonSensor(tree.root, retry_s=0.0), cpu_w=80.0)
    m.tick(6)
    run = m.finish()
    assert run["platform"]["short"] is False
    assert run["channels"]["platform:hwmon-hwmon0"]["band"] == pytest.approx(0.05 + 2 / 6)
    assert "Short run" not in summary_text(run)


def test_the_platform_record_survives_the_store(tmp_path: Path) -> None:
    from wattprint.store.open import open_store

    run = _fallen_back_run(tmp_path)
    store = open_store(tmp_path / "runs.db")
    try:
        store.save_final(run, list(_intervals(run)))
        back = store.get_run(run["id"])
    finally:
        store.close()
    assert back["platform"] == run["platform"]
    assert build_report(back, now=1.7e9)["platform"] == build_report(run, now=1.7e9)["platform"]


def _intervals(run: dict[str, Any]) -> list[Any]:
    from wattprint.tracking.measure import Interval

    return [Interval(iv["t0_s"], iv["t1_s"], iv["start_utc"], iv["energy_j"]) for iv in run["timeline"]]


def test_the_edges_part_is_capped_below_one_period() -> None:
    meter = Channel("platform:x", "platform", Method.POWER_INTEGRATED, Kind.POWER, 0.05, update_s=2.0)
    assert span_band(meter, 10.0, 0.0, 0.1, 0.1) == pytest.approx((1.05, 1.0))  # 2 s / 0.1 s capped at 1


def test_a_short_window_is_flagged_and_widened(tmp_path: Path) -> None:
    tree = HwmonTree(tmp_path / "hwmon")
    tree.device("power_meter", power1_average=200_000_000, power1_average_interval=2000,
                power1_accuracy="98%")
    m = Machine(HwmonSensor(tree.root, retry_s=0.0), cpu_w=80.0)
    m.tick(2)
    with m.run.window("eval") as w:
        m.tick(5)  # 5 s: under 3 periods of 2 s
    with m.run.window("long") as long:
        m.tick(7)
    run = m.finish()
    short, ok = run["windows"]
    name = "platform:hwmon-hwmon0"
    assert short["channels"][name]["energy_j"] == pytest.approx(1000.0)
    assert short["channels"][name]["band"] == pytest.approx(0.02 + 2 / 5)
    assert "shorter than 3 refresh periods (2 s)" in short["estimated"][name]
    assert ok["estimated"] == {} and ok["channels"][name]["band"] == pytest.approx(0.02 + 2 / 7)
    assert w.duration_s == pytest.approx(5.0) and long.duration_s == pytest.approx(7.0)
