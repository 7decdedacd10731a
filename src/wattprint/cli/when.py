"""``wattprint when --duration 6h``: the greenest start times in a live provider's forecast.

Only a forecast answers this: without a configured provider that offers one (or offline)
the command says so and exits 1; it never ranks hours on the annual figure, which is
the same for every hour.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from typing import Any

from wattprint.cli.common import UsageError
from wattprint.cli.options import add_location, load_settings

EXIT_NO_FORECAST = 1
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_UNIT_S = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def register(sub: Any) -> None:
    p = sub.add_parser(
        "when",
        help="the greenest times to start a job, from a live provider's forecast",
        description="Ranks start times within --within by the forecast mean intensity over the job's "
        "--duration, against starting now. Needs a live provider with forecasts "
        "(Electricity Maps plans with forecasts, UK Carbon Intensity for GB, WattTime).",
    )
    p.add_argument("--duration", required=True, help="how long the job runs, e.g. 6h, 90m, 1h30m")
    p.add_argument("--within", default="24h", help="latest start, from now (default 24h)")
    p.add_argument("--top", type=int, default=5, help="how many start times to list (default 5)")
    p.add_argument("--kwh", type=float, help="the job's energy, to show the grams saved")
    p.add_argument("--json", action="store_true", help="print the answer as JSON")
    add_location(p)
    p.set_defaults(func=handle)


def parse_duration(text: str, flag: str) -> float:
    """``6h``, ``90m``, ``1h30m``, ``2d``, ``3600s`` or a bare number of hours → seconds."""
    t = text.strip().lower().replace(" ", "")
    try:
        seconds = float(t) * 3600.0
    except ValueError:
        parts = _PART.findall(t)
        seconds = sum(float(n) * _UNIT_S[u] for n, u in parts) if "".join(n + u for n, u in parts) == t else -1
    if not 60.0 <= seconds <= 30 * 86400.0 or seconds != seconds:
        raise UsageError(f"{flag} {text!r}: give a length from 1 minute to 30 days, e.g. 6h, 90m, 1h30m")
    return seconds


def _forecast(args: argparse.Namespace, now: float) -> tuple[Any, list[Any], str]:
    from wattprint.intensity.base import LocationError
    from wattprint.intensity.live import choose_provider
    from wattprint.intensity.live.common import LiveError, check_points
    from wattprint.intensity.resolve import resolve

    settings = load_settings(args)
    try:
        location = resolve(settings=settings).location
        provider = choose_provider(location, settings)
    except (LocationError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    if provider is None:
        raise _NoForecast(f"no live provider is configured for grid {location} (see docs/live-intensity.md); "
                          "embedded figures are annual, the same for every hour")
    try:
        raw = provider.forecast(now, time.monotonic() + provider.budget_s)
    except LiveError as exc:
        raise _NoForecast(str(exc)) from None
    kept, rejected = check_points(raw, provider.signal)
    if not kept:
        raise _NoForecast(f"{provider.name} gave no usable forecast values" + (f" ({len(rejected)} refused)"
                                                                                if rejected else ""))
    return provider, kept, location


class _NoForecast(Exception):
    pass


def handle(args: argparse.Namespace) -> int:
    from wattprint.intensity.forecast import best, starts

    duration = parse_duration(args.duration, "--duration")
    within = parse_duration(args.within, "--within")
    if not 1 <= args.top <= 100:
        raise UsageError("--top: between 1 and 100")
    if args.kwh is not None and not 0 < args.kwh < 1e9:
        raise UsageError("--kwh: a positive number of kilowatt-hours")
    now = time.time()
    try:
        provider, points, location = _forecast(args, now)
    except _NoForecast as exc:
        print(f"wattprint: cannot forecast: {exc}", file=sys.stderr)
        return EXIT_NO_FORECAST
    candidates = starts(points, now, duration, within)
    if not candidates:
        horizon = max(p[1] for p in points)
        print(f"wattprint: cannot forecast: {provider.name}'s forecast ends {(horizon - now) / 3600:.1f} h from "
              f"now, too soon for a {duration / 3600:g} h job", file=sys.stderr)
        return EXIT_NO_FORECAST
    first = candidates[0] if candidates[0].t == now else None
    answer = _answer(provider, location, best(candidates, args.top), first, duration, args.kwh, points)
    if args.json:
        json.dump(answer, sys.stdout, indent=2)
        print()
    else:
        print(_text(answer))
    return 0


def _answer(provider: Any, location: str, top: list[Any], now: Any, duration: float, kwh: float | None,
            points: list[Any]) -> dict[str, Any]:
    from wattprint.units import iso_utc

    def row(s: Any) -> dict[str, Any]:
        r: dict[str, Any] = {"start_utc": iso_utc(s.t), "start_unix": s.t, "g_per_kwh": s.g_per_kwh,
                             "saving": None if now is None or not now.g_per_kwh else 1 - s.g_per_kwh / now.g_per_kwh}
        if kwh is not None:
            r["emissions_g"] = kwh * s.g_per_kwh
            r["saved_g"] = None if now is None else kwh * (now.g_per_kwh - s.g_per_kwh)
        return r

    return {"provider": provider.name, "source": provider.source, "location": location,
            "signal": provider.signal, "basis": dict(provider.basis), "duration_s": duration,
            "forecast_until_utc": iso_utc(max(p[1] for p in points)),
            "now": None if now is None else row(now), "best": [row(s) for s in top]}


def _text(a: dict[str, Any]) -> str:
    from wattprint.report.escape import term_text as t
    from wattprint.units import fmt_mass

    what = "marginal (MOER: the emissions extra load causes)" if a["signal"] == "marginal" else "average"
    lines = [f"Greenest starts for a {a['duration_s'] / 3600:g} h job on grid {t(a['location'])}: "
             f"{t(a['provider'])} forecast, {what}, until {a['forecast_until_utc']}"]
    if a["now"] is not None:
        lines.append(f"  now                     {a['now']['g_per_kwh']:7.1f} g/kWh")
    for r in a["best"]:
        v = r["saving"]
        saving = "" if v is None else f"  {abs(v):.0%} {'less' if v >= 0 else 'more'} than now"
        g = r.get("saved_g")
        grams = "" if g is None else f", {fmt_mass(abs(g))} {'less' if g >= 0 else 'more'} CO2e"
        lines.append(f"  {r['start_utc']}    {r['g_per_kwh']:7.1f} g/kWh{saving}{grams}")
    lines.append(f"Source: {t(a['source'])}. A forecast, not a promise: the run itself is priced with what "
                 "the grid then did.")
    return "\n".join(lines)
