"""The README's examples run as written, so they cannot rot.

Every ```python block is executed in a fresh interpreter (bare ``...`` lines,
the README's "your code here", become ``pass``), storing into a database in
the test's directory; the main-job command is run as the README spells it.
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = str(ROOT / "src")
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", README, flags=re.MULTILINE | re.DOTALL)


def _runnable(code: str) -> str:
    return "\n".join(re.sub(r"^(\s*)\.\.\.\s*$", r"\1pass", line) for line in code.splitlines()) + "\n"


PYTHON_BLOCKS = _blocks("python")


def test_the_readme_has_python_examples() -> None:
    assert PYTHON_BLOCKS and all("import wattprint" in b for b in PYTHON_BLOCKS)


@pytest.mark.parametrize("code", PYTHON_BLOCKS, ids=[f"block{i}" for i in range(len(PYTHON_BLOCKS))])
def test_each_python_example_runs(code: str, tmp_path: Path) -> None:
    db = tmp_path / "readme.db"
    script = tmp_path / "example.py"
    script.write_text(_runnable(code), encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=SRC, WATTPRINT_DB=str(db), WATTPRINT_INTERVAL="0.05",
               WATTPRINT_NO_CLOUD_PROBE="1")
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, cwd=tmp_path,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    if "wattprint.track(" in code or "Tracker(" in code:  # the runs were measured and stored where told
        with sqlite3.connect(db) as con:
            assert con.execute("SELECT count(*) FROM runs WHERE status = 'finished'").fetchone()[0] >= 1
    if "run.channels.items()" in code:  # each channel printed with how it was measured
        methods = {line.split()[1] for line in r.stdout.splitlines()[1:] if len(line.split()) >= 2}
        assert methods and methods <= {"counter", "power-integrated", "modelled"}, r.stdout


def test_the_main_job_runs_the_python_first_on_path(tmp_path: Path) -> None:
    # the README's main command: `wattprint run -- python train.py` after activating an environment
    main_jobs = [line for b in _blocks("sh") for line in b.splitlines() if "wattprint run -- python train.py" in line]
    assert main_jobs and all("activate" in line for line in main_jobs)
    bin_dir = tmp_path / "train-venv" / "bin"  # what activating a training environment puts first on PATH
    bin_dir.mkdir(parents=True)
    fake = bin_dir / "python"
    fake.write_text('#!/bin/sh\necho "the training venv\'s python ran $*"\n')
    fake.chmod(0o755)
    env = dict(os.environ, PYTHONPATH=SRC, PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
               WATTPRINT_DB=str(tmp_path / "r.db"), WATTPRINT_NO_CLOUD_PROBE="1")
    r = subprocess.run([sys.executable, "-m", "wattprint.cli.main", "run", "--country", "FR", "--",
                        "python", "train.py"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "the training venv's python ran train.py"
