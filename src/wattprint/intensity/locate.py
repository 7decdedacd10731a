"""Where is this machine? Cloud instance-metadata probes for the location chain.

Why probes at all: a job on a cloud VM is in a known region, and that region's grid is
far more accurate than a world average. Why so careful: on a laptop the link-local
address ``169.254.169.254`` usually swallows packets, so a naive probe would delay
every run. The three providers are therefore probed **in parallel daemon threads
under one hard total budget** (default 300 ms); whatever has not answered by then is
ignored, and the threads are abandoned (they die with their own socket timeout).
No proxy is used (metadata must never leave the machine), no IP geolocation is done.

* AWS (IMDSv2): ``PUT /latest/api/token`` with ``X-aws-ec2-metadata-token-ttl-seconds``,
  then ``GET /latest/meta-data/placement/region`` with ``X-aws-ec2-metadata-token``.
* GCP: ``GET /computeMetadata/v1/instance/zone`` with ``Metadata-Flavor: Google``; the
  reply must carry the same header; ``projects/N/zones/us-central1-a`` → ``us-central1``.
* Azure: ``GET /metadata/instance/compute/location?api-version=2021-02-01&format=text``
  with ``Metadata: true`` → ``westeurope``.

Base URLs are injectable (``metadata_urls={"aws": "http://127.0.0.1:8001", ...}``) so
tests run real HTTP servers on the loopback address.
"""

from __future__ import annotations

import http.client
import queue
import re
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from urllib.parse import urlsplit

from wattprint._record import Record
from wattprint._threads import new_thread

DEFAULT_BUDGET_S = 0.3
DEFAULT_METADATA_URLS: dict[str, str] = {
    "aws": "http://169.254.169.254",
    # The link-local address, not metadata.google.internal: a DNS lookup could block
    # past the budget on a machine that is not on GCP.
    "gcp": "http://169.254.169.254",
    "azure": "http://169.254.169.254",
}
PROVIDER_ORDER = ("aws", "gcp", "azure")
_REGION_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,40}$")
_CLOUD_DMI_HINTS = ("amazon", "ec2", "google", "microsoft", "xen", "hvm", "kvm", "openstack")


class ProbeResult(Record):
    """What the cloud probes found: the first answer, and one note per provider."""

    __slots__ = ("provider", "region", "notes", "elapsed_s")

    def __init__(self, provider: str | None = None, region: str | None = None, notes: list[str] | None = None,
                 elapsed_s: float = 0.0) -> None:
        self.provider = provider
        self.region = region
        self.notes: list[str] = notes if notes is not None else []
        self.elapsed_s = elapsed_s


def _request(url: str, method: str, headers: Mapping[str, str], deadline: float,
             path: str) -> tuple[int, dict[str, str], str]:
    """One HTTP request with a socket timeout that never exceeds the deadline."""
    parts = urlsplit(url)
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError("budget spent")
    host = parts.hostname or "localhost"
    port = parts.port or 80
    base = parts.path.rstrip("/")
    conn = http.client.HTTPConnection(host, port, timeout=remaining)
    try:
        conn.request(method, base + path, headers=dict(headers))
        resp = conn.getresponse()
        body = resp.read(4096).decode("utf-8", "replace")
        hdrs = {k.lower(): v for k, v in resp.getheaders()}
        return resp.status, hdrs, body
    finally:
        conn.close()


def _probe_aws(base: str, deadline: float) -> str:
    status, _, token = _request(base, "PUT", {"X-aws-ec2-metadata-token-ttl-seconds": "60"},
                                deadline, "/latest/api/token")
    if status != 200 or not token.strip():
        raise ValueError(f"token request answered HTTP {status}")
    status, _, body = _request(base, "GET", {"X-aws-ec2-metadata-token": token.strip()},
                               deadline, "/latest/meta-data/placement/region")
    if status != 200:
        raise ValueError(f"region request answered HTTP {status}")
    return body.strip()


def _probe_gcp(base: str, deadline: float) -> str:
    status, hdrs, body = _request(base, "GET", {"Metadata-Flavor": "Google"}, deadline,
                                  "/computeMetadata/v1/instance/zone")
    if status != 200:
        raise ValueError(f"answered HTTP {status}")
    if hdrs.get("metadata-flavor", "").lower() != "google":
        raise ValueError("reply lacks the Metadata-Flavor: Google header")
    zone = body.strip().rsplit("/", 1)[-1]  # projects/123/zones/us-central1-a
    m = re.fullmatch(r"([a-z]+-[a-z]+[0-9]+)-[a-z]", zone)
    if not m:
        raise ValueError(f"unexpected zone {zone!r}")
    return m.group(1)


def _probe_azure(base: str, deadline: float) -> str:
    status, _, body = _request(
        base, "GET", {"Metadata": "true"}, deadline,
        "/metadata/instance/compute/location?api-version=2021-02-01&format=text")
    if status != 200:
        raise ValueError(f"answered HTTP {status}")
    return body.strip().lower().replace(" ", "")


_PROBES: dict[str, Callable[[str, float], str]] = {
    "aws": _probe_aws, "gcp": _probe_gcp, "azure": _probe_azure}


def probe_cloud(metadata_urls: Mapping[str, str] | None = None,
                budget_s: float = DEFAULT_BUDGET_S) -> ProbeResult:
    """Probe AWS, GCP and Azure metadata in parallel; return within ``budget_s`` (+ jitter).

    The first provider to return a well-formed region wins; a probe still running at
    the deadline is abandoned and its later answer ignored. ``metadata_urls`` maps
    provider → base URL; providers missing from it use the link-local default.
    """
    urls = dict(DEFAULT_METADATA_URLS)
    if metadata_urls:
        urls.update({k.lower(): v for k, v in metadata_urls.items()})
    start = time.monotonic()
    deadline = start + budget_s
    answers: queue.Queue[tuple[str, str | None, str]] = queue.Queue()

    def worker(provider: str) -> None:
        try:
            region = _PROBES[provider](urls[provider], deadline)
            if not _REGION_RE.match(region):
                raise ValueError(f"malformed region {region[:40]!r}")
            answers.put((provider, region, f"region {region}"))
        except (OSError, http.client.HTTPException, ValueError) as exc:
            why = "no answer" if isinstance(exc, TimeoutError) else str(exc) or type(exc).__name__
            answers.put((provider, None, why))
        except Exception as exc:  # noqa: BLE001 - a probe must never escape its thread
            answers.put((provider, None, f"{type(exc).__name__}: {exc}"))

    for p in PROVIDER_ORDER:
        new_thread(worker, f"wattprint-probe-{p}", (p,)).start()
    result = ProbeResult()
    pending = set(PROVIDER_ORDER)
    while pending:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        try:
            provider, region, note = answers.get(timeout=remaining)
        except queue.Empty:
            break
        pending.discard(provider)
        result.notes.append(f"{provider} metadata: {note}")
        if region is not None:
            result.provider, result.region = provider, region
            break
    for p in PROVIDER_ORDER:
        if p in pending and result.provider is None:
            result.notes.append(f"{p} metadata: no answer within {budget_s * 1000:.0f} ms")
    result.elapsed_s = time.monotonic() - start
    return result


def dmi_says_not_cloud(root: str | Path = "/sys/class/dmi/id") -> str | None:
    """The DMI vendor string when it shows a non-cloud machine (so probing can be skipped).

    Returns None when DMI is unreadable or mentions a hypervisor/cloud vendor: then the
    caller probes. Why: saves the probe budget on desktops and bare-metal servers.
    """
    base = Path(root)
    seen = []
    for name in ("sys_vendor", "product_name", "bios_vendor", "product_version"):
        try:
            seen.append((base / name).read_text(errors="replace").strip())
        except OSError:
            continue
    if not seen or not seen[0]:
        return None
    joined = " ".join(seen).lower()
    if any(h in joined for h in _CLOUD_DMI_HINTS):
        return None
    return seen[0]


# Batch schedulers and orchestrators whose presence says "a server in a machine room",
# not a laptop: the variable each sets in every job or pod, and its name in words.
_SCHEDULER_VARS = (
    ("SLURM_JOB_ID", "a Slurm job"),
    ("KUBERNETES_SERVICE_HOST", "a Kubernetes pod"),
    ("PBS_JOBID", "a PBS job"),
    ("LSB_JOBID", "an LSF job"),
)


def scheduler_hint(environ: Mapping[str, str]) -> str | None:
    """Why this process looks like it runs in a data centre (a batch job or a pod), or None.

    Only a hint: the caller says so in the run ("suggests a data centre"), because a
    Slurm cluster can sit under a desk and a pod can run on a laptop.
    """
    for var, what in _SCHEDULER_VARS:
        if environ.get(var):
            return f"{what} ({var} is set)"
    return None
