"""UK Carbon Intensity API (NESO): half-hourly intensity of Great Britain's grid, no key.

Opt-in (``uk_carbon_intensity = true`` in the config or ``WATTPRINT_UK_CARBON_INTENSITY=1``)
and used only when the run's location is GB. Documented format of
``GET /intensity/{from}/{to}`` (times ``YYYY-MM-DDTHH:MMZ``)::

    {"data": [{"from": "2026-11-28T10:00Z", "to": "2026-11-28T10:30Z",
               "intensity": {"forecast": 266, "actual": 263, "index": "moderate"}}]}

The actual value is used, the forecast where no actual exists yet; the two half-hours
of an hour are averaged. Terms: free use, no re-serving — so fetched live, not embedded.
"""

from __future__ import annotations

from wattprint.intensity.live.common import (
    HOUR,
    LiveError,
    LiveProvider,
    get_json,
    hourly_means,
    parse_time,
)
from wattprint.units import iso_utc

DEFAULT_URL = "https://api.carbonintensity.org.uk"


class UKCarbonIntensity(LiveProvider):
    """Hourly means of the national GB half-hourly intensity (gCO2/kWh)."""

    name = "UK Carbon Intensity"
    source = "UK Carbon Intensity API (NESO), national GB, fetched live"

    def __init__(self, base_url: str = DEFAULT_URL) -> None:
        self.base_url = base_url.rstrip("/")

    def key_parts(self) -> tuple[str, ...]:
        return ("GB", self.base_url)

    def fetch(self, start_hour: float, end_hour: float, deadline: float) -> list[tuple[float, float]]:
        url = f"{self.base_url}/intensity/{iso_utc(start_hour, seconds=False)}/" \
              f"{iso_utc(end_hour + HOUR, seconds=False)}"
        payload = get_json(url, None, {}, deadline)
        items = payload.get("data") if isinstance(payload, dict) else None
        if not isinstance(items, list):
            raise LiveError("UK Carbon Intensity: answer has no 'data' list")
        points = []
        for it in items:
            try:
                val = it["intensity"].get("actual")
                if val is None:
                    val = it["intensity"].get("forecast")
                if val is None:
                    continue
                t = parse_time(it["from"])
            except (KeyError, TypeError, AttributeError, ValueError) as exc:
                raise LiveError(f"UK Carbon Intensity: malformed point ({exc})") from None
            if start_hour <= t < end_hour + HOUR:
                points.append((t, float(val)))
        return hourly_means(points)
