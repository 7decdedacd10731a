"""``wattprint report`` as a user meets it: real runs, real subprocesses, every format."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from fake_rapl import make_tree
from wattprint.report.schema import SCHEMA

SRC = str(Path(__file__).resolve().parents[1] / "src")
BUMP = (
    "import sys; p = sys.argv[1] + '/intel-rapl:0/energy_uj'; "
    "v = int(open(p).read()); open(p, 'r+').write(str(v + 5000000) + '\\n'); print('child output')"
)


def wp(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wattprint.cli.main", *args],
        capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=SRC), timeout=120,
    )


@pytest.fixture
def stored(tmp_path: Path) -> tuple[str, Path]:
    """One stored run (5 J on package 0, France, PUE 1.5) and its --json export."""
    root = str(make_tree(tmp_path / "pc", packages=1))
    db = str(tmp_path / "r.db")
    out = tmp_path / "run.json"
    r = wp("run", "--db", db, "--rapl-root", root, "--country", "FR", "--pue", "1.5", "--name", "train",
           "--json", str(out), "--quiet", "--", sys.executable, "-c", BUMP, root)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "child output\n"
    return db, out


def test_json_report_validates_and_carries_sci(stored: tuple[str, Path]) -> None:
    db, _ = stored
    r = wp("report", "--db", db, "--format", "json", "--per", "1000", "--unit", "tokens", "--embodied-g", "2")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    jsonschema.validate(rep, SCHEMA)
    assert rep["totals"]["energy_j"] == pytest.approx(5.0, abs=1e-6)
    assert rep["pue"]["value"] == 1.5
    assert rep["sci"]["functional_unit"] == "tokens" and rep["sci"]["m_g"] == 2.0
    expected = (5.0 * 1.5 / 3.6e6 * rep["intensity"]["g_per_kwh"] + 2.0) / 1000
    assert rep["sci"]["sci_g_per_unit"] == pytest.approx(expected)


def test_every_format_from_the_store_and_from_a_json_file(stored: tuple[str, Path], tmp_path: Path) -> None:
    db, run_json = stored
    md = wp("report", "--db", db)  # default: last run, Markdown
    assert md.returncode == 0 and md.stdout.startswith("# Energy report: train")
    assert "## Methodology" in md.stdout
    same = wp("report", str(run_json), "--db", db)
    assert same.returncode == 0, same.stderr
    assert same.stdout.splitlines()[:12] == md.stdout.splitlines()[:12]

    page = tmp_path / "out.html"
    r = wp("report", "--db", db, "-o", str(page))  # format from the extension
    assert r.returncode == 0 and r.stdout == ""
    text = page.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and 'id="power-chart"' in text
    assert "http://" not in text.split("<body>")[0] and "<link" not in text  # nothing fetched to view it

    tex = tmp_path / "impact.tex"
    assert wp("report", "--db", db, "-o", str(tex)).returncode == 0
    assert "\\begin{tabular}" in tex.read_text(encoding="utf-8")

    card = wp("report", "--db", db, "--format", "modelcard", "--training-type", "fine-tuning")
    assert card.returncode == 0, card.stderr
    lines = card.stdout.splitlines()
    assert lines[1] == "co2_eq_emissions:"
    fields = dict(ln.strip().split(": ", 1) for ln in lines[2:])
    assert set(fields) == {"emissions", "source", "training_type", "geographical_location", "hardware_used"}
    assert float(fields["emissions"]) > 0 and json.loads(fields["training_type"]) == "fine-tuning"
    assert json.loads(fields["geographical_location"]) == "France (FR)"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--per", "0"], "--per must be a positive number"),
        (["--unit", "samples"], "--unit needs --per"),
        (["--per", "10", "--embodied-g", "-1"], "--embodied-g must be 0 or more"),
        (["nosuchrun"], "no run with id 'nosuchrun'"),
        (["missing.json"], "cannot read missing.json"),
        (["-o", "/nonexistent-dir/x.md"], "cannot write /nonexistent-dir/x.md"),
        (["--format", "pdf"], "invalid choice"),
    ],
)
def test_bad_input_is_one_line_exit_2(stored: tuple[str, Path], args: list[str], needle: str) -> None:
    db, _ = stored
    r = wp("report", "--db", db, *args)
    assert r.returncode == 2, r.stdout
    assert needle in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_a_json_file_that_is_not_a_run(tmp_path: Path) -> None:
    bad = tmp_path / "x.json"
    bad.write_text('{"hello": 1}', encoding="utf-8")
    r = wp("report", str(bad))
    assert r.returncode == 2 and "is not a wattprint run" in r.stderr
    bad.write_text("{oops", encoding="utf-8")
    r = wp("report", str(bad))
    assert r.returncode == 2 and "is not valid JSON" in r.stderr
