"""The command under ``wattprint run`` that checkpoints on SIGUSR1, as a training script would.

argv: DIR. Writes ``DIR/ready`` once its handler is in, ``DIR/got-usr1`` when the signal comes,
then exits 0; exits 3 if no signal came within 30 s (so a lost signal fails, never hangs).
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

where = Path(sys.argv[1])
got: list[int] = []
signal.signal(signal.SIGUSR1, lambda signum, frame: got.append(signum))
(where / "ready").touch()
deadline = time.monotonic() + 30
while not got and time.monotonic() < deadline:
    time.sleep(0.01)
if not got:
    sys.exit(3)
(where / "got-usr1").write_text("checkpointed\n")
