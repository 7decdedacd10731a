"""What every framework integration shares: a tracked session, its windows, and log figures.

A framework callback sees a run's life in pieces (train begins, an epoch
starts, a step ends, metrics are logged, evaluation ends). :class:`Session`
turns those pieces into one :class:`~wattprint.tracking.tracker.Tracker` run
with a window per epoch or evaluation, and :func:`log_figures` gives the
numbers a framework's logger takes (flat ``name -> float``). A callback must
never hurt the training: every hook goes through :meth:`Session.guard`, which
records what went wrong as a fault on the run and goes on.

Multi-process jobs (``torchrun``, DeepSpeed, Lightning's DDP, a Slurm step of
many ranks): the training callbacks track in *every* rank, through the job
layer (:mod:`wattprint.tracking.ranks`). The framework calls the same hook in
every rank at the same point (train or fit begins, ends), which is what the
job layer's start and stop exchanges need: each rank measures only the devices
it owns (its host's CPU and memory once per host, each GPU once), stores a
partial run with its own counts, and rank 0 merges the partials into one job
record (:mod:`wattprint.store.jobs`): samples and tokens add up over the ranks,
steps are the job's global steps (the most any rank counted). Only the job's
rank 0 logs into the framework's logger; its figures during training are its
own part (its host, its GPUs); the job's totals come once the ranks have
stopped (:func:`job_figures`).
"""

from __future__ import annotations

import math
import os
import time
import warnings

from wattprint.errors import WattprintWarning
from wattprint.tracking.progress import UNITS, per_unit
from wattprint.tracking.sampler import Fault
from wattprint.tracking.tracker import Tracker

TYPE_CHECKING = False  # not from typing: see tracker.py
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from wattprint.tracking.measure import Measurement
    from wattprint.tracking.progress import PerUnit
    from wattprint.tracking.record import RunRecord
    from wattprint.tracking.run import Run
    from wattprint.tracking.window import Window

PREFIX = "wattprint/"


def missing(package: str, extra: str, exc: BaseException) -> ImportError:
    """The one-line error of an integration whose framework is not installed."""
    return ImportError(
        f"wattprint's {extra} integration needs the '{package}' package, which is not installed "
        f"({exc}): pip install '{package}' (or 'wattprint[{extra}]')"
    )


def log_figures(span: Measurement, prefix: str = PREFIX) -> dict[str, float]:
    """Energy (J), power (W), CO2e (g) and the figures per counted unit, for a metrics logger.

    Emissions are left out (not logged as 0) while the intensity is not known.
    """
    live = getattr(span, "current", None)
    m = live() if callable(live) else span  # one read for a running run
    return _figures(m.energy_j, m.power_w, m.emissions_g, m.per, prefix)


def _figures(energy_j: float, power_w: float, emissions_g: float, per: Callable[[str], PerUnit | None],
             prefix: str) -> dict[str, float]:
    out = {f"{prefix}energy_j": energy_j, f"{prefix}power_w": power_w}
    if not math.isnan(emissions_g):
        out[f"{prefix}emissions_g"] = emissions_g
    for unit in UNITS:
        got = per(unit)
        if got is None:
            continue
        out[f"{prefix}energy_per_{unit}_j"] = got.energy_j
        if not math.isnan(got.emissions_g):
            out[f"{prefix}emissions_per_{unit}_g"] = got.emissions_g
    return out


def job_figures(view: RunRecord, prefix: str = PREFIX + "job/") -> dict[str, float]:
    """:func:`log_figures` of a distributed job's merged record, and how many ranks it holds."""
    energy, seconds = view["energy_j"], view["duration_s"]
    grams = view.get("emissions_g")
    emissions = math.nan if grams is None else grams
    p = view.get("progress") or {"steps": 0, "samples": 0, "tokens": 0}
    counts = (p["steps"], p["samples"], p["tokens"])
    out = _figures(energy, energy / seconds if seconds > 0 else 0.0, emissions,
                   lambda unit: per_unit(counts, unit, energy, grams), prefix)
    job = view.get("job") or {}
    out[f"{prefix}ranks"] = float(job.get("ranks_seen") or 0)
    return out


def job_view(tracker: Tracker | None) -> RunRecord | None:
    """The merged record of the job this rank's stopped tracker belonged to (on the rank that
    merged it, rank 0; None elsewhere, outside a job, or when the ranks' exchange failed)."""
    ctx = getattr(tracker, "job", None)
    return getattr(ctx, "view", None)


def world_main(rank: object) -> bool:
    """Whether this process is the job's rank 0 (``rank`` as the framework gives it; None: alone)."""
    try:
        return rank is None or int(rank) == 0  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return True


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

    def start(self, default_name: str, tags: dict[str, str] | None = None, *, alone: bool = False) -> Run:
        """Start the run (the tracker's settings checked now: a typo fails before training).

        ``alone``: this process tracks by itself (an inference span), never as one rank of a
        job, unless the user set ``job``: the job layer's start is a collective of every rank.
        """
        kwargs = dict(self.tracker_kwargs)
        kwargs["tags"] = {**(tags or {}), **(kwargs.get("tags") or {})}
        if alone and "WATTPRINT_JOB" not in os.environ:
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
