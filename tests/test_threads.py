"""wattprint's own threads never take the stop signals (see src/wattprint/_threads.py)."""

from __future__ import annotations

import signal
import threading
import time

import pytest

from wattprint._threads import new_thread

pytestmark = pytest.mark.skipif(not hasattr(signal, "pthread_sigmask"), reason="no per-thread signal masks here")


def test_a_started_thread_blocks_term_and_hup_and_the_starter_keeps_its_mask() -> None:
    before = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    seen: list[set[int]] = []
    t = new_thread(lambda: seen.append(set(signal.pthread_sigmask(signal.SIG_BLOCK, []))), "t")
    t.start()
    t.join(5)
    assert {signal.SIGTERM, signal.SIGHUP} <= seen[0]
    assert signal.pthread_sigmask(signal.SIG_BLOCK, []) == before


def test_every_background_thread_of_a_run_blocks_them(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import wattprint
    from fake_rapl import make_tree

    masks: dict[str, set[int]] = {}
    t = wattprint.Tracker("t", rapl_root=str(make_tree(tmp_path / "pc", packages=1)), store=str(tmp_path / "d.db"),
                          gpus="none", country="FR", interval=0.05)
    t.start()
    stops = {signal.SIGTERM, signal.SIGHUP}
    try:
        deadline = time.monotonic() + 10.0  # each thread masks itself as its first act: let them start
        while True:
            for th in threading.enumerate():
                if th.name.startswith("wattprint-") and th.native_id is not None:
                    status = open(f"/proc/self/task/{th.native_id}/status").read()
                    blocked = int(next(ln for ln in status.splitlines() if ln.startswith("SigBlk:")).split()[1], 16)
                    masks[th.name] = {s for s in stops if blocked >> (s - 1) & 1}
            if all(m == stops for m in masks.values()) or time.monotonic() > deadline:
                break
            time.sleep(0.05)
    finally:
        t.stop()
    assert "wattprint-sampler" in masks and "wattprint-store" in masks
    assert all(m == stops for m in masks.values()), masks
