"""Whole-machine power from a BMC over Redfish (HTTPS), for a BMC reachable on the network.

Where the figure comes from, per chassis (``/redfish/v1/Chassis/<id>``), in order:

1. ``EnvironmentMetrics`` → ``PowerWatts.Reading`` (Redfish 2020.4 and newer);
2. the legacy ``Power`` resource → ``PowerControl[0].PowerConsumedWatts``
   (the chassis total; its ``PowerSupplies`` are listed, never added to it);
3. ``PowerSubsystem/PowerSupplies/<id>/Metrics`` → ``InputPowerWatts.Reading``,
   summed over the supplies (redundant supplies share the load).

The first chassis that gives a figure is used, or the one ``chassis`` names.
A chassis can hold several machines (a blade enclosure): name the node's own
chassis then.

Credentials come from the settings (``redfish_username``, ``redfish_password``,
from the config file or the environment). They travel only in the
``Authorization`` header, are never part of a URL, a message, a doctor line or
the stored run. TLS certificates are verified (against the system store, or
``ca_bundle``); a plain ``http://`` URL is refused, since it would send the
password in the clear. Every request has a timeout, and readings after the
first come from a background thread (:mod:`.poll`), so a slow BMC never
delays the sampler.
"""

from __future__ import annotations

import base64
import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable

from wattprint.sensors.base import Availability, Channel, Kind, Method, SensorError
from wattprint.sensors.platform import WHOLE
from wattprint.sensors.platform.poll import PolledSensor

TYPE_CHECKING = False  # not from typing: importing it costs more than this module
if TYPE_CHECKING:
    from typing import Any

__all__ = ["BAND_REDFISH", "RedfishSensor"]

TIMEOUT_S = 3.0
EVERY_S = 5.0
# The BMC's figure comes from the supplies' own meters (about ±5 %, see ipmi.py); Redfish
# adds no error of its own, only the lag of the BMC's refresh.
BAND_REDFISH = 0.05
MAX_BODY = 4 << 20
FIX_CREDS = "set redfish_username and redfish_password (or WATTPRINT_REDFISH_USERNAME / WATTPRINT_REDFISH_PASSWORD)"
FIX_TLS = ("give the BMC's CA certificate with redfish_ca_bundle = \"/path/ca.pem\" "
           "(verification stays on; wattprint never turns it off)")


def _link(doc: dict[str, Any], key: str) -> str | None:
    v = doc.get(key)
    if isinstance(v, dict) and isinstance(v.get("@odata.id"), str):
        return str(v["@odata.id"])
    return None


def _number(v: object) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    x = float(v)
    return x if 0 <= x < 1e7 else None


class _Client:
    """GET JSON from one BMC with basic auth, a timeout and verified TLS."""

    def __init__(self, url: str, username: str | None, password: str | None, ca_bundle: str | None,
                 timeout_s: float) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "https":
            raise SensorError(f"Redfish: redfish_url must start with https:// (got {parts.scheme or 'no'} scheme)",
                              fix="use the BMC's https:// address")
        if parts.username or parts.password or "@" in parts.netloc:
            raise SensorError("Redfish: redfish_url must not hold credentials", fix=FIX_CREDS)
        self.base = f"https://{parts.netloc}"
        self.timeout_s = timeout_s
        try:
            self._ctx = ssl.create_default_context(cafile=ca_bundle)
        except (OSError, ssl.SSLError) as exc:
            raise SensorError(f"Redfish: cannot load redfish_ca_bundle: {exc}", fix=FIX_TLS) from None
        self._headers = {"Accept": "application/json", "OData-Version": "4.0"}
        if username or password:
            token = base64.b64encode(f"{username or ''}:{password or ''}".encode()).decode("ascii")
            self._headers["Authorization"] = f"Basic {token}"

    def get(self, path: str) -> dict[str, Any]:
        url = urllib.parse.urljoin(self.base + "/", path)
        if urllib.parse.urlsplit(url).netloc != urllib.parse.urlsplit(self.base).netloc:
            raise SensorError(f"Redfish: link {path!r} leaves the BMC; not followed")
        req = urllib.request.Request(url, headers=self._headers)  # noqa: S310 - https only, checked above
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s, context=self._ctx) as resp:  # noqa: S310
                body = resp.read(MAX_BODY + 1)
        except urllib.error.HTTPError as exc:
            if exc.code in (401, 403):
                raise SensorError(f"Redfish: the BMC refused the credentials (HTTP {exc.code})",
                                  fix=FIX_CREDS) from None
            raise SensorError(f"Redfish: GET {path} answered HTTP {exc.code}") from None
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, ssl.SSLCertVerificationError):
                raise SensorError(f"Redfish: the BMC's TLS certificate is not trusted ({reason.verify_message})",
                                  fix=FIX_TLS) from None
            raise SensorError(f"Redfish: cannot reach {self.base}: {reason}") from None
        except (TimeoutError, OSError) as exc:
            raise SensorError(f"Redfish: GET {path} failed: {type(exc).__name__}: {exc or 'timed out'}") from None
        if len(body) > MAX_BODY:
            raise SensorError(f"Redfish: GET {path} answered more than {MAX_BODY} bytes")
        try:
            doc = json.loads(body)
        except ValueError:
            raise SensorError(f"Redfish: GET {path} did not answer JSON") from None
        if not isinstance(doc, dict):
            raise SensorError(f"Redfish: GET {path} did not answer a JSON object")
        return doc


class RedfishSensor(PolledSensor):
    """``platform:redfish``: a chassis's power (W) as its BMC reports it over Redfish.

    Raises :class:`SensorError` (message and fix; never the credentials) when
    the BMC cannot be reached, refuses the login or TLS, or gives no power figure.
    """

    def __init__(
        self,
        url: str,
        *,
        username: str | None = None,
        password: str | None = None,
        ca_bundle: str | None = None,
        chassis: str | None = None,
        timeout_s: float = TIMEOUT_S,
        every_s: float = EVERY_S,
    ) -> None:
        super().__init__(name="redfish")
        self._client = _Client(url, username, password, ca_bundle, timeout_s)
        fetch, first, how = self._discover(chassis)
        self.channels = [Channel(
            "platform:redfish", WHOLE, Method.POWER_INTEGRATED, Kind.POWER, BAND_REDFISH, False,
            f"Redfish {how} at {self._client.base}, read every {every_s:g} s; windows shorter than that "
            "are estimated; whole chassis as the BMC sees it",
            every_s,
        )]
        self.start(lambda: {"platform:redfish": fetch()}, {"platform:redfish": first}, every_s,
                   max(3 * every_s, 2 * timeout_s + every_s))

    def _discover(self, want: str | None) -> tuple[Callable[[], float], float, str]:
        c = self._client
        members = c.get("/redfish/v1/Chassis").get("Members") or []
        paths = [str(m["@odata.id"]) for m in members if isinstance(m, dict) and isinstance(m.get("@odata.id"), str)]
        if want:
            paths = [p for p in paths if p.rstrip("/").rsplit("/", 1)[-1] == want]
            if not paths:
                raise SensorError(f"Redfish: no chassis {want!r} on this BMC", fix="check redfish_chassis")
        why: list[str] = []
        for path in paths:
            doc = c.get(path)
            for finder in (self._environment, self._legacy, self._subsystem):
                try:
                    found = finder(doc)
                except SensorError as exc:
                    why.append(str(exc))
                    continue
                if found is not None:
                    fetch, how = found
                    return fetch, fetch(), f"{how} of chassis {path.rstrip('/').rsplit('/', 1)[-1]}"
            why.append(f"chassis {path}: no power figure")
        raise SensorError("Redfish: no chassis reports its power (" + ("; ".join(why) or "no chassis") + ")",
                          fix="this BMC does not publish power over Redfish; try IPMI DCMI")

    def _environment(self, doc: dict[str, Any]) -> tuple[Callable[[], float], str] | None:
        link = _link(doc, "EnvironmentMetrics")
        if link is None:
            return None

        def fetch() -> float:
            w = _number((self._client.get(link).get("PowerWatts") or {}).get("Reading"))
            if w is None:
                raise SensorError(f"Redfish: {link} has no PowerWatts.Reading")
            return w

        try:
            fetch()
        except SensorError:
            return None
        return fetch, "EnvironmentMetrics PowerWatts"

    def _legacy(self, doc: dict[str, Any]) -> tuple[Callable[[], float], str] | None:
        link = _link(doc, "Power")
        if link is None:
            return None
        power = self._client.get(link)
        supplies = [p for p in power.get("PowerSupplies") or [] if isinstance(p, dict)]

        def fetch() -> float:
            controls = self._client.get(link).get("PowerControl") or [{}]
            w = _number(controls[0].get("PowerConsumedWatts")) if isinstance(controls[0], dict) else None
            if w is None:
                raise SensorError(f"Redfish: {link} has no PowerControl PowerConsumedWatts")
            return w

        try:
            fetch()
        except SensorError:
            return None
        n = len(supplies)
        psus = f" ({n} power suppl{'ies' if n != 1 else 'y'} inside it, not added)" if n else ""
        return fetch, f"Power PowerConsumedWatts{psus}"

    def _subsystem(self, doc: dict[str, Any]) -> tuple[Callable[[], float], str] | None:
        link = _link(doc, "PowerSubsystem")
        if link is None:
            return None
        coll = _link(self._client.get(link), "PowerSupplies")
        if coll is None:
            return None
        metrics = []
        for m in self._client.get(coll).get("Members") or []:
            if isinstance(m, dict) and isinstance(m.get("@odata.id"), str):
                mlink = _link(self._client.get(m["@odata.id"]), "Metrics")
                if mlink:
                    metrics.append(mlink)
        if not metrics:
            return None

        def fetch() -> float:
            total = 0.0
            for mlink in metrics:
                w = _number((self._client.get(mlink).get("InputPowerWatts") or {}).get("Reading"))
                if w is None:
                    raise SensorError(f"Redfish: {mlink} has no InputPowerWatts.Reading")
                total += w
            return total

        try:
            fetch()
        except SensorError:
            return None
        return fetch, f"PowerSubsystem input power of {len(metrics)} supplies, summed"

    def describe(self) -> list[Availability]:
        c = self.channels[0]
        return [Availability(f"redfish {c.name}", True, f"{c.method} (±{c.band:.0%}); {c.detail}")]
