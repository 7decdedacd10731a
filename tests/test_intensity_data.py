"""Integrity of the embedded intensity tables, and published figures reproduced by our arithmetic."""

from __future__ import annotations

import csv
import importlib.util
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
    for name in ("countries.csv", "us_states.csv", "au_states.csv", "cn_provinces.csv",
                 "ca_provinces.csv"):
        codes = [r["code"] for r in rows(name)]
        assert not [c for c, n in Counter(codes).items() if n > 1], name
    for r in rows("countries.csv"):
        assert (len(r["code"]) == 2 and r["code"].isupper()) or r["code"] == "WORLD"
        assert len(r["iso3"]) == 3 and r["name"]
    for name in ("us_states.csv", "au_states.csv", "cn_provinces.csv", "ca_provinces.csv"):
        prefix = {"us": "US-", "au": "AU-", "cn": "CN-", "ca": "CA-"}[name[:2]]
        assert all(r["code"].startswith(prefix) for r in rows(name))


def test_world_average_has_its_year() -> None:
    w = static.world()
    assert w.code == "WORLD" and w.year == 2024 and w.g_per_kwh == pytest.approx(472.94)


def test_us_states_complete() -> None:
    us = [g for g in static.grids() if g.startswith("US-") and len(g) == 5]
    assert len(us) == 51  # 50 states + DC (eGRID subregions are US- + four letters)


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
    ("aws", "us-east-1", "US-SRVC"), ("aws", "eu-west-3", "FR"), ("aws", "ap-southeast-2", "AU-NSW"),
    ("aws", "cn-northwest-1", "CN-NX"), ("gcp", "us-central1", "gcp:us-central1"),
    ("gcp", "europe-west4", "gcp:europe-west4"), ("azure", "westeurope", "NL"), ("azure", "northeurope", "IE"),
    ("azure", "West Europe", "NL"),
    ("aws", "ca-central-1", "CA-QC"), ("aws", "ca-west-1", "CA-AB"),
    ("gcp", "northamerica-northeast1", "gcp:northamerica-northeast1"),
    ("gcp", "northamerica-northeast2", "gcp:northamerica-northeast2"),
    ("azure", "canadacentral", "CA-ON"), ("azure", "canadaeast", "CA-QC"),
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


CA_CODES = ("CA-AB", "CA-BC", "CA-MB", "CA-NB", "CA-NL", "CA-NS", "CA-ON", "CA-PE", "CA-QC",
            "CA-SK", "CA-NT", "CA-NU", "CA-YT")


def test_canadian_provinces_and_territories_all_present() -> None:
    ca = {c: g for c, g in static.grids().items() if c.startswith("CA-")}
    assert sorted(ca) == sorted(CA_CODES)
    for g in ca.values():
        assert g.kind == "subnational" and g.year == 2023
        assert "IPCC AR5" in g.source and "Canada Energy Regulator" in g.source
        assert "Open Government Licence" in g.source
        # Lifecycle basis: even an all-hydro grid carries ~24 g/kWh; diesel-only
        # Nunavut cannot exceed the oil factor (700).
        assert 20.0 <= g.g_per_kwh <= 700.0, (g.code, g.g_per_kwh)


def test_canadian_provinces_sane_order() -> None:
    g = {c: static.grid(c).g_per_kwh for c in CA_CODES}  # type: ignore[union-attr]
    for hydro in ("CA-QC", "CA-MB", "CA-NL", "CA-BC"):
        assert g[hydro] < 60.0, hydro
    for fossil in ("CA-AB", "CA-SK", "CA-NS", "CA-NU"):
        assert g[fossil] > 400.0, fossil
    assert g["CA-QC"] < g["CA-ON"] < g["CA-NB"] < g["CA-AB"]
    # The Ember national figure lies between its cleanest and dirtiest provinces.
    assert min(g.values()) < static.grid("CA").g_per_kwh < max(g.values())  # type: ignore[union-attr]
    gs, _ = static.search("quebec")
    assert [x.code for x in gs] == ["CA-QC"]


def _build_script():  # type: ignore[no-untyped-def]
    path = Path(__file__).resolve().parents[1] / "scripts" / "build_intensity_tables.py"
    spec = importlib.util.spec_from_file_location("build_intensity_tables", path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_quebec_reproduced_from_its_mix() -> None:
    # CER 2023 mix for Quebec (% of generation, as in codecarbon 3.3.2's copy) x AR5
    # lifecycle medians: (92.1x24 + 6.7x11 + 0.7x230 + 0.3x700 + 0.2x490 + 0.01x48)
    # / 100.01 = 27.5 g/kWh.
    mix = {"hydro": 92.1, "wind": 6.7, "biomass": 0.7, "petroleum": 0.3, "naturalGas": 0.2,
           "solar": 0.01, "coal": 0.0, "nuclear": 0.0, "tidal": 0.0, "other": 0.0,
           "total": 100.01}
    by_hand = (92.1 * 24 + 6.7 * 11 + 0.7 * 230 + 0.3 * 700 + 0.2 * 490 + 0.01 * 48) / 100.01
    assert _build_script().ca_intensity(mix) == pytest.approx(by_hand)
    assert static.grid("CA-QC").g_per_kwh == pytest.approx(round(by_hand, 1))  # type: ignore[union-attr]
    row = next(r for r in rows("ca_provinces.csv") if r["code"] == "CA-QC")
    assert row["name"] == "Quebec" and row["year"] == "2023"
