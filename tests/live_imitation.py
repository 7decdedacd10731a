"""Imitations of the three live providers on 127.0.0.1, in their documented shapes.

Each keeps its data as ``{start: value}`` per provider resolution and answers the
documented endpoints with the documented limits (Electricity Maps: history = last
24 hours, past range at most 10 days; UK: at most 14 days; WattTime: at most 32
days, login first). Switches imitate what goes wrong: an error body that echoes the
credentials, ``429`` with ``Retry-After``, a slow login.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from local_http import LocalServer
from wattprint.intensity.live.common import parse_time
from wattprint.units import iso_utc

DAY = 86400.0
JS = {"Content-Type": "application/json"}


def _json(status: int, payload: Any, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    return status, {**JS, **(headers or {})}, json.dumps(payload).encode()  # NaN stays NaN


class Imitation:
    """All three providers behind one server (their paths do not overlap)."""

    def __init__(self, *, em_key: str = "em-key", wt_user: str = "ann", wt_password: str = "s3cret-pw",
                 login_delay_s: float = 0.0, data_delay_s: float = 0.0) -> None:
        self.em_key, self.wt_user, self.wt_password = em_key, wt_user, wt_password
        self.login_delay_s, self.data_delay_s = login_delay_s, data_delay_s
        self.em: dict[float, tuple[Any, bool]] = {}  # hour start -> (value, isEstimated)
        self.em_type = "lifecycle"
        self.em_now: float | None = None  # history/latest answer as of this time (default: now)
        self.uk: dict[float, tuple[Any, Any]] = {}  # half-hour start -> (forecast, actual)
        self.wt: dict[float, Any] = {}  # 5-minute start -> lb/MWh
        self.limited: dict[str, float] = {}  # path prefix -> Retry-After seconds (answers 429)
        self.echo = False  # error bodies echo the request's headers, secrets included
        self.server = LocalServer(self.route)
        self.url = self.server.url

    def close(self) -> None:
        self.server.close()

    def paths(self, prefix: str = "") -> list[str]:
        return [p for _, p, _ in self.server.requests if p.startswith(prefix)]

    def refuse(self, status: int, h: dict[str, str], why: str) -> tuple[int, dict[str, str], bytes]:
        body: dict[str, Any] = {"message": why}
        if self.echo:
            body["request_headers"] = h
            body["hint"] = f"sent auth-token={h.get('auth-token')} / {h.get('authorization')}"
        return _json(status, body)

    def route(self, method: str, path: str, h: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        for prefix, wait in self.limited.items():
            if path.startswith(prefix):
                return _json(429, {"message": "slow down"}, {"Retry-After": f"{wait:g}"})
        url = urlsplit(path)
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path.startswith("/v3/carbon-intensity/"):
            return self.electricitymaps(url.path.rsplit("/", 1)[-1], q, h)
        if url.path.startswith("/intensity/"):
            return self.uk_answer(url.path, h)
        if url.path == "/login":
            return self.wt_login(h)
        if url.path == "/v3/historical":
            return self.wt_historical(q, h)
        return _json(404, {"message": "no such path"})

    # -- Electricity Maps --

    def _em_item(self, hour: float) -> dict[str, Any]:
        value, estimated = self.em[hour]
        return {"zone": "DE", "carbonIntensity": value, "datetime": iso_utc(hour).replace("Z", ".000Z"),
                "updatedAt": iso_utc(hour + 7200), "emissionFactorType": self.em_type,
                "isEstimated": estimated, "estimationMethod": "TIME_SLICER_AVERAGE" if estimated else None}

    def electricitymaps(self, endpoint: str, q: dict[str, str], h: dict[str, str]):  # type: ignore[no-untyped-def]
        if h.get("auth-token") != self.em_key:
            return self.refuse(401, h, "Invalid auth-token")
        now = self.em_now if self.em_now is not None else time.time()
        if endpoint == "history":  # the last 24 hours
            hours = sorted(t for t in self.em if now - DAY <= t <= now - 3600)
            return _json(200, {"zone": "DE", "history": [self._em_item(t) for t in hours]})
        if endpoint == "latest":
            hours = [t for t in self.em if t <= now]
            return _json(200, self._em_item(max(hours))) if hours else _json(404, {"message": "none"})
        if endpoint == "past-range":
            a, b = parse_time(q["start"]), parse_time(q["end"])
            if b - a > 10 * DAY or b <= a:
                return self.refuse(400, h, "range exceeds 10 days")
            return _json(200, {"zone": "DE", "data": [self._em_item(t) for t in sorted(self.em) if a <= t < b]})
        return _json(404, {"message": "unknown endpoint"})

    # -- UK Carbon Intensity --

    def uk_answer(self, path: str, h: dict[str, str]):  # type: ignore[no-untyped-def]
        _, _, a_s, b_s = unquote(path).split("/")[:4]
        a, b = parse_time(a_s), parse_time(b_s)
        if b - a > 14 * DAY or b <= a:
            return self.refuse(400, h, "Date range must be less than 14 days")
        items = [{"from": iso_utc(t, seconds=False), "to": iso_utc(t + 1800, seconds=False),
                  "intensity": {"forecast": f, "actual": act, "index": "moderate"}}
                 for t, (f, act) in sorted(self.uk.items()) if t + 1800 > a and t < b]
        return _json(200, {"data": items})

    # -- WattTime --

    def wt_login(self, h: dict[str, str]):  # type: ignore[no-untyped-def]
        time.sleep(self.login_delay_s)
        want = "Basic " + base64.b64encode(f"{self.wt_user}:{self.wt_password}".encode()).decode()
        if h.get("authorization") != want:
            return self.refuse(403, h, "invalid credentials")
        return _json(200, {"token": "token-abc123"})

    def wt_historical(self, q: dict[str, str], h: dict[str, str]):  # type: ignore[no-untyped-def]
        time.sleep(self.data_delay_s)
        if h.get("authorization") != "Bearer token-abc123":
            return self.refuse(401, h, "bad token")
        a, b = parse_time(q["start"]), parse_time(q["end"])
        if b - a > 32 * DAY or q.get("signal_type") != "co2_moer":
            return self.refuse(400, h, "bad request")
        data = [{"point_time": iso_utc(t).replace("Z", "+00:00"), "value": v}
                for t, v in sorted(self.wt.items()) if a <= t < b]
        return _json(200, {"data": data, "meta": {"data_point_period_seconds": 300, "region": q["region"],
                                                  "signal_type": "co2_moer", "units": "lbs_co2_per_mwh"}})
