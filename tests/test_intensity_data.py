"""Integrity of the embedded intensity tables, and published figures reproduced by our arithmetic."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest

from wattprint.intensity import static
from wattprint.units import emissions_g, kwh_to_j

DATA = Path(static.__file__).parent / "data"


def rows(name: str) -> list[dict[str, str]]:
    with (DATA / name).open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_every_csv_is_documented_in_sources_md() -> None:
    sources = (DATA / "SOURCES.md").read_text(encoding="utf-8")
    for f in DATA.glob("*.csv"):
        assert f"## {f.name}" in sources, f"{f.name} has no section in SOURCES.md"
    assert "CC BY 4.0" in sources and "public domain" in sources


def test_at_least_200_countries_each_with_year_and_source() -> None:
    countries = [g for g in static.grids().values() if g.kind == "country"]
    assert len(countries) >= 200
    for g in static.grids().values():
        assert g.source.strip(), g.code
        assert g.year is not None and 2000 <= g.year <= 2026, g.code


def test_no_negative_or_absurd_values() -> None:
    # The dirtiest real grids (oil/coal islands, Turkmenistan) sit near 1000-1300 g/kWh.
    for g in static.grids().values():
        assert 0.0 < g.g_per_kwh < 1500.0, (g.code, g.g_per_kwh)
    for p in static.pue_defaults().values():
        assert 1.0 <= p.pue <= 2.0 and p.source


def test_codes_are_unique_and_well_formed() -> None:
    for name in ("countries.csv", "us_states.csv", "au_states.csv", "cn_provinces.csv"):
        codes = [r["code"] for r in rows(name)]
        assert not [c for c, n in Counter(codes).items() if n > 1], name
    for r in rows("countries.csv"):
        assert (len(r["code"]) == 2 and r["code"].isupper()) or r["code"] == "WORLD"
        assert len(r["iso3"]) == 3 and r["name"]
    for name in ("us_states.csv", "au_states.csv", "cn_provinces.csv"):
        prefix = {"us": "US-", "au": "AU-", "cn": "CN-"}[name[:2]]
        assert all(r["code"].startswith(prefix) for r in rows(name))


def test_world_average_has_its_year() -> None:
    w = static.world()
    assert w.code == "WORLD" and w.year == 2024 and w.g_per_kwh == pytest.approx(472.94)


def test_us_states_complete() -> None:
    us = [g for g in static.grids() if g.startswith("US-")]
    assert len(us) == 51  # 50 states + DC


def test_every_cloud_region_maps_to_a_known_grid() -> None:
    regions = static.cloud_regions()
    by_provider = Counter(p for p, _ in regions)
    assert by_provider["aws"] >= 35 and by_provider["gcp"] >= 40 and by_provider["azure"] >= 60
    for (provider, region), c in regions.items():
        assert provider in static.PROVIDERS and region == region.lower()
        g = static.grid(c.grid)
        assert g is not None and g.kind != "world", c.code
        assert c.location and c.source
    dupes = Counter((r["provider"], r["region"]) for r in rows("cloud_regions.csv"))
    assert max(dupes.values()) == 1


@pytest.mark.parametrize("provider, region, grid", [
    ("aws", "us-east-1", "US-VA"), ("aws", "eu-west-3", "FR"), ("aws", "ap-southeast-2", "AU-NSW"),
    ("aws", "cn-northwest-1", "CN-NX"), ("gcp", "us-central1", "US-IA"),
    ("gcp", "europe-west4", "NL"), ("azure", "westeurope", "NL"), ("azure", "northeurope", "IE"),
    ("azure", "West Europe", "NL"),
])
def test_known_cloud_regions(provider: str, region: str, grid: str) -> None:
    c = static.cloud_region(provider, region)
    assert c is not None and c.grid == grid


def test_egrid_california_reproduced() -> None:
    # EPA eGRID2023 CA total output CO2e rate 394.769 lb/MWh → 179.06 g/kWh.
    row = next(r for r in rows("us_states.csv") if r["code"] == "US-CA")
    assert float(row["lb_per_mwh"]) == 394.769
    ca = static.grid("US-CA")
    assert ca is not None and round(ca.g_per_kwh, 2) == 179.06
    assert emissions_g(kwh_to_j(1.0), ca.g_per_kwh) == pytest.approx(179.0642, abs=1e-4)


def test_ember_france_one_kwh() -> None:
    fr = static.grid("FR")
    assert fr is not None and fr.year == 2025
    assert emissions_g(kwh_to_j(1.0), fr.g_per_kwh) == pytest.approx(41.44)
    # 10 kWh on AWS Paris: 10 × 41.44 × 1.15 (AWS PUE) = 476.56 g.
    pue = static.pue_defaults()["aws"].pue
    assert emissions_g(kwh_to_j(10.0), fr.g_per_kwh, pue) == pytest.approx(476.56)


def test_official_subnational_factors() -> None:
    assert static.grid("AU-TAS").g_per_kwh == pytest.approx(150.0)  # NGA 2024: 0.15 kg/kWh
    assert static.grid("CN-BJ").g_per_kwh == pytest.approx(555.4)  # MEE/NBS 2023 Beijing
    assert static.pue_defaults()["datacentre"].pue == 1.56
    assert static.pue_defaults()["personal"].pue == 1.0


def test_search_is_case_insensitive_on_code_and_name() -> None:
    gs, cs = static.search("GERMANY")
    assert [g.code for g in gs] == ["DE"] and any(c.code == "azure:germanynorth" for c in cs)
    gs, _ = static.search("au-")
    assert {g.code for g in gs} >= {"AU-NSW", "AU-VIC"}
