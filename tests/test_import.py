"""`import wattprint` is cheap and quiet: nothing heavy, nothing printed, no handlers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[1] / "src")


def test_import_and_api_access_load_nothing_heavy_and_print_nothing() -> None:
    code = (
        "import sys, logging\n"
        "import wattprint\n"
        "from wattprint import Tracker, track, Run, Window\n"
        "heavy = [m for m in ('psutil', 'rich', 'pynvml', 'amdsmi', 'sqlite3', 'urllib.request',"
        " 'http.client', 'wattprint.tracking.attribution', 'wattprint.intensity.static',"
        " 'wattprint.store.sqlite', 'wattprint.store.postgres', 'psycopg') if m in sys.modules]\n"
        "print(heavy)\n"
        "print(len(logging.getLogger().handlers), len(logging.getLogger('wattprint').handlers))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env=dict(os.environ, PYTHONPATH=SRC), timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["[]", "0 0"]
    assert r.stderr == ""
