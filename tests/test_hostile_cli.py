"""Hostile text from hardware and users on the CLI's remaining outputs: doctor, baseline, report JSON.

Zone names in powercap sysfs (like GPU model names from a driver) are whatever
the kernel or driver says; here one carries terminal escape sequences. Run
names are whatever the user typed, here C1 controls and bidi overrides. None
of them may reach a terminal raw, and the JSON report must still read back
exactly.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest

from powercap_tree import Tree

SRC = str(Path(__file__).resolve().parents[1] / "src")
# What a sysfs name file can carry (read as ASCII): ESC sequences, BEL, backspace, DEL.
ZONE = "package-0\x1b]0;pwned\x07\x1b[2J\x08x\x7f"
# What a user can type: C1 CSI and NEL, bidi override and isolate, a raw ESC.
NAME = "job\x9b31m\x85\u202eevil\u2066 \x1b[2J"
BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")


def wp(*args: str, text: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "wattprint.cli.main", *args], capture_output=True, text=text,
                          env=dict(os.environ, PYTHONPATH=SRC), timeout=60)


@pytest.fixture
def rapl(tmp_path: Path) -> str:
    t = Tree(tmp_path / "powercap")
    t.zone("intel-rapl:0", ZONE)
    t.zone("intel-rapl:0:0", "dram")
    return str(t.root)


def assert_terminal_safe(out: str) -> None:
    """No control character but the line ends, no bidi control; what was replaced is shown as U+FFFD."""
    assert not [c for c in out if unicodedata.category(c) == "Cc" and c != "\n"], repr(out)
    assert not BIDI.search(out), repr(out)
    assert "\ufffd" in out  # shown as replaced, not dropped silently


def test_doctor_prints_hardware_names_without_escape_sequences(rapl: str) -> None:
    r = wp("doctor", "--rapl-root", rapl, "--country", "FR")
    assert r.returncode == 0, r.stderr
    assert "cpu:package-0\ufffd" in r.stdout  # the zone is listed, its escapes neutralised
    assert_terminal_safe(r.stdout)


def test_baseline_prints_hardware_names_without_escape_sequences(rapl: str, tmp_path: Path) -> None:
    r = wp("baseline", "--rapl-root", rapl, "--duration", "0.3", "--db", str(tmp_path / "b.db"))
    assert r.returncode == 0, r.stderr
    assert "cpu:package-0\ufffd" in r.stdout and "dram:package-0" in r.stdout
    assert_terminal_safe(r.stdout)


def test_report_json_is_ascii_and_reads_back_exactly(rapl: str, tmp_path: Path) -> None:
    db = str(tmp_path / "r.db")
    r = wp("run", "--db", db, "--rapl-root", rapl, "--country", "FR", "--name", NAME, "--quiet", "--",
           sys.executable, "-c", "pass")
    assert r.returncode == 0, r.stderr
    out = wp("report", "--db", db, "--format", "json", text=False)
    assert out.returncode == 0, out.stderr
    assert max(out.stdout) < 0x80  # every non-ASCII character (C1, bidi) is a \u escape
    assert not [b for b in out.stdout if b < 0x20 and b != 0x0A]  # and so is every C0 control
    report = json.loads(out.stdout)
    assert report["run"]["name"] == NAME
    assert {c["name"] for c in report["channels"]} == {"cpu:" + ZONE, "dram:" + ZONE}
