"""Electricity Maps API v3: hourly carbon intensity of a zone over a run's span.

Opt-in with an API key (``ELECTRICITYMAPS_API_KEY`` or ``electricitymaps_api_key`` in the
config), sent in the ``auth-token`` header. Endpoints used (documented v3 formats):

* ``GET /v3/carbon-intensity/history?zone=Z`` — the last 24 hours, hourly, on the free
  tier → ``{"zone": "DE", "history": [{"carbonIntensity": 302, "datetime": ...,
  "emissionFactorType": "lifecycle", "isEstimated": false}, ...]}``; every hour of the
  last 23 is asked for here (a long run's background fetcher keeps within it);
* ``GET /v3/carbon-intensity/past-range?zone=Z&start=ISO&end=ISO`` — older hours (a
  paid endpoint), at most 10 days per request → ``{"zone": "DE", "data": [...]}``;
* ``GET /v3/carbon-intensity/latest?zone=Z`` — the current hour, which history may not
  hold yet.

Each value is consumption-based, gCO2e/kWh, on the basis its ``emissionFactorType``
names (``lifecycle`` by default, or ``direct``); ``isEstimated`` values are kept with
the quality ``estimated``. The data is ODbL: fetched on the user's behalf, never embedded.
"""

from __future__ import annotations

import time

from wattprint.intensity.live.common import (
    DAY,
    HOUR,
    LiveError,
    Point,
    get_json,
    hour_of,
    number,
    parse_time,
)
from wattprint.intensity.live.provider import LiveProvider
from wattprint.units import iso_utc

DEFAULT_URL = "https://api.electricitymaps.com"
HISTORY_HOURS = 23  # the history endpoint holds the last 24 h: keep an hour's margin


def zone_for(location: str) -> str | None:
    """Our grid code → an Electricity Maps zone, where they coincide.

    Countries (``FR``) and Australian/Canadian states (``AU-NSW``) share the code; US
    states do not (zones are balancing areas such as ``US-CAL-CISO``): set
    ``electricitymaps_zone`` for those.
    """
    if len(location) == 2 and location.isalpha():
        return location.upper()
    if location.startswith(("AU-", "CA-")):
        return location.upper()
    return None


class ElectricityMaps(LiveProvider):
    """Hourly intensity for one zone."""

    name = "Electricity Maps"
    max_span_s = 10 * DAY
    calls = 2  # history (or past range) + latest

    def __init__(self, api_key: str, zone: str, base_url: str = DEFAULT_URL) -> None:
        self.api_key = api_key
        self.zone = zone
        self.base_url = base_url.rstrip("/")
        self.source = f"Electricity Maps API v3, zone {zone} (ODbL; fetched live)"
        self.basis = {"scope": "lifecycle", "gas": "CO2e", "signal": "average",
                      "accounting": "consumption"}

    def key_parts(self) -> tuple[str, ...]:
        return (self.zone, self.base_url)

    def _points(self, payload: object, list_key: str | None) -> list[Point]:
        if not isinstance(payload, dict):
            raise LiveError("Electricity Maps: unexpected answer")
        items = payload.get(list_key) if list_key else [payload]
        if not isinstance(items, list):
            raise LiveError(f"Electricity Maps: answer has no '{list_key}' list")
        out = []
        for it in items:
            try:
                if it["carbonIntensity"] is None:
                    continue
                t0 = hour_of(parse_time(it["datetime"]))
            except (KeyError, TypeError, ValueError, AttributeError):
                raise LiveError("Electricity Maps: malformed point") from None
            if it.get("emissionFactorType") in ("lifecycle", "direct"):
                self.basis = {**self.basis, "scope": it["emissionFactorType"]}
            quality = "estimated" if it.get("isEstimated") else "actual"
            out.append((t0, t0 + HOUR, number(it["carbonIntensity"]), quality))
        return out

    def fetch(self, t0: float, t1: float, deadline: float) -> list[Point]:
        headers = {"auth-token": self.api_key}
        url = f"{self.base_url}/v3/carbon-intensity"
        now_hour = hour_of(time.time())
        cut = max(t0, now_hour - HISTORY_HOURS * HOUR)
        got: list[Point] = []
        if t0 < cut:  # older than the free history holds
            got += self._points(get_json(self.name, f"{url}/past-range",
                                         {"zone": self.zone, "start": iso_utc(t0),
                                          "end": iso_utc(min(t1, cut))}, headers, deadline), "data")
        if t1 > cut:
            got += self._points(get_json(self.name, f"{url}/history", {"zone": self.zone},
                                         headers, deadline), "history")
            have = {p[0] for p in got}
            last = min(t1, now_hour + HOUR) - HOUR
            if last >= now_hour - HOUR and last not in have:
                got += self._points(get_json(self.name, f"{url}/latest", {"zone": self.zone},
                                             headers, deadline), None)
        return [p for p in got if p[1] > t0 and p[0] < t1]
