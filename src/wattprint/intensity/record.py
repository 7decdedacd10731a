"""The intensity part of the run record, as a TypedDict.

A module of its own because it needs :mod:`typing` at run time, which
``intensity/base.py`` (on the ``import wattprint`` path) must not import: the
run record (:mod:`wattprint.tracking.record`) and its checker load this one.
"""

from __future__ import annotations

from typing import Any, TypedDict


class _Applied(TypedDict):
    """What a priced run really used (``Intensity.applied``), all energy-weighted.

    ``effective_g_per_kwh``: location-based g/kWh over the run's energy; ``live_share``:
    share of the energy priced by live values (the rest by the embedded figure);
    ``gaps``: [start, end] UTC of the spans without a live value (at most 20, merged),
    ``gap_count`` all of them; the ``marginal_*`` keys appear with a marginal signal:
    its emissions over the energy it covers (``marginal_share``) and its mean g/kWh.
    """

    effective_g_per_kwh: float | None
    live_share: float
    gaps: list[list[float]]
    gap_count: int


class AppliedRecord(_Applied, total=False):
    """See :class:`_Applied`; the marginal keys only with a marginal signal."""

    marginal_emissions_g: float | None
    marginal_g_per_kwh: float | None
    marginal_share: float


class _IntensityBase(TypedDict):
    """The keys every stored intensity has (older runs have only these)."""

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
    hourly: list[list[float]]  # older versions: (hour start, g/kWh); now always empty
    live_source: str | None


class IntensityRecord(_IntensityBase, total=False):
    """:meth:`Intensity.to_dict`: the intensity part of the run record (the keys below
    are absent from runs stored by older versions)."""

    basis: dict[str, str]
    series: list[list[Any]]  # [t0, t1, g/kWh, quality]
    live_basis: dict[str, str]
    marginal: list[list[Any]]
    marginal_source: str | None
    marginal_basis: dict[str, str]
    live_faults: list[str]
    applied: AppliedRecord
    site: str | None  # personal, datacentre, aws, gcp, azure: it gives the PUE
    site_source: str | None  # why that site
    place: str | None  # where the energy is drawn, in words (cloud region and location, grid name)
    alternatives: list[str]  # other figures for the place, more than 20 % from the one used
