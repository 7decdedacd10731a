"""The HTML report opened in a real headless Chromium (Debian's ``chromium`` package).

Checks that the page needs no network, that the power chart is really drawn
(the polyline points map back to the timeline's power, and the series colours
are on the screenshot), and that every tagged figure on the page matches the
JSON report. CI installs Chromium (.ci/run); without it these tests fail.
"""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import tempfile
import zlib
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from report_sample import cpu_fallback_run, gpu_run
from wattprint.report import html
from wattprint.report.schema import build_report

FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars",
]


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.fail(
        "Chromium is not installed: the HTML report test needs it "
        "(apt-get install chromium; .ci/run installs it)"
    )


def _browse(page: Path, *args: str) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run(
            [_chromium(), *FLAGS, f"--user-data-dir={profile}", *args, page.as_uri()],
            capture_output=True, text=True, timeout=120,
        )


class _Dom(HTMLParser):
    """Collects what the checks need from the dumped DOM."""

    def __init__(self) -> None:
        super().__init__()
        self.svg: dict[str, str] = {}
        self.polylines: list[dict[str, str]] = []
        self.figures: list[tuple[str, str, str]] = []  # (field, raw value, text)
        self.external: list[str] = []
        self._fig: list[Any] | None = None
        self._json: list[str] | None = None
        self.json_text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "svg" and a.get("id") == "power-chart":
            self.svg = a
        if tag == "polyline":
            self.polylines.append(a)
        if tag == "span" and "data-field" in a:
            self._fig = [a["data-field"], a["data-value"], ""]
        if tag == "script" and a.get("id") == "wattprint-report":
            self._json = []
        for key in ("src", "href"):
            if tag in ("script", "link", "img", "iframe") and a.get(key, "").startswith(("http", "//")):
                self.external.append(a[key])

    def handle_data(self, data: str) -> None:
        if self._fig is not None:
            self._fig[2] += data
        if self._json is not None:
            self._json.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "span" and self._fig is not None:
            self.figures.append(tuple(self._fig))  # type: ignore[arg-type]
            self._fig = None
        if tag == "script" and self._json is not None:
            self.json_text = "".join(self._json)
            self._json = None


def _dump(tmp_path: Path, report: dict[str, Any]) -> _Dom:
    page = tmp_path / "report.html"
    page.write_text(html.render(report), encoding="utf-8")
    r = _browse(page, "--dump-dom")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "<svg" in r.stdout or "power-chart-empty" in r.stdout, r.stdout[:500]
    dom = _Dom()
    dom.feed(r.stdout)
    return dom


def _lookup(report: dict[str, Any], field: str) -> float:
    """The JSON value at a data-field path; list entries are addressed by name/key."""
    node: Any = report
    parts = field.split(".")
    i = 0
    while i < len(parts):
        p = parts[i]
        if isinstance(node, list):
            node = next(x for x in node if p in (x.get("name"), x.get("component"), x.get("key")))
            if "value" in node and i == len(parts) - 1:
                node = node["value"]
        else:
            node = node[p]
        i += 1
    if isinstance(node, dict) and "value" in node:
        node = node["value"]
    return float(node)


_SCALE = {"kWh": 1.0, "g": 1.0, "mg": 1e-3, "kg": 1e3, "t": 1e6, "W": 1.0, "mW": 1e-3, "kW": 1e3}


def _shown(text: str, field: str) -> float:
    """The number a reader sees, in the field's unit."""
    m = re.fullmatch(r"\s*(-?[\d,.]+)\s*([a-zA-Z]*)\s*", text)
    assert m, f"{field}: cannot read a number in {text!r}"
    value = float(m.group(1).replace(",", ""))
    unit = m.group(2)
    return value * _SCALE.get(unit, 1.0) if unit else value


@pytest.fixture(scope="module")
def gpu_report() -> dict[str, Any]:
    return build_report(gpu_run(), per=10000, unit="samples", now=1764003600.0)


def test_chart_is_drawn_from_the_timeline(tmp_path: Path, gpu_report: dict[str, Any]) -> None:
    dom = _dump(tmp_path, gpu_report)
    assert dom.external == [], f"the page loads things from the network: {dom.external}"
    assert dom.svg, "no power chart in the rendered page"
    x0, x1, ymax = float(dom.svg["data-x0"]), float(dom.svg["data-x1"]), float(dom.svg["data-ymax"])
    left, top, pw, ph = (float(v) for v in dom.svg["data-plot"].split())
    rows = gpu_report["timeline"]["rows"]
    comp_of = {c["name"]: c["component"] for c in gpu_report["channels"]}
    series = {p["data-component"]: p["points"] for p in dom.polylines if "data-component" in p}
    assert set(series) == {"gpu", "cpu", "dram", "psys", "total"}
    tol_w = ymax / ph * 0.02 + 1e-9  # two hundredths of a pixel
    for comp, points in series.items():
        pts = [tuple(map(float, p.split(","))) for p in points.split()]
        assert len(pts) == 2 * len(rows), comp
        for k, row in enumerate(rows):
            dt = row["t1_s"] - row["t0_s"]
            if comp == "total":
                want = sum(e for n, e in row["energy_j"].items() if n != "psys") / dt
            else:
                want = sum(e for n, e in row["energy_j"].items() if comp_of[n] == comp) / dt
            (xa, ya), (xb, yb) = pts[2 * k], pts[2 * k + 1]
            assert ya == yb  # a step: flat over the interval
            got = (top + ph - ya) / ph * ymax
            assert got == pytest.approx(want, abs=tol_w), (comp, k)
            assert x0 + (xa - left) / pw * (x1 - x0) == pytest.approx(row["t0_s"], abs=0.01)
            assert x0 + (xb - left) / pw * (x1 - x0) == pytest.approx(row["t1_s"], abs=0.01)


def test_figures_on_the_page_match_the_json(tmp_path: Path, gpu_report: dict[str, Any]) -> None:
    dom = _dump(tmp_path, gpu_report)
    embedded = json.loads(dom.json_text)
    assert embedded == json.loads(json.dumps(gpu_report))  # the page archives the exact report
    fields = {f for f, _, _ in dom.figures}
    for needed in ("totals.energy_kwh", "totals.facility_energy_kwh", "emissions.location_based_g",
                   "emissions.market_based_g", "sci.sci_g_per_unit", "components.gpu.energy_kwh",
                   "window_groups.eval.energy_kwh", "equivalents.car_km", "attribution.energy_kwh",
                   "baseline.dynamic_energy_kwh", "pue.value"):
        assert needed in fields, f"{needed} is not shown"
    for field, raw, text in dom.figures:
        want = _lookup(gpu_report, field)
        assert float(raw) == pytest.approx(want, rel=1e-12), field
        assert _shown(text, field) == pytest.approx(want, rel=0.006), (field, text)


def test_fallback_and_missing_market_figure_are_said_plainly(tmp_path: Path) -> None:
    rep = build_report(cpu_fallback_run(), now=1764003600.0)
    page = tmp_path / "fallback.html"
    page.write_text(html.render(rep), encoding="utf-8")
    r = _browse(page, "--dump-dom")
    assert r.returncode == 0, r.stderr[-2000:]
    text = re.sub(r"<[^>]+>", " ", r.stdout)
    assert "world-average grid intensity was used" in text
    assert "not reported" in text
    assert "Sources" in text and "EPA-420-F-23-014" in text


def _png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """Decode an 8-bit RGB/RGBA PNG into rows of bytes (enough for Chromium screenshots)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    height = ctype = 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and ctype in (2, 6) and interlace == 0
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    bpp = 3 if ctype == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line) if bpp == 3 else bytes(v for j, v in enumerate(line) if j % 4 != 3))
        prev = line
    return width, height, rows


def test_screenshot_shows_the_series(tmp_path: Path, gpu_report: dict[str, Any]) -> None:
    page = tmp_path / "report.html"
    page.write_text(html.render(gpu_report), encoding="utf-8")
    shot = tmp_path / "shot.png"
    # 1100 x 760 shows the header, the cards and the power chart, not the breakdown bars below
    r = _browse(page, f"--screenshot={shot}", "--window-size=1100,760")
    assert r.returncode == 0 and shot.exists(), r.stderr[-2000:]
    width, height, rows = _png_pixels(shot.read_bytes())
    assert (width, height) == (1100, 760)
    counts = dict.fromkeys(("gpu", "cpu", "dram"), 0)
    wanted = {bytes.fromhex(html.COLORS[c][1:]): c for c in counts}
    for line in rows:
        for i in range(0, len(line), 3):
            comp = wanted.get(line[i : i + 3])
            if comp is not None:
                counts[comp] += 1
    # Each series is a line across the plot (hundreds of pixels); the legend swatches alone are ~40.
    for comp, n in counts.items():
        assert n > 300, f"the {comp} series is not visible on the screenshot ({n} pixels of its colour)"
