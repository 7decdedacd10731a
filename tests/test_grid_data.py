"""The cloud-grid tables: every region's grid, its basis and vintage, published figures, refresh path."""

from __future__ import annotations

import csv
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from wattprint.intensity import static
from wattprint.intensity.static import BASIS_KEYS
from wattprint.units import LB_PER_MWH_TO_G_PER_KWH

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(static.__file__).parent / "data"
VALID_BASIS = {"scope": {"lifecycle", "direct"}, "gas": {"CO2e", "CO2"},
               "signal": {"average", "marginal"}, "accounting": {"consumption", "generation"}}


def _rows(name: str) -> list[dict[str, str]]:
    with (DATA / name).open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def script() -> ModuleType:
    path = ROOT / "scripts" / "refresh_grids.py"
    spec = importlib.util.spec_from_file_location("refresh_grids", path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules["refresh_grids"] = mod  # NamedTuple needs its module registered
    spec.loader.exec_module(mod)
    return mod


# -- every cloud region ------------------------------------------------------------------------


def test_every_cloud_region_has_a_grid_with_basis_and_year() -> None:
    for c in static.cloud_regions().values():
        g = static.grid(c.grid)
        assert g is not None and g.kind != "world", c.code
        assert g.year is not None and 2020 <= g.year <= 2026, (c.code, g.year)
        assert set(g.basis) == set(BASIS_KEYS), (c.code, g.basis)
        for key, value in g.basis.items():
            assert value in VALID_BASIS[key], (c.code, key, value)
        if c.alt:
            alt = static.grid(c.alt)
            assert alt is not None and alt.code != g.code, c.code


def test_every_gcp_region_uses_googles_own_figure() -> None:
    gcp = [c for c in static.cloud_regions().values() if c.provider == "gcp"]
    assert len(gcp) >= 45
    for c in gcp:
        g = static.grid(c.grid)
        assert g is not None and g.kind == "cloud" and g.code == f"gcp:{c.region}", c.code
        assert g.year == 2025 and "region-carbon-info" in g.source and "Apache-2.0" in g.source


def test_every_us_aws_and_azure_region_uses_an_egrid_subregion() -> None:
    us = [c for c in static.cloud_regions().values()
          if c.provider != "gcp" and (c.region.startswith(("us-", "usgov"))
                                      or c.region.endswith("us") or c.region[:-1].endswith("us"))]
    assert len(us) >= 16
    for c in us:
        g = static.grid(c.grid)
        assert g is not None and "eGRID subregion" in g.name and g.year == 2024, c.code


# -- US regions against published figures ------------------------------------------------------
# Reference figures, gCO2e/kWh, each the publisher's own for the same year as the shipped row:
# * Google Cloud region-carbon-info, data/yearly/2025.csv, "Grid carbon intensity (gCO2eq/kWh)".
GOOGLE_2025 = {
    "gcp:us-central1": 431.95, "gcp:us-central2": 417.39, "gcp:us-east1": 579.44,
    "gcp:us-east2": 391.2, "gcp:us-east4": 343.48, "gcp:us-east5": 343.48,
    "gcp:us-east7": 339.89, "gcp:us-south1": 299.13, "gcp:us-west1": 97.85,
    "gcp:us-west2": 149.91, "gcp:us-west3": 567.51, "gcp:us-west4": 360.0,
}
# * EPA GHG Emission Factors Hub 2026, Table 6: eGRID2024 subregion total output CO2 rate,
#   lb/MWh (CO2 alone: the shipped CO2e adds CH4 and N2O, well under 1 %).
EGRID2024_CO2_LB = {"SRVC": 637.4, "RFCW": 889.6, "CAMX": 403.6, "NWPP": 579.2, "MROW": 862.6,
                    "ERCT": 700.7, "RMPA": 959.0, "AZNM": 665.8}
US_REGIONS = {
    "aws:us-east-1": "SRVC", "aws:us-east-2": "RFCW", "aws:us-west-1": "CAMX",
    "aws:us-west-2": "NWPP", "aws:us-gov-east-1": "RFCW", "aws:us-gov-west-1": "NWPP",
    "azure:eastus": "SRVC", "azure:eastus2": "SRVC", "azure:usgovvirginia": "SRVC",
    "azure:centralus": "MROW", "azure:northcentralus": "RFCW", "azure:southcentralus": "ERCT",
    "azure:usgovtexas": "ERCT", "azure:westcentralus": "RMPA", "azure:westus": "CAMX",
    "azure:westus2": "NWPP", "azure:westus3": "AZNM", "azure:usgovarizona": "AZNM",
}
# * An independent check on the transcription, one edition earlier: eGRID2023 (rev2) summary
#   tables, subregion CO2e total output rate SRC2ERTA, lb/MWh (a year apart: 15 % again).
EGRID2023_CO2E_LB = {"SRVC": 596.3, "RFCW": 916.1, "NWPP": 635.3, "CAMX": 429.983}


def _figure(code: str) -> float:
    provider, _, region = code.partition(":")
    c = static.cloud_region(provider, region)
    assert c is not None, code
    g = static.grid(c.grid)
    assert g is not None
    return g.g_per_kwh


@pytest.mark.parametrize("code", sorted(GOOGLE_2025))
def test_gcp_us_regions_match_googles_published_figure(code: str) -> None:
    assert _figure(code) == pytest.approx(GOOGLE_2025[code], rel=0.15)


@pytest.mark.parametrize("code", sorted(US_REGIONS))
def test_aws_azure_us_regions_match_their_egrid_subregion(code: str) -> None:
    ref = EGRID2024_CO2_LB[US_REGIONS[code]] * LB_PER_MWH_TO_G_PER_KWH
    assert _figure(code) == pytest.approx(ref, rel=0.15)


@pytest.mark.parametrize("sub", sorted(EGRID2023_CO2E_LB))
def test_egrid_transcription_agrees_with_the_previous_edition(sub: str) -> None:
    g = static.grid(f"US-{sub}")
    assert g is not None
    assert g.g_per_kwh == pytest.approx(EGRID2023_CO2E_LB[sub] * LB_PER_MWH_TO_G_PER_KWH, rel=0.15)


def test_the_issue_regressions_are_gone() -> None:
    # aws:us-east-1 read Virginia's own generation (244.8), gcp:us-central1 Iowa's (287.6).
    va = static.grid("US-VA")
    assert va is not None and _figure("aws:us-east-1") > va.g_per_kwh * 1.15
    assert _figure("gcp:us-central1") == pytest.approx(431.95)
    assert _figure("gcp:us-east1") == pytest.approx(579.44)


def test_srvc_co2e_by_hand() -> None:
    # 637.4 + 28 x 0.047 + 265 x 0.007 = 640.571 lb/MWh -> x 0.45359237 = 290.558 g/kWh
    g = static.grid("US-SRVC")
    assert g is not None and g.g_per_kwh == pytest.approx(640.571 * 0.45359237)
    assert g.basis == {"scope": "direct", "gas": "CO2e", "signal": "average",
                       "accounting": "generation"}


def test_alternative_is_named_only_past_20_percent() -> None:
    far = static.alternative(static.cloud_region("aws", "us-west-2"))  # type: ignore[arg-type]
    assert far is not None and far[0].code == "gcp:us-west1" and far[1] < -0.2
    near = static.cloud_region("aws", "us-east-1")  # SRVC 290.6 vs Google Ashburn 343.5: +18 %
    assert near is not None and near.alt == "gcp:us-east4" and static.alternative(near) is None


# -- the refresh path ------------------------------------------------------------------------


def test_tables_csv_matches_the_script_registry(script: ModuleType) -> None:
    tables = {r["table"]: r for r in _rows("tables.csv")}
    shipped = {f.name for f in DATA.glob("*.csv")} - {"tables.csv", "cloud_regions.csv", "pue.csv"}
    assert set(tables) == shipped
    by_table = {s.table: (sid, s) for sid, s in script.SOURCES.items()}
    for name, row in tables.items():
        sid, src = by_table[name]
        assert row["source_id"] == sid and row["edition"] == src.edition
        assert int(row["data_year"]) == src.data_year
        assert tuple(row[k] for k in BASIS_KEYS) == script.BASIS[name]


def test_no_shipped_figure_is_older_than_its_sources_latest_edition(script: ModuleType) -> None:
    sources_md = (DATA / "SOURCES.md").read_text(encoding="utf-8")
    for sid, src in script.SOURCES.items():
        years = [int(r["year"]) for r in _rows(src.table)]
        assert max(years) == src.data_year, (sid, max(years))
        if sid != "ember":  # Ember gives each country its latest year; the others one year
            assert set(years) == {src.data_year}, sid
        if src.data_year < src.latest_year or src.edition != src.latest_edition:
            # Only allowed when the script says why and SOURCES.md tells the user.
            assert src.stale, f"{src.table} is {src.edition}, the latest known is {src.latest_edition}"
            assert f"`{src.table}` is {src.edition.split()[0]}" in sources_md, sid
        else:
            assert not src.stale, sid


def test_the_egrid_table_is_rebuilt_exactly(script: ModuleType) -> None:
    rebuilt = [[str(x) for x in row] for row in script.egrid_rows()]
    shipped = [list(r.values()) for r in _rows("egrid_subregions.csv")]
    assert rebuilt == shipped


def test_the_cloud_mapping_is_the_scripts(script: ModuleType) -> None:
    for (provider, region), sub in script.DRAW_US.items():
        c = static.cloud_region(provider, region)
        assert c is not None
        assert c.grid == (f"gcp:{region}" if provider == "gcp" else sub), c.code
        if provider == "gcp":
            assert c.alt == sub


def test_published_files_are_checked_against_their_hash(script: ModuleType, tmp_path: Path) -> None:
    src = script.SOURCES["google-regions"]
    header = "Google Cloud Region,Location,Google CFE,Grid carbon intensity (gCO2eq / kWh)\n"
    (tmp_path / src.local).write_text(header + "us-central1,Iowa,0.88,1.0\n", encoding="utf-8")
    with pytest.raises(SystemExit, match="sha256"):
        script.read_published(src, tmp_path)
    with pytest.raises(SystemExit, match="not found"):
        script.read_published(src, tmp_path / "empty")
    # The parser itself: europe-west5 ("N/A") is left out, codes get their gcp: prefix.
    rows = script.gcp_rows((header + "europe-west5,N/A,0.7,1\nus-east4,Northern Virginia,0.57,"
                            "343.48\n").encode())
    assert [r[0] for r in rows] == ["gcp:us-east4"] and rows[0][2] == "343.48"


def test_live_providers_find_the_zone_of_a_google_region() -> None:
    # Google's own figure is the grid of a GCP region; a live provider asks for the zone of
    # the place it is in (Electricity Maps FR for Paris, UK Carbon Intensity for London).
    from settings_for import settings_for
    from wattprint.intensity.live import choose_provider

    assert static.place_grid("gcp:europe-west9") == "FR"
    assert static.place_grid("gcp:us-central1") == "US-MROW" and static.place_grid("FR") == "FR"
    em = choose_provider("gcp:europe-west9", settings_for({"ELECTRICITYMAPS_API_KEY": "k"}))
    assert em is not None and "FR" in em.source
    uk = choose_provider("gcp:europe-west2", settings_for({"WATTPRINT_UK_CARBON_INTENSITY": "1"}))
    assert uk is not None and uk.name.startswith("UK")
