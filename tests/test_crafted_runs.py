"""A run JSON file edited by hand (or by an attacker) gives one line and exit 2, never a traceback.

``wattprint report FILE.json`` reads files anyone can write. Each case takes a
real sample run, breaks it at one place (a key removed, a value swapped for
another JSON value) and renders it in every format through the CLI's own
entry point: the answer is a report (exit 0) or one ``wattprint: error:``
line (exit 2).
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from report_sample import cpu_fallback_run, gpu_run
from wattprint.cli.main import main
from wattprint.tracking.record import check_run_record

FORMATS = ("md", "html", "json", "latex", "modelcard")

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.sampled_from([1e10, 1e15, 1e308])
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node[:3]):
            out += _paths(v, (*prefix, i))
    return out


def _render(tmp: Path, data: Any, fmt: str) -> tuple[int, str]:
    path = tmp / "crafted.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        code = main(["report", str(path), "--format", fmt])
    return code, err.getvalue()


def _broken(run: dict[str, Any], where: int, how: str, value: Any) -> dict[str, Any]:
    paths = _paths(run)
    path = paths[where % len(paths)]
    parent: Any = run
    for step in path[:-1]:
        parent = parent[step]
    if how == "delete":
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return run


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    sample=st.sampled_from([gpu_run, cpu_fallback_run]),
    where=st.integers(0, 10_000),
    how=st.sampled_from(["delete", "replace"]),
    value=json_values,
    fmt=st.sampled_from(FORMATS),
)
def test_a_broken_run_file_is_one_line_or_a_report(tmp_path: Path, sample: Any, where: int, how: str, value: Any,
                                                    fmt: str) -> None:
    code, err = _render(tmp_path, _broken(sample(), where, how, value), fmt)
    assert code in (0, 2)
    if code == 2:
        assert err.startswith("wattprint: error: ") and err.count("\n") == 1, err


def test_the_cases_that_crashed_are_refused_by_name(tmp_path: Path) -> None:
    run = gpu_run()
    del run["name"]
    assert check_run_record(run) == "run has no 'name'"
    code, err = _render(tmp_path, run, "md")
    assert code == 2 and "no 'name'" in err
    run = gpu_run()
    run["channels"][next(iter(run["channels"]))]["energy_j"] = "12 J"
    assert check_run_record(run) is not None
    assert _render(tmp_path, run, "html")[0] == 2


def test_a_time_past_what_a_report_can_print_is_refused(tmp_path: Path) -> None:
    run = cpu_fallback_run()
    run["faults"] = [{"wall": 253402300800.0, "source": "x", "message": "y"}]  # the year 10000
    assert "between 1970 and 3000" in (check_run_record(run) or "")
    assert _render(tmp_path, run, "md")[0] == 2


def test_a_whole_run_and_an_older_one_still_read(tmp_path: Path) -> None:
    for sample in (gpu_run, cpu_fallback_run):
        assert check_run_record(sample()) is None
        assert _render(tmp_path, sample(), "md")[0] == 0
    older = gpu_run()
    for w in older.get("windows", []):  # windows written before they kept band and market emissions
        w.pop("band", None)
        w.pop("market_emissions_g", None)
    assert check_run_record(older) is None
