"""Electricity Maps API v3: hourly carbon intensity of a zone over a run's span.

Opt-in with an API key (``ELECTRICITYMAPS_API_KEY`` or ``electricitymaps_api_key`` in the
config), sent in the ``auth-token`` header. The data is lifecycle gCO2e/kWh by default
(``emissionFactorType``). Endpoints used (documented v3 formats):

* ``GET /v3/carbon-intensity/history?zone=Z`` (the last 24 hours, hourly; available on
  more plans) → ``{"zone": "DE", "history": [{"carbonIntensity": 302, "datetime": ...}]}``,
  used when the whole span lies within the last 23 hours;
* ``GET /v3/carbon-intensity/past-range?zone=Z&start=ISO&end=ISO`` (older spans) →
  ``{"zone": "DE", "data": [{"carbonIntensity": 302, "datetime": "...Z", ...}, ...]}``
* ``GET /v3/carbon-intensity/latest?zone=Z`` → ``{"zone", "carbonIntensity", "datetime", ...}``
  for the current hour, which history may not hold yet.

Electricity Maps data is ODbL: it is fetched on the user's behalf, never embedded.
"""

from __future__ import annotations

import time

from wattprint.intensity.live.common import (
    HOUR,
    LiveError,
    LiveProvider,
    get_json,
    hour_of,
    parse_time,
)
from wattprint.units import iso_utc

DEFAULT_URL = "https://api.electricitymaps.com"


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

    def __init__(self, api_key: str, zone: str, base_url: str = DEFAULT_URL) -> None:
        self.api_key = api_key
        self.zone = zone
        self.base_url = base_url.rstrip("/")
        self.source = f"Electricity Maps API v3, zone {zone} (ODbL; fetched live)"

    def key_parts(self) -> tuple[str, ...]:
        return (self.zone, self.base_url)

    def _points(self, payload: object, list_key: str | None) -> list[tuple[float, float]]:
        if not isinstance(payload, dict):
            raise LiveError("Electricity Maps: unexpected answer")
        items = payload.get(list_key) if list_key else [payload]
        if not isinstance(items, list):
            raise LiveError(f"Electricity Maps: answer has no '{list_key}' list")
        out = []
        for it in items:
            try:
                ci = it["carbonIntensity"]
                if ci is None:
                    continue
                out.append((hour_of(parse_time(it["datetime"])), float(ci)))
            except (KeyError, TypeError, ValueError) as exc:
                raise LiveError(f"Electricity Maps: malformed point ({exc})") from None
        return out

    def fetch(self, start_hour: float, end_hour: float, deadline: float) -> list[tuple[float, float]]:
        headers = {"auth-token": self.api_key}
        now_hour = hour_of(time.time())
        if start_hour >= now_hour - 23 * HOUR:
            got = dict(self._points(get_json(f"{self.base_url}/v3/carbon-intensity/history",
                                             {"zone": self.zone}, headers, deadline), "history"))
        else:
            got = dict(self._points(get_json(
                f"{self.base_url}/v3/carbon-intensity/past-range",
                {"zone": self.zone, "start": iso_utc(start_hour), "end": iso_utc(end_hour + HOUR)},
                headers, deadline), "data"))
        if end_hour not in got and end_hour >= now_hour - HOUR:
            latest = get_json(f"{self.base_url}/v3/carbon-intensity/latest", {"zone": self.zone},
                              headers, deadline)
            for h, g in self._points(latest, None):
                got.setdefault(h, g)
        return sorted((h, g) for h, g in got.items() if start_hour <= h <= end_hour)
