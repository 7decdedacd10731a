"""WattTime API v3: the *marginal* operating emissions rate (MOER) of a grid region.

For users with WattTime access (``WATTTIME_USERNAME``/``WATTTIME_PASSWORD`` or the config
keys, plus ``watttime_region`` such as ``CAISO_NORTH``). A MOER is the emission rate of
the plants that answer extra demand: a different quantity from the average intensity
of location-based accounting, so it prices a figure of its own (``marginal``), never
the location-based total. Direct CO2 only. Documented formats:

* ``GET /login`` (HTTP Basic) → ``{"token": "..."}`` (valid 30 minutes), then
  ``Authorization: Bearer``;
* ``GET /v3/historical?region=R&start=ISO&end=ISO&signal_type=co2_moer`` (at most 32 days
  per request) → ``{"data": [{"point_time": "...", "value": 870.2}], "meta": {"units":
  "lbs_co2_per_mwh", "data_point_period_seconds": 300}}``; each point stands for its
  five minutes (lb/MWh × 0.45359237 → g/kWh).
"""

from __future__ import annotations

import time

from wattprint.intensity.live.common import (
    DAY,
    LiveError,
    Point,
    get_json,
    number,
    parse_time,
)
from wattprint.intensity.live.provider import LiveProvider
from wattprint.units import LB_PER_MWH_TO_G_PER_KWH, iso_utc

DEFAULT_URL = "https://api.watttime.org"
_UNITS = {"lbs_co2_per_mwh": LB_PER_MWH_TO_G_PER_KWH, "g_co2_per_kwh": 1.0,
          "kg_co2_per_mwh": 1.0}
TOKEN_LIFE_S = 25 * 60.0  # tokens last 30 minutes: renewed a little before


class WattTime(LiveProvider):
    """WattTime's co2_moer signal for one region, in gCO2/kWh, per five minutes."""

    name = "WattTime"
    signal = "marginal"
    basis = {"scope": "direct", "gas": "CO2", "signal": "marginal"}
    resolution_s = 300.0
    max_span_s = 32 * DAY
    calls = 2  # login + data

    def __init__(self, username: str, password: str, region: str,
                 base_url: str = DEFAULT_URL) -> None:
        self.username, self.password, self.region = username, password, region
        self.base_url = base_url.rstrip("/")
        self.source = f"WattTime v3 co2_moer (marginal), region {region}, fetched live"
        self._token: tuple[str, float] | None = None

    def key_parts(self) -> tuple[str, ...]:
        return (self.region, self.username, self.base_url)

    def _login(self, deadline: float) -> str:
        if self._token is not None and time.monotonic() < self._token[1]:
            return self._token[0]
        import base64

        basic = base64.b64encode(f"{self.username}:{self.password}".encode()).decode("ascii")
        login = get_json(self.name, f"{self.base_url}/login", None,
                         {"Authorization": f"Basic {basic}"}, deadline)
        token = login.get("token") if isinstance(login, dict) else None
        if not isinstance(token, str) or not token:
            raise LiveError("WattTime: login gave no token")
        self._token = (token, time.monotonic() + TOKEN_LIFE_S)
        return token

    def fetch(self, t0: float, t1: float, deadline: float) -> list[Point]:
        token = self._login(deadline)
        payload = get_json(
            self.name, f"{self.base_url}/v3/historical",
            {"region": self.region, "start": iso_utc(t0), "end": iso_utc(t1),
             "signal_type": "co2_moer"},
            {"Authorization": f"Bearer {token}"}, deadline)
        if not isinstance(payload, dict) or not isinstance(payload.get("data"), list):
            raise LiveError("WattTime: answer has no 'data' list")
        meta = payload.get("meta")
        if not isinstance(meta, dict):
            meta = {}
        units = str(meta.get("units", "lbs_co2_per_mwh"))
        if units not in _UNITS:
            raise LiveError("WattTime: unsupported units (need co2_moer in lb/MWh)")
        k = _UNITS[units]
        period = number(meta.get("data_point_period_seconds", 300))
        period = period if 0 < period <= 3600 else 300.0
        points = []
        for it in payload["data"]:
            try:
                if it["value"] is None:
                    continue
                a = parse_time(it["point_time"])
            except (KeyError, TypeError, ValueError, AttributeError):
                raise LiveError("WattTime: malformed point") from None
            if a + period > t0 and a < t1:
                points.append((a, a + period, number(it["value"]) * k, "actual"))
        return points
