"""Every help text reads as written: no doubled ``%%`` left by argparse's %-formatting.

argparse %-formats argument and sub-command help strings (so a literal percent
is written ``%%`` there) but prints descriptions and epilogs as they are.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from wattprint.cli.main import build_parser

SRC = str(Path(__file__).resolve().parents[1] / "src")


def test_compare_help_prints_a_single_percent_sign() -> None:
    r = subprocess.run([sys.executable, "-m", "wattprint.cli.main", "compare", "--help"], capture_output=True,
                       text=True, env=dict(os.environ, PYTHONPATH=SRC, COLUMNS="200"), timeout=60)
    assert r.returncode == 0, r.stderr
    assert "mean ± 95% confidence interval" in r.stdout
    assert "%%" not in r.stdout


def test_no_help_text_of_any_command_shows_a_doubled_percent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # no wrapping inside the phrases looked for
    parser = build_parser()
    texts = {"wattprint": parser.format_help()}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            texts.update({name: sub.format_help() for name, sub in action.choices.items()})
    assert "compare" in texts and "95% CI" in texts["wattprint"]
    assert [name for name, text in texts.items() if "%%" in text] == []
