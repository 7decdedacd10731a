"""wattprint's own threads never take the stop signals (see src/wattprint/_threads.py)."""

from __future__ import annotations

import signal
import threading

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


def test_a_thread_is_born_with_them_blocked_before_running_any_of_its_own_code() -> None:
    """No window at all: a trace hook, which Python calls in the new thread before ``run()``,
    already sees them blocked. (Masking as the thread's first act left one: a SIGTERM sent as
    ``start()`` returned could land in that thread, and the main thread slept on.)"""
    first: list[set[int]] = []

    def hook(frame, event, arg):  # type: ignore[no-untyped-def]
        if not first:
            first.append(set(signal.pthread_sigmask(signal.SIG_BLOCK, [])))
        return None

    threading.settrace(hook)
    try:
        t = new_thread(lambda: None, "t")
        t.start()
    finally:
        threading.settrace(None)  # type: ignore[arg-type]
    t.join(5)
    assert first and {signal.SIGTERM, signal.SIGHUP} <= first[0]


def test_a_thread_started_with_them_already_blocked_leaves_them_blocked() -> None:
    before = signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGTERM])
    try:
        t = new_thread(lambda: None, "t")
        t.start()
        t.join(5)
        assert signal.SIGTERM in signal.pthread_sigmask(signal.SIG_BLOCK, [])
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


def test_every_background_thread_of_a_run_blocks_them_as_soon_as_start_returns(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import wattprint
    from fake_rapl import make_tree

    masks: dict[str, set[int]] = {}
    t = wattprint.Tracker("t", rapl_root=str(make_tree(tmp_path / "pc", packages=1)), store=str(tmp_path / "d.db"),
                          gpus="none", country="FR", interval=0.05)
    t.start()
    stops = {signal.SIGTERM, signal.SIGHUP}
    try:
        for th in threading.enumerate():  # no waiting: they are born masked
            if th.name.startswith("wattprint-") and th.native_id is not None:
                status = open(f"/proc/self/task/{th.native_id}/status").read()
                blocked = int(next(ln for ln in status.splitlines() if ln.startswith("SigBlk:")).split()[1], 16)
                masks[th.name] = {s for s in stops if blocked >> (s - 1) & 1}
    finally:
        t.stop()
    assert "wattprint-sampler" in masks and "wattprint-store" in masks
    assert all(m == stops for m in masks.values()), masks
