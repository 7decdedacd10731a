"""What every live provider shares: HTTP with a deadline, fixed error texts, checked points.

Why plain ``urllib``: three small JSON APIs do not justify a dependency, and each call
must honour the caller's deadline (the run's end is never delayed past the budget).

What a provider says back on an error is never kept: providers echo what they were
sent (an API key, a Basic header), so an error becomes a status line and a fixed
message chosen here (:data:`STATUS_TEXT`), nothing of the body or the URL.

A provider's answer is a list of :data:`Point` ``(t0, t1, g_per_kwh, quality)``: the
span the value stands for at the provider's native resolution (an hour, a half-hour,
five minutes), and ``quality`` one of ``actual``, ``estimated``, ``forecast``. Every
value is checked (:func:`check_points`) before it can price anything.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import urlencode
from urllib.request import Request, urlopen

from wattprint.errors import WattprintError

HOUR = 3600.0
DAY = 24 * HOUR
# One request may take this long; a provider's call sequence (login + data, history +
# latest) gets this much per call it makes (LiveProvider.calls).
PER_CALL_S = 2.0
# Retry-After is honoured up to this long; other failures are remembered this long.
RETRY_AFTER_MAX_S = 3600.0
FAILURE_TTL_S = 300.0

Point = tuple[float, float, float, str]  # (t0 UTC, t1 UTC, g/kWh, quality)
QUALITY_RANK = {"forecast": 0, "estimated": 1, "actual": 2}
# Plausible values per signal (g/kWh). The dirtiest grids average ~1,000-1,100 gCO2e/kWh
# lifecycle; a marginal lignite unit is ~1,200: anything outside is a provider fault.
PLAUSIBLE = {"average": (0.0, 1500.0), "marginal": (0.0, 2000.0)}

STATUS_TEXT = {
    400: "request refused (span or parameters)",
    401: "credentials refused",
    403: "credentials refused or endpoint not in this plan",
    404: "zone, region or endpoint not found",
    429: "rate limited",
}


class LiveError(WattprintError):
    """A live provider could not give a usable answer (HTTP error, bad JSON, no data).

    ``retry_after_s``: how long the provider asked us to wait (429/503 Retry-After), or None.
    ``remember``: False when the failure is ours (the time budget ran out before asking),
    so it is not held against the provider.
    """

    def __init__(self, message: str, retry_after_s: float | None = None, *, remember: bool = True) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
        self.remember = remember


def status_text(code: int) -> str:
    """The fixed message for an HTTP status (never the provider's own words)."""
    if code in STATUS_TEXT:
        return STATUS_TEXT[code]
    return "provider unavailable" if code >= 500 else "unexpected answer"


def retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date), capped."""
    if not value:
        return None
    v = value.strip()
    try:
        s = float(v) if v.replace(".", "", 1).isdigit() else \
            parsedate_to_datetime(v).timestamp() - (time.time() if now is None else now)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if not math.isfinite(s):
        return None
    return min(max(0.0, s), RETRY_AFTER_MAX_S)


def get_json(who: str, url: str, params: Mapping[str, str] | None, headers: Mapping[str, str],
             deadline: float) -> Any:
    """GET ``url?params`` and decode JSON, with a socket timeout bounded by ``deadline``.

    Errors are :class:`LiveError` with ``who``, a status and a fixed message only.
    """
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise LiveError(f"{who}: time budget spent", remember=False)
    full = f"{url}?{urlencode(params)}" if params else url
    req = Request(full, headers={"Accept": "application/json", **headers})
    try:
        with urlopen(req, timeout=remaining) as resp:  # noqa: S310 - https/http URLs only
            body = resp.read(4_000_000)
    except HTTPError as exc:
        wait = retry_after(exc.headers.get("Retry-After")) if exc.code in (429, 503) else None
        exc.close()
        raise LiveError(f"{who}: HTTP {exc.code}, {status_text(exc.code)}", wait) from None
    except TimeoutError:
        raise LiveError(f"{who}: no answer in time") from None
    except (URLError, OSError) as exc:
        timed_out = isinstance(getattr(exc, "reason", None), TimeoutError)
        raise LiveError(f"{who}: " + ("no answer in time" if timed_out else "could not connect")) \
            from None
    try:
        return json.loads(body)
    except ValueError:
        raise LiveError(f"{who}: answer is not JSON") from None


def parse_time(s: str) -> float:
    """ISO 8601 (``2026-11-28T10:00:00.000Z``, ``...+00:00``, ``...T10:00Z``) → UTC epoch s."""
    t = s.strip()
    if t.endswith(("Z", "z")):
        t = t[:-1] + "+00:00"
    if "." in t:  # Python 3.10 fromisoformat wants 0, 3 or 6 fraction digits
        head, _, tail = t.partition(".")
        n = 0
        while n < len(tail) and tail[n].isdigit():  # the fraction only, not the offset after it
            n += 1
        t = head + "." + (tail[:n] + "000000")[:6] + tail[n:]
    dt = datetime.fromisoformat(t)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


def hour_of(t: float) -> float:
    """Start of the UTC hour holding ``t``."""
    return t - t % HOUR


def number(value: object) -> float:
    """A provider's value as a float (NaN for what is not a number, checked later)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return float("nan")
    try:
        return float(value)
    except ValueError:
        return float("nan")


Rejected = tuple[float, float, str]  # (t0, t1, fault line)


def check_points(points: Iterable[Point], signal: str) -> tuple[list[Point], list[Rejected]]:
    """(kept points, (start, end, fault line) per rejected value): finite and within :data:`PLAUSIBLE`."""
    lo, hi = PLAUSIBLE[signal]
    kept: list[Point] = []
    faults: list[Rejected] = []
    for p in points:
        t0, t1, g, _q = p
        if math.isfinite(g) and lo <= g <= hi and t1 > t0:
            kept.append(p)
        else:
            faults.append((t0, t1, f"value {g!r} g/kWh for {_iso(t0)}..{_iso(t1)} rejected "
                               f"(plausible: {lo:g}..{hi:g} for {signal} intensity)"))
    return kept, faults


def merge_points(old: Iterable[Point], new: Iterable[Point]) -> list[Point]:
    """Both sets by start time, sorted; where both hold a span the better quality wins
    (actual > estimated > forecast; the newer at equal quality); overlaps cut away."""
    best: dict[float, Point] = {}
    for p in (*old, *new):
        q = best.get(p[0])
        if q is None or QUALITY_RANK.get(p[3], 0) >= QUALITY_RANK.get(q[3], 0):
            best[p[0]] = p
    out: list[Point] = []
    for p in sorted(best.values()):
        if out and p[0] < out[-1][1]:  # overlaps the previous span: keep the earlier whole
            if p[1] <= out[-1][1]:
                continue
            p = (out[-1][1], p[1], p[2], p[3])
        out.append(p)
    return out


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
