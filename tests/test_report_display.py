"""What the Markdown and HTML reports decide the same way (report/display.py), on built reports."""

from __future__ import annotations

from report_sample import START, gpu_run
from wattprint.report import display, html, markdown
from wattprint.report.schema import build_report


def _run_with_windows(n: int) -> dict:
    """The sample run with ``n`` differently named windows of growing length."""
    d = gpu_run()
    base = d["windows"][0]
    d["windows"] = [dict(base, name=f"step{i}", duration_s=float(i + 1), energy_j=100.0 * (i + 1))
                    for i in range(n)]
    return d


def test_top_windows_are_the_most_energetic_and_capped() -> None:
    rep = build_report(_run_with_windows(display.TOP_WINDOWS + 3), now=START)
    top = display.top_windows(rep)
    assert len(rep["window_groups"]) == display.TOP_WINDOWS + 3
    assert [g["name"] for g in top] == [g["name"] for g in rep["window_groups"][: display.TOP_WINDOWS]]
    assert min(g["energy_kwh"] for g in top) >= max(g["energy_kwh"] for g in rep["window_groups"][len(top):])
    shown = f"{display.TOP_WINDOWS} of {display.TOP_WINDOWS + 3}"
    assert f"Top windows (by energy, {shown})" in html.render(rep)
    assert f"## Windows (top {shown} by energy)" in markdown.render(rep)


def test_warning_lines_give_intensity_warnings_then_faults_with_their_time() -> None:
    d = gpu_run()
    d["intensity"]["warnings"] = ["old data"]
    d["faults"] = [{"wall": START + 1, "source": "nvml", "message": "lost"}, {"source": "sink", "message": "x"}]
    lines = display.warning_lines(build_report(d, now=START))
    assert lines[0] == "old data"
    assert lines[1].startswith("nvml: lost (") and lines[1].endswith("Z)")
    assert lines[2] == "sink: x"


def test_status_and_component_labels() -> None:
    assert display.status_text({"status": "failed", "exit_code": 3}) == "failed, exit 3"
    assert display.status_text({"status": "running", "exit_code": None}) == "running"
    assert display.component_label("psys", False) == "psys (overlaps, not summed)"
    assert display.component_label("gpu", True) == "gpu"
