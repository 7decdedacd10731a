"""A job's command that burns CPU in its own process: writes ``DIR/ready-NAME``, spins until
``DIR/stop`` exists (at most 30 s, so a lost stop fails the test instead of hanging it)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

where, name = Path(sys.argv[1]), sys.argv[2]
(where / f"ready-{name}").touch()
deadline = time.monotonic() + 30
n = 0
while not (where / "stop").exists() and time.monotonic() < deadline:
    for _ in range(20_000):
        n += 1
