"""WattTime API v3: the *marginal* operating emissions rate (MOER) of a grid region.

For users with WattTime access (``WATTTIME_USERNAME``/``WATTTIME_PASSWORD`` or the config
keys, plus ``watttime_region`` such as ``CAISO_NORTH``). A MOER is the emissions of the
plant that answers extra demand: a different quantity from the average intensity used
elsewhere, and the run says so. Documented formats:

* ``GET /login`` (HTTP Basic) → ``{"token": "..."}``, then ``Authorization: Bearer``;
* ``GET /v3/historical?region=R&start=ISO&end=ISO&signal_type=co2_moer`` →
  ``{"data": [{"point_time": "...", "value": 870.2}], "meta": {"units": "lbs_co2_per_mwh"}}``
  (5-minute points, averaged per hour; lb/MWh × 0.45359237 → g/kWh).
"""

from __future__ import annotations

from wattprint.intensity.live.common import (
    HOUR,
    LiveError,
    LiveProvider,
    basic_auth,
    get_json,
    hourly_means,
    parse_time,
)
from wattprint.units import LB_PER_MWH_TO_G_PER_KWH, iso_utc

DEFAULT_URL = "https://api.watttime.org"
_UNITS = {"lbs_co2_per_mwh": LB_PER_MWH_TO_G_PER_KWH, "g_co2_per_kwh": 1.0,
          "kg_co2_per_mwh": 1.0}


class WattTime(LiveProvider):
    """Hourly means of WattTime's co2_moer signal for one region, in gCO2/kWh."""

    name = "WattTime"
    marginal = True

    def __init__(self, username: str, password: str, region: str,
                 base_url: str = DEFAULT_URL) -> None:
        self.username, self.password, self.region = username, password, region
        self.base_url = base_url.rstrip("/")
        self.source = f"WattTime v3 co2_moer (marginal), region {region}, fetched live"

    def key_parts(self) -> tuple[str, ...]:
        return (self.region, self.username, self.base_url)

    def fetch(self, start_hour: float, end_hour: float, deadline: float) -> list[tuple[float, float]]:
        login = get_json(f"{self.base_url}/login", None,
                         {"Authorization": basic_auth(self.username, self.password)}, deadline)
        token = login.get("token") if isinstance(login, dict) else None
        if not token:
            raise LiveError("WattTime: login gave no token")
        payload = get_json(
            f"{self.base_url}/v3/historical",
            {"region": self.region, "start": iso_utc(start_hour), "end": iso_utc(end_hour + HOUR),
             "signal_type": "co2_moer"},
            {"Authorization": f"Bearer {token}"}, deadline)
        if not isinstance(payload, dict) or not isinstance(payload.get("data"), list):
            raise LiveError("WattTime: answer has no 'data' list")
        units = str((payload.get("meta") or {}).get("units", "lbs_co2_per_mwh"))
        if units not in _UNITS:
            raise LiveError(f"WattTime: unsupported units '{units}' (need co2_moer in lb/MWh)")
        k = _UNITS[units]
        points = []
        for it in payload["data"]:
            try:
                if it["value"] is None:
                    continue
                points.append((parse_time(it["point_time"]), float(it["value"]) * k))
            except (KeyError, TypeError, ValueError) as exc:
                raise LiveError(f"WattTime: malformed point ({exc})") from None
        return [p for p in hourly_means(points) if start_hour <= p[0] <= end_hour]
