"""What every framework integration shares: a tracked session, its windows, and log figures.

A framework callback sees a run's life in pieces (train begins, an epoch
starts, a step ends, metrics are logged, evaluation ends). :class:`Session`
turns those pieces into one :class:`~wattprint.tracking.tracker.Tracker` run
with a window per epoch or evaluation, and :func:`log_figures` gives the
numbers a framework's logger takes (flat ``name -> float``). A callback must
never hurt the training: every hook goes through :meth:`Session.guard`, which
records what went wrong as a fault on the run and goes on.

Multi-process jobs (``torchrun``, DeepSpeed, a Slurm step of many ranks): a
callback tracks in the first process of each machine only (``local_main``),
which measures that machine whole; the other ranks count nothing and log
nothing. One machine gives one record; N machines give N records, tagged with
the node's rank. That tracker is started with ``job="off"`` unless the user set
``job``: the job layer (:mod:`wattprint.tracking.ranks`) expects *every* rank to
start a tracker at the same point, and a lone rank 0 would wait for the others
in a collective (``new_group``) until ``job_timeout_s`` ran out, at the start of
training. Tracking every rank through the job layer is the way to one record
for many machines (see docs/frameworks.md).
"""

from __future__ import annotations

import math
import os
import time
import warnings

from wattprint.errors import WattprintWarning
from wattprint.tracking.progress import UNITS
from wattprint.tracking.sampler import Fault
from wattprint.tracking.tracker import Tracker

TYPE_CHECKING = False  # not from typing: see tracker.py
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from wattprint.tracking.measure import Measurement
    from wattprint.tracking.run import Run
    from wattprint.tracking.window import Window

PREFIX = "wattprint/"


def missing(package: str, extra: str, exc: BaseException) -> ImportError:
    """The one-line error of an integration whose framework is not installed."""
    return ImportError(
        f"wattprint's {extra} integration needs the '{package}' package, which is not installed "
        f"({exc}): pip install '{package}' (or 'wattprint[{extra}]')"
    )


def local_main(rank: object = None) -> bool:
    """Whether this process is the first of its machine (``LOCAL_RANK`` 0 or unset)."""
    value = rank if rank is not None else os.environ.get("LOCAL_RANK", "0")
    try:
        return int(value) == 0  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return True


def log_figures(span: Measurement, prefix: str = PREFIX) -> dict[str, float]:
    """Energy (J), power (W), CO2e (g) and the figures per counted unit, for a metrics logger.

    Emissions are left out (not logged as 0) while the intensity is not known.
    """
    live = getattr(span, "current", None)
    m = live() if callable(live) else span  # one read for a running run
    out = {f"{prefix}energy_j": m.energy_j, f"{prefix}power_w": m.power_w}
    if not math.isnan(m.emissions_g):
        out[f"{prefix}emissions_g"] = m.emissions_g
    for unit in UNITS:
        per = m.per(unit)
        if per is None:
            continue
        out[f"{prefix}energy_per_{unit}_j"] = per.energy_j
        if not math.isnan(per.emissions_g):
            out[f"{prefix}emissions_per_{unit}_g"] = per.emissions_g
    return out


class Session:
    """One tracked run driven by a framework's hooks, with named windows opened and closed by key."""

    def __init__(self, name: str | None, tracker_kwargs: dict[str, Any]) -> None:
        self.name = name
        self.tracker_kwargs = tracker_kwargs
        self.tracker: Tracker | None = None
        self.run: Run | None = None
        self.windows: dict[str, Window] = {}  # open ones, by key (``epoch``, ``eval``)

    @property
    def active(self) -> bool:
        return self.run is not None and self.run.status == "running"

    def start(self, default_name: str, tags: dict[str, str] | None = None) -> Run:
        """Start the run (the tracker's settings checked now: a typo fails before training)."""
        kwargs = dict(self.tracker_kwargs)
        kwargs["tags"] = {**(tags or {}), **(kwargs.get("tags") or {})}
        if "WATTPRINT_JOB" not in os.environ:  # one tracker per machine, not one per rank: see the module doc
            kwargs.setdefault("job", "off")
        self.tracker = Tracker(self.name or default_name, **kwargs)
        self.run = self.tracker.start()
        return self.run

    def open(self, key: str, name: str) -> None:
        """Open window ``name`` under ``key`` (closing one left open under the same key)."""
        if self.run is None or not self.active:
            return
        self.close(key)
        self.windows[key] = self.run.open_window(name)

    def close(self, key: str) -> Window | None:
        """Close the window open under ``key``; returns it (None when none was open)."""
        w = self.windows.pop(key, None)
        if w is not None:
            w.close()
        return w

    def stop(self, status: str | None = None) -> Run | None:
        """Close every window, then end and store the run."""
        for key in list(self.windows):
            self.close(key)
        if self.tracker is None or self.run is None:
            return None
        return self.tracker.stop(status=status)

    def guard(self, hook: str, fn: Callable[[], Any]) -> Any:
        """Run a hook's body; an error becomes a fault on the run, never the training's problem."""
        try:
            return fn()
        except Exception as exc:  # never hurt the job: record and go on
            message = f"{type(exc).__name__}: {exc}"
            if self.run is not None:
                self.run.faults.append(Fault(time.time(), f"integration:{hook}", message))
            else:  # no run to record it on: said once here instead
                warnings.warn(f"wattprint: integration {hook}: {message}", WattprintWarning, stacklevel=2)
            return None
