"""Markdown and LaTeX reports against golden files (fixed run dicts, fixed clock).

To accept a deliberate change, regenerate with ``WATTPRINT_UPDATE_GOLDEN=1 pytest
tests/test_report_markdown.py`` and review the diff of tests/golden/.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from report_sample import cpu_fallback_run, gpu_run
from wattprint.report import latex, markdown
from wattprint.report.schema import build_report

GOLDEN = Path(__file__).resolve().parent / "golden"
NOW = 1764003600.0

CASES = {
    "gpu_run_sci.md": lambda: markdown.render(build_report(gpu_run(), per=10000, unit="samples", now=NOW)),
    "cpu_fallback.md": lambda: markdown.render(build_report(cpu_fallback_run(), now=NOW)),
    "gpu_run_sci.tex": lambda: latex.render(build_report(gpu_run(), per=10000, unit="samples", now=NOW)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_golden(name: str) -> None:
    text = CASES[name]()
    path = GOLDEN / name
    if os.environ.get("WATTPRINT_UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    expected = path.read_text(encoding="utf-8")
    assert text == expected, f"{name} differs from the golden file; see the module docstring to update it"


def test_markdown_tables_are_well_formed() -> None:
    text = CASES["gpu_run_sci.md"]()
    for block in text.split("\n\n"):
        lines = [ln for ln in block.splitlines() if ln.startswith("|")]
        if not lines:
            continue
        widths = {ln.replace("\\|", "").count("|") for ln in lines}
        assert len(widths) == 1, f"ragged table:\n{block}"


def test_markdown_shows_both_scope2_figures_and_sci() -> None:
    text = CASES["gpu_run_sci.md"]()
    rep = build_report(gpu_run(), per=10000, unit="samples", now=NOW)
    assert "Emissions, location-based: **6.81 g CO2e**" in text
    assert rep["emissions"]["location_based_g"] == pytest.approx(6.80848)
    assert "Emissions, market-based: 2.43 g CO2e" in text
    assert "**0.000681 g CO2e per sample**" in text
    assert "## Methodology" in text and "ISO/IEC 21031" in text


def test_latex_escapes_user_text() -> None:
    d = gpu_run()
    d["name"] = "run_#1 & 100% {x}"
    text = latex.render(build_report(d, now=NOW))
    assert r"run\_\#1 \& 100\% \{x\}" in text
    assert "run_#1" not in text
