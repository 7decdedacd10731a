"""Cloud metadata probes and the location chain against real HTTP servers on 127.0.0.1."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from local_http import HangingServer, LocalServer, closed_port_url
from settings_for import settings_for
from wattprint.intensity.locate import dmi_says_not_cloud, probe_cloud
from wattprint.intensity.resolve import resolve

TOKEN = "tok-AQAEAL"


def aws_route(region: str = "eu-west-3"):
    """IMDSv2 only: the region needs the token obtained by PUT (IMDSv1 answers 401)."""

    def route(method: str, path: str, h: dict[str, str]):
        if method == "PUT" and path == "/latest/api/token":
            if "x-aws-ec2-metadata-token-ttl-seconds" not in h:
                return 400, {}, b"missing ttl"
            return 200, {}, TOKEN.encode()
        if method == "GET" and path == "/latest/meta-data/placement/region":
            if h.get("x-aws-ec2-metadata-token") != TOKEN:
                return 401, {}, b""
            return 200, {}, region.encode()
        return 404, {}, b""

    return route


def gcp_route(method: str, path: str, h: dict[str, str]):
    if path == "/computeMetadata/v1/instance/zone" and h.get("metadata-flavor") == "Google":
        return 200, {"Metadata-Flavor": "Google"}, b"projects/123456789/zones/us-central1-a"
    return 403, {}, b""


def gcp_imposter_route(method: str, path: str, h: dict[str, str]):
    # Answers the right path but without the Metadata-Flavor header: not GCP.
    return 200, {}, b"projects/1/zones/us-central1-a"


def azure_route(method: str, path: str, h: dict[str, str]):
    if path.startswith("/metadata/instance/compute/location") and h.get("metadata") == "true":
        assert "api-version=" in path and "format=text" in path
        return 200, {}, b"westeurope"
    return 400, {}, b""


@pytest.fixture
def servers() -> Iterator[list]:
    made: list = []
    yield made
    for s in made:
        s.close()


def _serve(servers: list, route=None, delay_s: float = 0.0) -> LocalServer:
    s = LocalServer(route, delay_s=delay_s)
    servers.append(s)
    return s


def _hang(servers: list) -> HangingServer:
    s = HangingServer()
    servers.append(s)
    return s


def test_aws_imdsv2_token_then_region(servers: list) -> None:
    aws = _serve(servers, aws_route())
    res = probe_cloud({"aws": aws.url, "gcp": closed_port_url(), "azure": closed_port_url()})
    assert (res.provider, res.region) == ("aws", "eu-west-3")
    assert [r[0] for r in aws.requests] == ["PUT", "GET"]
    assert aws.requests[1][2]["x-aws-ec2-metadata-token"] == TOKEN


def test_gcp_zone_becomes_region_and_needs_flavor_header(servers: list) -> None:
    gcp = _serve(servers, gcp_route)
    res = probe_cloud({"aws": closed_port_url(), "gcp": gcp.url, "azure": closed_port_url()})
    assert (res.provider, res.region) == ("gcp", "us-central1")
    assert gcp.requests[0][2]["metadata-flavor"] == "Google"


def test_gcp_reply_without_flavor_header_is_rejected(servers: list) -> None:
    fake = _serve(servers, gcp_imposter_route)
    res = probe_cloud({"aws": closed_port_url(), "gcp": fake.url, "azure": closed_port_url()})
    assert res.provider is None
    assert any("Metadata-Flavor" in n for n in res.notes)


def test_azure_location(servers: list) -> None:
    az = _serve(servers, azure_route)
    res = probe_cloud({"aws": closed_port_url(), "gcp": closed_port_url(), "azure": az.url})
    assert (res.provider, res.region) == ("azure", "westeurope")
    assert az.requests[0][2]["metadata"] == "true"


def test_all_hanging_returns_within_budget(servers: list) -> None:
    urls = {p: _hang(servers).url for p in ("aws", "gcp", "azure")}
    t0 = time.monotonic()
    res = probe_cloud(urls, budget_s=0.3)
    elapsed = time.monotonic() - t0
    assert elapsed < 1.0  # 300 ms budget + generous slack for a loaded 2-core machine
    assert res.provider is None
    assert sum("no answer" in n for n in res.notes) == 3


def test_late_answer_after_budget_is_ignored(servers: list) -> None:
    # A real AWS imitation that answers correctly, but only after 0.6 s per request.
    slow = _serve(servers, aws_route("us-east-1"), delay_s=0.6)
    t0 = time.monotonic()
    res = probe_cloud({"aws": slow.url, "gcp": closed_port_url(), "azure": closed_port_url()},
                      budget_s=0.3)
    assert time.monotonic() - t0 < 1.0
    assert res.provider is None and res.region is None
    time.sleep(0.8)  # the abandoned thread finishing later must not change anything
    assert res.provider is None


def test_hanging_probe_does_not_block_a_fast_answer(servers: list) -> None:
    gcp = _serve(servers, gcp_route)
    t0 = time.monotonic()
    res = probe_cloud({"aws": _hang(servers).url, "gcp": gcp.url, "azure": _hang(servers).url})
    assert time.monotonic() - t0 < 1.0
    assert (res.provider, res.region) == ("gcp", "us-central1")


def test_resolve_uses_metadata_after_explicit_env_and_config(servers: list) -> None:
    aws = _serve(servers, aws_route("eu-west-3"))
    urls = {"aws": aws.url, "gcp": closed_port_url(), "azure": _hang(servers).url}
    t0 = time.monotonic()
    it = resolve(probe_cloud=True, metadata_urls=urls)
    assert time.monotonic() - t0 < 1.0
    assert it.location == "FR" and not it.fallback
    assert it.pue == pytest.approx(1.15) and "aws" in it.pue_source
    text = "\n".join(it.chain)
    order = [text.index(s) for s in ("argument:", "env:", "project file:", "user file:", "aws metadata: region",
                                     "cloud metadata: aws:eu-west-3", "grid FR")]
    assert order == sorted(order)


def test_metadata_unknown_region_falls_back_with_warning(servers: list) -> None:
    aws = _serve(servers, aws_route("xx-nowhere-9"))
    it = resolve(probe_cloud=True, metadata_urls={"aws": aws.url, "gcp": closed_port_url(),
                                "azure": closed_port_url()})
    assert it.fallback and it.location == "WORLD"
    assert any("xx-nowhere-9" in w for w in it.warnings)
    assert it.pue == pytest.approx(1.15)  # still on AWS: its fleet PUE applies


def test_opt_out_env_sends_no_request(servers: list) -> None:
    aws = _serve(servers, aws_route())
    it = resolve(settings=settings_for({"WATTPRINT_NO_CLOUD_PROBE": "1"}),
                 metadata_urls={"aws": aws.url, "gcp": aws.url, "azure": aws.url})
    assert aws.requests == []
    assert it.fallback and any("WATTPRINT_NO_CLOUD_PROBE" in c for c in it.chain)


def test_explicit_location_wins_the_grid_and_the_probe_still_gives_the_site(servers: list) -> None:
    # The location was given by hand, yet the machine is an AWS VM: the grid is the one
    # set, the PUE AWS's (it used to drop to 1.0 here).
    aws = _serve(servers, aws_route())
    it = resolve(country="DE", settings=settings_for({"WATTPRINT_COUNTRY": "FR"}, project={"country": "PL"}),
                 probe_cloud=True, metadata_urls={"aws": aws.url, "gcp": closed_port_url(),
                                                  "azure": closed_port_url()})
    assert it.location == "DE" and [m for m, *_ in aws.requests] == ["PUT", "GET"]
    assert it.site == "aws" and it.pue == pytest.approx(1.15)
    assert it.site_source == "aws instance metadata answered"


def test_explicit_location_and_site_send_no_probe(servers: list) -> None:
    aws = _serve(servers, aws_route())
    it = resolve(country="DE", site="personal", probe_cloud=True,
                 metadata_urls={"aws": aws.url, "gcp": aws.url, "azure": aws.url})
    assert it.location == "DE" and aws.requests == [] and it.pue == 1.0


def test_dmi_hint(tmp_path: Path) -> None:
    (tmp_path / "sys_vendor").write_text("Dell Inc.\n")
    (tmp_path / "product_name").write_text("Precision 5570\n")
    assert dmi_says_not_cloud(tmp_path) == "Dell Inc."
    (tmp_path / "sys_vendor").write_text("Amazon EC2\n")
    assert dmi_says_not_cloud(tmp_path) is None
    assert dmi_says_not_cloud(tmp_path / "missing") is None
