"""The embedded grid-intensity tables (``intensity/data/*.csv``), loaded lazily.

Why lazily: ``import wattprint`` must stay cheap; the tables are read on the first
lookup (a few hundred rows, well under a millisecond each) and cached for the
process. All figures are gCO2e per kWh; eGRID rows are stored in their published
lb/MWh and converted here with the exact 0.45359237 factor. See data/SOURCES.md.
"""

from __future__ import annotations

import csv
import functools
import os

from wattprint._record import FrozenRecord
from wattprint.units import LB_PER_MWH_TO_G_PER_KWH

TYPE_CHECKING = False  # not from typing: importing it costs more than this module
if TYPE_CHECKING:
    from wattprint.intensity.base import Intensity

_DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
WORLD_CODE = "WORLD"
PROVIDERS = ("aws", "gcp", "azure")
# Tables of sub-national grids, by country prefix of their codes (eGRID subregions are
# US-SRVC and the like: four letters, never a state's two).
_SUBNATIONAL_FILES = ("us_states.csv", "egrid_subregions.csv", "au_states.csv",
                      "cn_provinces.csv", "ca_provinces.csv")
# Grid figures a cloud provider publishes for its own regions (code ``gcp:us-central1``).
_CLOUD_GRID_FILES = ("gcp_regions.csv",)
BASIS_KEYS = ("scope", "gas", "signal", "accounting")


class GridRecord(FrozenRecord):
    """One grid: a country, a sub-national region or the world average.

    ``code`` is ISO 3166-1 alpha-2 (``FR``), ISO 3166-2-like (``US-CA``, ``CA-QC``)
    or ``WORLD``; ``g_per_kwh`` is its average intensity in gCO2e/kWh for ``year``;
    ``source`` names dataset and licence; ``kind`` is country/subnational/cloud/world
    (cloud: a provider's own figure for one of its regions, code ``gcp:us-central1``).
    ``basis`` says what the figure counts: ``scope`` lifecycle|direct, ``gas``
    CO2e|CO2, ``signal`` average|marginal, ``accounting`` generation|consumption
    (from ``data/tables.csv``; a missing key is unknown).
    """

    __slots__ = ("code", "name", "g_per_kwh", "year", "source", "kind", "iso3", "basis")
    code: str
    name: str
    g_per_kwh: float
    year: int | None
    source: str
    kind: str
    iso3: str | None
    basis: dict[str, str]

    def __init__(self, code: str, name: str, g_per_kwh: float, year: int | None, source: str, kind: str,
                 iso3: str | None = None, basis: dict[str, str] | None = None) -> None:
        super().__init__(code, name, g_per_kwh, year, source, kind, iso3, dict(basis or {}))

    def basis_text(self) -> str:
        """``lifecycle CO2e, average, generation-based`` (unknown parts left out)."""
        return basis_text(self.basis)

    def __hash__(self) -> int:  # type: ignore[override]  # basis is a dict: hash the row identity
        return hash((self.code, self.year, self.g_per_kwh))


class CloudRegion(FrozenRecord):
    """A cloud provider's region and the grid it draws from.

    ``grid`` is the figure used: the provider's own for the region (``gcp:...``), the
    eGRID subregion of a US site (``US-SRVC``), else the province/state/country.
    ``alt`` is a second defensible figure for the same site ("" when none is known),
    shown when the two differ by more than :data:`ALT_THRESHOLD`.
    """

    __slots__ = ("provider", "region", "location", "grid", "source", "alt")
    provider: str
    region: str
    location: str
    grid: str
    source: str
    alt: str

    def __init__(self, provider: str, region: str, location: str, grid: str, source: str,
                 alt: str = "") -> None:
        super().__init__(provider, region, location, grid, source, alt)

    @property
    def code(self) -> str:
        """The ``provider:region`` form used in flags and listings (``aws:eu-west-3``)."""
        return f"{self.provider}:{self.region}"


class PueDefault(FrozenRecord):
    """A power usage effectiveness default (dimensionless, ≥ 1) and where it comes from."""

    __slots__ = ("key", "pue", "year", "source")
    key: str
    pue: float
    year: int | None
    source: str

    def __init__(self, key: str, pue: float, year: int | None, source: str) -> None:
        super().__init__(key, pue, year, source)


def _rows(name: str) -> list[dict[str, str]]:
    # A plain file path, not importlib.resources: that import alone costs ~40 ms.
    with open(os.path.join(_DATA_DIR, name), encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _year(s: str) -> int | None:
    return int(s) if s.strip() else None


ALT_THRESHOLD = 0.20  # two figures for one site further apart than this are both shown


def basis_text(basis: dict[str, str]) -> str:
    """A basis dict as words: ``direct CO2e, average, consumption-based``."""
    head = " ".join(basis[k] for k in ("scope", "gas") if basis.get(k))
    parts = [p for p in (head, basis.get("signal", ""),
                         f"{basis['accounting']}-based" if basis.get("accounting") else "") if p]
    return ", ".join(parts) or "basis unknown"


@functools.lru_cache(maxsize=1)
def tables() -> dict[str, dict[str, str]]:
    """``data/tables.csv``: per table, its source id, edition, data year and basis."""
    return {r["table"]: r for r in _rows("tables.csv")}


def _basis(table: str) -> dict[str, str]:
    row = tables().get(table, {})
    return {k: row[k] for k in BASIS_KEYS if row.get(k)}


@functools.lru_cache(maxsize=1)
def grids() -> dict[str, GridRecord]:
    """Every known grid by code (upper case): countries, sub-national regions, the
    providers' own cloud-region figures (``GCP:US-CENTRAL1``) and WORLD."""
    out: dict[str, GridRecord] = {}
    basis = _basis("countries.csv")
    for r in _rows("countries.csv"):
        kind = "world" if r["code"] == WORLD_CODE else "country"
        out[r["code"]] = GridRecord(r["code"], r["name"], float(r["g_per_kwh"]), _year(r["year"]),
                                    r["source"], kind, r["iso3"] or None, basis)
    for fname, kind in ([(f, "subnational") for f in _SUBNATIONAL_FILES]
                        + [(f, "cloud") for f in _CLOUD_GRID_FILES]):
        basis = _basis(fname)
        for r in _rows(fname):
            if "lb_per_mwh" in r:
                g = float(r["lb_per_mwh"]) * LB_PER_MWH_TO_G_PER_KWH
                src = f"{r['source']} ({r['lb_per_mwh']} lb/MWh x 0.45359237)"
            else:
                g, src = float(r["g_per_kwh"]), r["source"]
            out[r["code"].upper()] = GridRecord(r["code"], r["name"], g, _year(r["year"]), src,
                                                kind, None, basis)
    return out


@functools.lru_cache(maxsize=1)
def _iso3() -> dict[str, str]:
    return {g.iso3: g.code for g in grids().values() if g.iso3 and g.kind == "country"}


def grid(code: str) -> GridRecord | None:
    """The grid for ``code`` (case-insensitive; ISO alpha-3 accepted for countries), or None."""
    c = code.strip().upper().replace("_", "-")
    g = grids().get(c)
    if g is None and len(c) == 3 and c.isalpha():
        alt = _iso3().get(c)
        g = grids().get(alt) if alt else None
    return g


def world() -> GridRecord:
    """The world-average fallback row (Ember World, with its year)."""
    return grids()[WORLD_CODE]


def has_subnational(country: str) -> bool:
    """True when ``country`` has a sub-national table (an unknown sub-code is then an error)."""
    prefix = country.upper() + "-"
    return any(k.startswith(prefix) for k in grids())


@functools.lru_cache(maxsize=1)
def cloud_regions() -> dict[tuple[str, str], CloudRegion]:
    """Every known cloud region by (provider, region code)."""
    return {(r["provider"], r["region"]): CloudRegion(r["provider"], r["region"], r["location"],
                                                      r["grid"], r["source"], r.get("alt") or "")
            for r in _rows("cloud_regions.csv")}


def place_grid(code: str) -> str:
    """The grid code of the place behind ``code``: a provider's own figure for a region
    (``gcp:europe-west2``) gives the province/state/country or eGRID subregion it is in
    (``GB``), so live providers find their zone; any other code is returned as given."""
    provider, sep, region = code.partition(":")
    cr = cloud_region(provider, region) if sep else None
    return cr.alt if cr is not None and cr.alt and cr.grid == code else code


def alternative(cr: CloudRegion) -> tuple[GridRecord, float] | None:
    """The second figure for ``cr``'s site and its relative gap (alt / used - 1), when the
    gap exceeds :data:`ALT_THRESHOLD`; else None."""
    used, alt = grid(cr.grid), grid(cr.alt) if cr.alt else None
    if used is None or alt is None or used.g_per_kwh <= 0:
        return None
    gap = alt.g_per_kwh / used.g_per_kwh - 1.0
    return (alt, gap) if abs(gap) > ALT_THRESHOLD else None


def cloud_region(provider: str, region: str) -> CloudRegion | None:
    """Look up ``provider`` (aws/gcp/azure, case-insensitive) and its ``region`` code."""
    p = provider.strip().lower()
    r = region.strip().lower()
    if p == "azure":
        r = r.replace(" ", "")  # "West Europe" display name → westeurope
    return cloud_regions().get((p, r))


@functools.lru_cache(maxsize=1)
def pue_defaults() -> dict[str, PueDefault]:
    """PUE defaults keyed aws/gcp/azure/datacentre/personal."""
    return {r["key"]: PueDefault(r["key"], float(r["pue"]), _year(r["year"]), r["source"])
            for r in _rows("pue.csv")}


def search(text: str = "") -> tuple[list[GridRecord], list[CloudRegion]]:
    """Grids and cloud regions whose code or name contains ``text`` (case-insensitive)."""
    t = text.strip().lower()
    gs = sorted((g for g in grids().values()
                 if not t or t in g.code.lower() or t in g.name.lower()
                 or (g.iso3 and t == g.iso3.lower())),
                key=lambda g: ({"world": 0, "country": 1, "subnational": 2, "cloud": 3}[g.kind],
                               g.code))
    cs = sorted((c for c in cloud_regions().values()
                 if not t or t in c.code.lower() or t in c.location.lower()
                 or t == c.grid.lower()),
                key=lambda c: (c.provider, c.region))
    return gs, cs


def world_average(reason: str = "") -> Intensity:
    """A flagged world-average :class:`Intensity` (``fallback=True``) with a visible warning.

    For callers that could not resolve a location at all (e.g. the resolver failed);
    ``reason`` goes into the chain and the warning.
    """
    from wattprint.intensity.base import Intensity

    w = world()
    why = f" ({reason})" if reason else ""
    return Intensity(
        g_per_kwh=w.g_per_kwh, source=w.source, location=w.code, year=w.year, fallback=True,
        basis=dict(w.basis),
        chain=[f"fallback{why}: world average {w.g_per_kwh:g} gCO2e/kWh ({w.year})"],
        warnings=[f"Location unknown{why}: using the world average {w.g_per_kwh:g} "
                  f"gCO2e/kWh (Ember {w.year}). Set --country/--region, WATTPRINT_COUNTRY "
                  "or `country` in wattprint.toml for your grid's figure."])
