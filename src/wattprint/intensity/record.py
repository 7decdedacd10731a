"""The intensity part of the run record, as a TypedDict.

A module of its own because it needs :mod:`typing` at run time, which
``intensity/base.py`` (on the ``import wattprint`` path) must not import: the
run record (:mod:`wattprint.tracking.record`) and its checker load this one.
"""

from __future__ import annotations

from typing import TypedDict


class IntensityRecord(TypedDict):
    """:meth:`Intensity.to_dict`: the intensity part of the run record."""

    g_per_kwh: float
    source: str
    location: str
    year: int | None
    fallback: bool
    pue: float
    pue_source: str
    chain: list[str]
    warnings: list[str]
    market_g_per_kwh: float | None
    market_source: str | None
    hourly: list[list[float]]
    live_source: str | None
