"""Shared pieces of the fault-injection suite: real processes, each with a timeout."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

SRC = str(Path(__file__).resolve().parents[2] / "src")
TIMEOUT_S = 30  # a process that has not ended by then is hung: the test fails, CI does not stall


def env(**extra: str) -> dict[str, str]:
    """The test's environment (temp DB, no cloud probes) with wattprint's source importable."""
    return dict(os.environ, PYTHONPATH=SRC, **extra)


def python(code: str, *args: str, **kw: Any) -> subprocess.Popen[str]:
    """Start ``python -c code args...`` with pipes; the caller must wait with a timeout."""
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env(), **kw,
    )


def wattprint(*args: str, timeout: float = TIMEOUT_S, **kw: Any) -> subprocess.CompletedProcess[str]:
    """Run the CLI to its end (a hang past ``timeout`` raises, failing the test)."""
    return subprocess.run(
        [sys.executable, "-m", "wattprint.cli.main", *args],
        capture_output=True, text=True, env=env(), timeout=timeout, **kw,
    )


def wattprint_popen(*args: str, **kw: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "wattprint.cli.main", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env(), **kw,
    )


def stored_energy(db: Path) -> dict[str, float]:
    """Each stored run's energy so far (id to joules), read without creating or changing ``db``:
    empty while the file or its tables are not there yet."""
    if not db.exists():
        return {}
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
        try:
            return {rid: float(e) for rid, e in conn.execute("SELECT id, energy_j FROM runs")}
        finally:
            conn.close()
    except sqlite3.Error:  # not created or migrated yet
        return {}


def wait_until(done: Any, what: str, timeout_s: float = TIMEOUT_S) -> None:
    """Poll ``done()`` until it is true; a test that waits longer than ``timeout_s`` fails."""
    deadline = time.monotonic() + timeout_s
    while not done():
        assert time.monotonic() < deadline, f"timed out waiting: {what}"
        time.sleep(0.01)


def stored_runs(db: Path) -> list[dict[str, Any]]:
    """Every run in ``db``, read back the way reports read them."""
    from wattprint.store.sqlite import SqliteStore

    store = SqliteStore.open(db)
    try:
        return [store.get_run(r["id"]) for r in store.list_runs()]
    finally:
        store.close()


def mount_tmpfs(where: Path, size: str) -> str | None:
    """Mount a small tmpfs at ``where``; None when it worked, else the reason it could not be done."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "not running as root: cannot mount a small tmpfs"
    where.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(where)],
                       capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        return f"mount -t tmpfs failed: {r.stderr.strip() or r.returncode}"
    return None


def remount_read_only(where: Path) -> None:
    """Make the tmpfs read-only (retried briefly: a store's writer thread may still be closing its file)."""
    for _ in range(50):
        r = subprocess.run(["mount", "-o", "remount,ro", str(where)], capture_output=True, text=True, timeout=30)
        if r.returncode == 0:
            return
        time.sleep(0.05)
    raise RuntimeError(f"cannot remount {where} read-only: {r.stderr.strip()}")


def unmount(where: Path) -> None:
    subprocess.run(["umount", "-l", str(where)], capture_output=True, timeout=30)
