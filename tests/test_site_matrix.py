"""Location x site matrix: every combination of explicit location, detected cloud (imitation
metadata servers on 127.0.0.1) and configured provider gives the documented grid and PUE.

The rules (intensity/resolve.py, intensity/site.py): the grid comes from the explicit location,
else from the metadata's region, else the world average; the site from the site setting, else
the provider of an explicit cloud region, else the configured provider, else the detected
cloud, else a batch scheduler (data centre), else a personal machine; the PUE from the site.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from local_http import LocalServer, closed_port_url
from settings_for import settings_for
from test_locate import aws_route, azure_route, gcp_route
from wattprint.intensity.resolve import resolve

PUE = {"personal": 1.0, "datacentre": 1.56, "aws": 1.15, "gcp": 1.10, "azure": 1.18}
# explicit location -> (settings, grid, provider of the location or None)
LOCATIONS = {
    "none": ({}, None, None),
    "country US": ({"country": "US"}, "US", None),
    "region US-VA": ({"region": "US-VA"}, "US-VA", None),
    "cloud aws:us-east-1": ({"cloud_provider": "aws", "cloud_region": "us-east-1"}, "US-SRVC", "aws"),
    "cloud gcp:us-central1": ({"cloud_provider": "gcp", "cloud_region": "us-central1"},
                              "gcp:us-central1", "gcp"),
}
# what the imitation metadata servers say: provider -> the grid of the region they report
AWS_REGION = "eu-central-1"  # -> DE: each server reports a region on another grid
DETECTED = {"none": None, "aws": "DE", "gcp": "gcp:us-central1", "azure": "NL"}
CONFIGURED = ("none", "aws", "gcp", "azure")
SITES = ("none", "personal", "datacentre")


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, str]]:
    made = {"aws": LocalServer(aws_route(AWS_REGION)), "gcp": LocalServer(gcp_route),
            "azure": LocalServer(azure_route)}
    yield {k: s.url for k, s in made.items()}
    for s in made.values():
        s.close()


def expected(location: str, detected: str, configured: str, site: str) -> tuple[str, str, float]:
    """(grid, site, PUE) by the documented rules."""
    _, loc_grid, loc_provider = LOCATIONS[location]
    grid = loc_grid or DETECTED[detected] or "WORLD"
    if site != "none":
        kind = site
    else:
        chosen = loc_provider or (None if configured == "none" else configured)
        kind = chosen or (None if detected == "none" else detected) or "personal"
    return grid, kind, PUE[kind]


CASES = list(itertools.product(LOCATIONS, DETECTED, CONFIGURED, SITES))


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("location", "detected", "configured", "site"), CASES,
                         ids=["|".join(c) for c in CASES])
def test_location_by_site_matrix(servers: dict[str, str], location: str, detected: str,
                                 configured: str, site: str) -> None:
    values, _, _ = LOCATIONS[location]
    project: dict[str, object] = dict(values)
    if configured != "none" and "cloud_provider" not in project:
        project["cloud_provider"] = configured  # a provider without a region, in wattprint.toml
    env = {} if site == "none" else {"WATTPRINT_SITE": site}
    urls = {p: (servers[p] if p == detected else closed_port_url()) for p in ("aws", "gcp", "azure")}
    it = resolve(settings=settings_for(env, project), probe_cloud=True, metadata_urls=urls,
                 environ={})
    grid, kind, pue = expected(location, detected, configured, site)
    assert (it.location, it.site, it.pue) == (grid, kind, pytest.approx(pue)), it.chain
    assert it.fallback == (grid == "WORLD")
    assert it.site_source and f"site {kind} (" in it.pue_source  # every PUE says its site and why
    assert any(step.startswith(f"site {kind}: ") for step in it.chain)


@pytest.mark.parametrize(("environ", "why"), [
    ({"SLURM_JOB_ID": "4242"}, "a Slurm job (SLURM_JOB_ID is set)"),
    ({"KUBERNETES_SERVICE_HOST": "10.0.0.1"}, "a Kubernetes pod (KUBERNETES_SERVICE_HOST is set)"),
])
def test_a_scheduler_suggests_a_data_centre_and_says_so(environ: dict[str, str], why: str) -> None:
    it = resolve(country="US", probe_cloud=False, environ=environ)
    assert it.site == "datacentre" and it.pue == pytest.approx(1.56)
    assert it.site_source.startswith(f"{why} suggests a data centre")  # type: ignore[union-attr]
    # an explicit site or a cloud provider is better evidence than a scheduler
    assert resolve(country="US", site="personal", probe_cloud=False, environ=environ).pue == 1.0
    assert resolve(cloud_region="aws:us-east-1", probe_cloud=False, environ=environ).site == "aws"


def test_explicit_pue_wins_over_every_site() -> None:
    for site in PUE:
        it = resolve(country="FR", site=site, pue=1.3, probe_cloud=False, environ={})
        assert it.site == site and it.pue == 1.3 and it.pue_source == "set by argument pue"


def test_site_setting_against_a_cloud_location_warns() -> None:
    it = resolve(cloud_region="aws:us-east-1", site="personal", probe_cloud=False, environ={})
    assert it.site == "personal" and it.pue == 1.0 and it.location == "US-SRVC"
    assert any("says aws" in w for w in it.warnings)


def test_personal_machine_default_says_why() -> None:
    it = resolve(country="FR", probe_cloud=False, environ={})
    assert it.site == "personal" and it.pue == 1.0
    assert "assumed a personal machine" in (it.site_source or "")


def test_site_basis_and_place_survive_the_record() -> None:
    from wattprint.intensity.base import Intensity

    it = resolve(cloud_region="aws:us-west-2", probe_cloud=False, environ={})
    assert it.place == "aws:us-west-2 (US West (Oregon))"
    assert it.alternatives and it.alternatives[0].startswith("gcp:us-west1 (")
    back = Intensity.from_dict(dict(it.to_dict()))
    assert (back.basis, back.site, back.site_source, back.place, back.alternatives) == (
        it.basis, it.site, it.site_source, it.place, it.alternatives)
    old = {k: v for k, v in it.to_dict().items()
           if k not in ("basis", "site", "site_source", "place", "alternatives")}
    assert Intensity.from_dict(old).basis == {}  # a run stored before these fields still reads
