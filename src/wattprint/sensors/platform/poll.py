"""A slow reading (a BMC over IPMI or HTTP) refreshed on a thread of its own.

A BMC answers in tens of milliseconds to seconds, sometimes not at all. The
sampler must never wait for it, so the reading runs on a background thread
every ``every_s`` seconds and the sensor's ``read()`` only returns the latest
value. A value older than ``stale_s`` is left out of the reading (as the run's total, the
components then stand in: :mod:`.total`) and a note says so once per outage.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from wattprint._threads import new_thread
from wattprint.sensors.base import Sensor

__all__ = ["PolledSensor"]


class PolledSensor(Sensor):
    """Base for sensors whose one reading (watts, per channel) comes from ``fetch()`` on a thread.

    Subclasses set ``channels`` and call :meth:`start` with their ``fetch``
    (which may raise; the message becomes a note) after a first successful
    fetch of their own at open.
    """

    def __init__(self, name: str) -> None:
        super().__init__(name=name)
        self._latest: dict[str, float] = {}
        self._at = 0.0  # time.monotonic() of the latest good fetch
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._every_s = 1.0
        self._stale_s = 10.0
        self._outage = False
        self._last_error = ""
        self.fetches = 0  # good fetches, for tests and doctor

    def start(self, fetch: Callable[[], dict[str, float]], first: dict[str, float], every_s: float,
              stale_s: float) -> None:
        self._latest, self._at = first, time.monotonic()
        self._every_s, self._stale_s = every_s, stale_s
        thread = new_thread(self._loop, f"wattprint-{self.name}", (fetch,))
        self._thread = thread
        thread.start()

    def _loop(self, fetch: Callable[[], dict[str, float]]) -> None:
        while not self._stop.wait(self._every_s):
            try:
                got = fetch()
            except Exception as exc:  # a BMC's failure is a note, never the host program's problem
                self._last_error = f"{type(exc).__name__}: {exc}"
                continue
            self._latest, self._at = got, time.monotonic()  # one reference swap: readers see old or new
            self.fetches += 1

    def read(self) -> dict[str, float]:
        latest, at = self._latest, self._at
        age = time.monotonic() - at
        if age > self._stale_s:
            if not self._outage:
                self._outage = True
                why = f": {self._last_error}" if self._last_error else ""
                for c in self.channels:
                    msg = f"no fresh reading for {age:.0f} s{why}; left out of the reading until one comes"
                    self.notes = [*self.notes, (c.name, msg)]
            return {}
        if self._outage:
            self._outage = False
            for c in self.channels:
                self.notes = [*self.notes, (c.name, "readings are back")]
        return dict(latest)

    def close(self) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            try:
                thread.join(timeout=0.2)  # a fetch in flight ends at its own timeout; the thread is a daemon
            except RuntimeError:
                pass
