"""What every live provider shares: HTTP with a deadline, time parsing, hourly means.

Why plain ``urllib``: three small JSON APIs do not justify a dependency, and each call
must honour the caller's deadline (the run's end is never delayed past the budget).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import quote, urlencode
from urllib.request import Request, urlopen

from wattprint.errors import WattprintError
from wattprint.intensity.live.cache import DiskCache
from wattprint.privacy import MASK, mask_text

HOUR = 3600.0
# History is settled once its hour is this far in the past: cache it for good.
SETTLED_AFTER_S = 2 * HOUR
FRESH_TTL_S = 15 * 60.0
SETTLED_TTL_S = 30 * 24 * HOUR
# An HTTP error body goes into the run's warnings: a short, one-line excerpt only.
ERROR_BODY_READ = 4096
ERROR_EXCERPT_CHARS = 160
_SECRET_NAME = re.compile(r"(?i)key|token|password|passwd|secret|auth")
_UNPRINTABLE = re.compile(r"[\x00-\x20\x7f-\x9f\u2028\u2029]+")


class LiveError(WattprintError):
    """A live provider could not give a usable answer (HTTP error, bad JSON, no data)."""


def sent_secrets(params: Mapping[str, str] | None, headers: Mapping[str, str]) -> list[str]:
    """The credentials a request carries: header values (and their parts: a Bearer token, the
    user:password inside Basic) and query values whose names hold secrets; longest first."""
    found: set[str] = set()
    values = [v for k, v in headers.items() if k.lower() != "accept"]
    values += [v for k, v in (params or {}).items() if _SECRET_NAME.search(k)]
    for value in values:
        found.add(value)
        scheme, _, credential = value.partition(" ")
        if scheme.lower() in ("bearer", "basic", "token") and credential.strip():
            found.add(credential.strip())
        if scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(credential.strip(), validate=True).decode("utf-8")
            except ValueError:
                continue
            found |= {decoded, decoded.partition(":")[2]}
    found |= {quote(v, safe="") for v in found}
    return sorted((v for v in found if len(v) >= 3), key=len, reverse=True)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` as a short single line, with ``secrets`` (by value) and secret-shaped
    values (``token=…``, ``Authorization: …``, credentials in URLs) masked."""
    for secret in secrets:
        text = text.replace(secret, MASK)
    text = mask_text(text)  # the shapes command lines are masked for, too (wattprint.privacy)
    text = _UNPRINTABLE.sub(" ", text).strip()
    if len(text) > ERROR_EXCERPT_CHARS:
        text = text[:ERROR_EXCERPT_CHARS].rstrip() + "…"
    return text


def get_json(url: str, params: Mapping[str, str] | None, headers: Mapping[str, str],
             deadline: float) -> Any:
    """GET ``url?params`` and decode JSON, with a socket timeout bounded by ``deadline``.

    An error never carries what was sent: the error body is cut to a one-line
    excerpt with the request's credentials masked by value (providers echo them).
    """
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise LiveError("time budget spent")
    full = f"{url}?{urlencode(params)}" if params else url
    req = Request(full, headers={"Accept": "application/json", **headers})
    try:
        with urlopen(req, timeout=remaining) as resp:  # noqa: S310 - https/http URLs only
            body = resp.read(4_000_000)
    except HTTPError as exc:
        secrets = sent_secrets(params, headers)
        detail = redact(exc.read(ERROR_BODY_READ).decode("utf-8", "replace"), secrets)
        raise LiveError(f"HTTP {exc.code} from {redact(url)}" + (f": {detail}" if detail else "")) \
            from None
    except (URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise LiveError(f"{redact(url)}: {redact(str(reason), sent_secrets(params, headers))}") from None
    try:
        return json.loads(body)
    except ValueError:
        raise LiveError(f"{redact(url)}: answer is not JSON") from None


def basic_auth(user: str, password: str) -> str:
    """``Authorization`` header value for HTTP Basic."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


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


def hourly_means(points: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    """Average sub-hourly (time, value) points into (hour start, mean) pairs, sorted."""
    acc: dict[float, list[float]] = defaultdict(list)
    for t, v in points:
        acc[hour_of(t)].append(v)
    return sorted((h, sum(vs) / len(vs)) for h, vs in acc.items())


class LiveProvider:
    """Base of the providers: cache handling around :meth:`fetch`.

    Subclasses set ``name``, ``source``, ``marginal`` and implement ``fetch`` returning
    (hour start UTC, gCO2e/kWh) pairs for the hours in ``[start_hour, end_hour]``.
    """

    name = "live"
    source = "live"
    marginal = False

    def key_parts(self) -> tuple[str, ...]:
        """What identifies this provider's answers in the cache (zone, base URL ...)."""
        raise NotImplementedError

    def fetch(self, start_hour: float, end_hour: float, deadline: float) -> list[tuple[float, float]]:
        raise NotImplementedError

    def hourly(self, start_utc: float, end_utc: float, *, deadline: float,
               cache: DiskCache | None = None) -> tuple[list[tuple[float, float]], bool]:
        """Hourly series over the span, from the disk cache when fresh; (series, from_cache)."""
        sh, eh = hour_of(start_utc), hour_of(end_utc)
        key = hashlib.sha256("|".join((self.name, *self.key_parts(), str(sh), str(eh)))
                             .encode()).hexdigest()[:32]
        if cache is not None:
            hit = cache.get(key)
            if hit is not None:
                return [(float(h), float(g)) for h, g in hit["hourly"]], True
        series = self.fetch(sh, eh, deadline)
        if not series:
            raise LiveError("no data for the run's hours")
        if cache is not None:
            settled = eh + HOUR + SETTLED_AFTER_S <= time.time()
            cache.put(key, {"hourly": [list(p) for p in series]},
                      ttl_s=SETTLED_TTL_S if settled else FRESH_TTL_S)
        return series, False
