"""docs/frameworks.md's examples run as written, each in a fresh interpreter, with the real frameworks.

Each stores its run in the test's own database, with the units of work it counted.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from realparts import need_module

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "docs" / "frameworks.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"^```python\n(.*?)^```", DOC, flags=re.MULTILINE | re.DOTALL)
FRAMEWORKS = {"torch": "torch", "transformers": "transformers", "lightning": "lightning", "keras": "keras",
              "jax": "jax"}


def _needs(code: str) -> list[str]:
    return [m for m in FRAMEWORKS if re.search(rf"^(import|from) {m}\b|^import .*\b{m}\b", code, re.MULTILINE)]


def test_every_framework_has_an_example() -> None:
    found = {m for b in BLOCKS for m in _needs(b)}
    assert found == set(FRAMEWORKS) and len(BLOCKS) >= 6
    assert all(len(b.splitlines()) <= 16 for b in BLOCKS)  # short enough to copy


@pytest.mark.timeout(240)
@pytest.mark.parametrize("code", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_each_example_runs_and_stores_its_counts(code: str, tmp_path: Path) -> None:
    for module in _needs(code):
        need_module(module, f"pip install {module} (.ci/setup.d/30-torch.sh, 31-frameworks.sh)")
    db = tmp_path / "docs.db"
    script = tmp_path / "example.py"
    script.write_text(code, encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), WATTPRINT_DB=str(db), WATTPRINT_INTERVAL="0.1",
               WATTPRINT_NO_CLOUD_PROBE="1", WATTPRINT_GPUS="none", HF_HUB_OFFLINE="1", KERAS_BACKEND="torch")
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, cwd=tmp_path,
                       timeout=200)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "Traceback" not in r.stderr
    with sqlite3.connect(db) as con:
        rows = con.execute("SELECT status, progress FROM runs").fetchall()
    assert [s for s, _ in rows] == ["finished"]
    if "per(" in code:  # the example counted its work, and printed a figure per unit
        progress = json.loads(rows[0][1])
        assert progress["steps"] > 0 or progress["tokens"] > 0
        assert "PerUnit(unit=" in r.stdout and "count=" in r.stdout
    if "create_model_card" in code:
        assert "co2_eq_emissions:" in (tmp_path / "out" / "README.md").read_text(encoding="utf-8")
