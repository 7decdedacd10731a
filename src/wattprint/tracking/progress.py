"""Units of work done during a span: steps, samples, tokens, and the figures per unit.

A run counts what the work reports with ``run.step(samples=…, tokens=…)`` (a
training loop, a callback, an inference helper). A window's counts are the
run's counts at its close minus those at its opening, exactly as its energy is
a difference of counters, so a step recorded anywhere in the process lands in
every window open at that moment. Energy per unit is then the span's energy
divided by its count: the functional unit of SCI (ISO/IEC 21031) when the
report is asked for it.

Kept free of ``typing`` and ``dataclasses``: this module is on the
``import wattprint`` path (see :mod:`wattprint._record`).
"""

from __future__ import annotations

import threading

from wattprint._record import Record
from wattprint.errors import ConfigError

TYPE_CHECKING = False  # not from typing: see tracker.py
if TYPE_CHECKING:
    from wattprint.tracking.record import ProgressRecord

UNITS = ("step", "sample", "token")  # the names ``per()`` takes; counted as steps/samples/tokens
_PLURAL = {"step": "steps", "sample": "samples", "token": "tokens"}
_SINGULAR = {v: k for k, v in _PLURAL.items()}

Counts = tuple  # (steps, samples, tokens), plain ints


def _count(value: object, what: str) -> int:
    """``value`` as a count (ints, numpy and torch scalars); one clear error otherwise."""
    try:
        n = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(f"step({what}=...) must be a whole number, got {value!r}") from None
    if n < 0 or n != value:
        raise ConfigError(f"step({what}=...) must be a whole number of 0 or more, got {value!r}")
    return n


class Progress:
    """The run's counters; :meth:`add` may be called from any thread.

    The lock is this object's own (never the run's, which the sampler holds
    while it closes an interval), so a step never waits for a tick.
    """

    __slots__ = ("_counts", "_lock")

    def __init__(self) -> None:
        # one tuple, replaced on each step: windows keep a reference to it, not a copy
        self._counts: Counts = (0, 0, 0)
        self._lock = threading.Lock()

    def add(self, steps: int = 1, samples: int | None = None, tokens: int | None = None) -> None:
        """Count ``steps`` steps (default 1) and, when given, samples and tokens."""
        if steps.__class__ is not int or steps < 0:
            steps = _count(steps, "steps")
        s = 0 if samples is None else (samples if samples.__class__ is int and samples >= 0
                                       else _count(samples, "samples"))
        t = 0 if tokens is None else (tokens if tokens.__class__ is int and tokens >= 0
                                      else _count(tokens, "tokens"))
        with self._lock:
            a, b, c = self._counts
            self._counts = (a + steps, b + s, c + t)

    def counts(self) -> Counts:
        """``(steps, samples, tokens)`` as of now."""
        return self._counts


def record_of(counts: Counts) -> ProgressRecord | None:
    """The record's ``progress`` (None when nothing was counted: the key is then left out)."""
    steps, samples, tokens = counts
    if not (steps or samples or tokens):
        return None
    return {"steps": steps, "samples": samples, "tokens": tokens}


def difference(later: Counts, earlier: Counts) -> Counts:
    """What was counted between two readings of the counters."""
    return (later[0] - earlier[0], later[1] - earlier[1], later[2] - earlier[2])


def unit_name(unit: str) -> str:
    """``"token"``/``"tokens"`` → ``"token"``; a one-line error for anything else."""
    name = _SINGULAR.get(unit, unit)
    if name not in UNITS:
        raise ConfigError(f"unknown unit {unit!r}: use one of {', '.join(UNITS)}")
    return name


def counted(counts: Counts, unit: str) -> int:
    """How many ``unit`` (step, sample or token) ``counts`` holds."""
    return counts[UNITS.index(unit_name(unit))]


class PerUnit(Record):
    """A span's figures divided by a count of units (``run.per("token")``).

    ``emissions_g`` is NaN while the span's intensity is not known.
    """

    __slots__ = ("unit", "count", "energy_j", "emissions_g")

    def __init__(self, unit: str, count: int, energy_j: float, emissions_g: float) -> None:
        self.unit = unit
        self.count = count
        self.energy_j = energy_j
        self.emissions_g = emissions_g


def per_unit(counts: Counts, unit: str, energy_j: float, emissions_g: float | None) -> PerUnit | None:
    """Energy (J) and emissions (g) per ``unit``; None when no such unit was counted."""
    name = unit_name(unit)
    n = counted(counts, name)
    if n <= 0:
        return None
    g = float("nan") if emissions_g is None else emissions_g / n
    return PerUnit(name, n, energy_j / n, g)
