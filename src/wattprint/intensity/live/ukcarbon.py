"""UK Carbon Intensity API (NESO): half-hourly intensity of Great Britain's grid, no key.

Opt-in (``uk_carbon_intensity = true`` in the config or ``WATTPRINT_UK_CARBON_INTENSITY=1``)
and used only when the run's location is GB. Documented format of
``GET /intensity/{from}/{to}`` (times ``YYYY-MM-DDTHH:MMZ``, at most 14 days apart)::

    {"data": [{"from": "2026-11-28T10:00Z", "to": "2026-11-28T10:30Z",
               "intensity": {"forecast": 266, "actual": 263, "index": "moderate"}}]}

Each half-hour keeps its own value: the actual, else the forecast (quality
``forecast``, replaced by the actual once a later fetch has it). The figures are
direct CO2 from generation (gCO2/kWh, not lifecycle CO2e). Terms: free use, no
re-serving — so fetched live, not embedded.
"""

from __future__ import annotations

from wattprint.intensity.live.common import DAY, LiveError, Point, get_json, number, parse_time
from wattprint.intensity.live.provider import LiveProvider
from wattprint.units import iso_utc

DEFAULT_URL = "https://api.carbonintensity.org.uk"


class UKCarbonIntensity(LiveProvider):
    """The national GB half-hourly intensity (gCO2/kWh)."""

    name = "UK Carbon Intensity"
    source = "UK Carbon Intensity API (NESO), national GB, fetched live"
    basis = {"scope": "direct", "gas": "CO2", "signal": "average"}
    resolution_s = 1800.0
    max_span_s = 14 * DAY

    def __init__(self, base_url: str = DEFAULT_URL) -> None:
        self.base_url = base_url.rstrip("/")

    def key_parts(self) -> tuple[str, ...]:
        return ("GB", self.base_url)

    def fetch(self, t0: float, t1: float, deadline: float) -> list[Point]:
        url = f"{self.base_url}/intensity/{iso_utc(t0, seconds=False)}/{iso_utc(t1, seconds=False)}"
        payload = get_json(self.name, url, None, {}, deadline)
        items = payload.get("data") if isinstance(payload, dict) else None
        if not isinstance(items, list):
            raise LiveError("UK Carbon Intensity: answer has no 'data' list")
        points = []
        for it in items:
            try:
                actual, forecast = it["intensity"].get("actual"), it["intensity"].get("forecast")
                a, b = parse_time(it["from"]), parse_time(it["to"])
            except (KeyError, TypeError, AttributeError, ValueError):
                raise LiveError("UK Carbon Intensity: malformed point") from None
            if actual is None and forecast is None:
                continue
            value, quality = (actual, "actual") if actual is not None else (forecast, "forecast")
            if b > t0 and a < t1:
                points.append((a, b, number(value), quality))
        return points
