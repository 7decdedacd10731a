"""Number formatting shared by the report renderers (Markdown, HTML, LaTeX, compare).

Deterministic and locale-free, so golden files are stable: significant
figures without exponent notation, thousands separators from 1 000 up.
"""

from __future__ import annotations

import math

from wattprint.units import fmt_duration


def sig(x: float | None, digits: int = 3) -> str:
    """``0.000681``, ``1.23``, ``608``, ``12,345``; ``-`` for None."""
    if x is None:
        return "-"
    x = float(x)
    if not math.isfinite(x):
        return "-"
    if x == 0:
        return "0"
    decimals = digits - 1 - math.floor(math.log10(abs(x)))
    rounded = round(x, decimals)
    if rounded != 0 and math.floor(math.log10(abs(rounded))) > math.floor(math.log10(abs(x))):
        decimals -= 1  # 9.996 rounds to 10.0: one figure fewer after the point
    if abs(rounded) >= 10 ** digits:
        return f"{rounded:,.0f}"
    decimals = max(0, min(decimals, 15))
    text = f"{x:.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def pct(x: float | None, decimals: int = 1) -> str:
    """``87.2 %`` for 0.872; ``-`` for None."""
    if x is None:
        return "-"
    return f"{x * 100:.{decimals}f} %"


def band(x: float) -> str:
    """``±5 %`` for 0.05."""
    return f"±{x * 100:.0f} %"


def duration(seconds: float) -> str:
    """``10m00.0s`` (see :func:`wattprint.units.fmt_duration`)."""
    return fmt_duration(seconds)


def location_text(it: dict | None) -> str:
    """``FR, 56 gCO2e/kWh (Ember ..., 2024)``, with the fallback said plainly."""
    if not it:
        return "unknown grid"
    year = f", {it['year']}" if it.get("year") else ""
    live = ""
    if it.get("live_source") and it.get("hourly_points"):
        share = it.get("live_share")
        live = f"; live values from {it['live_source']}" + (
            f" for {share:.0%} of the energy, effective {sig(it['effective_g_per_kwh'])} gCO2e/kWh"
            if share is not None and it.get("effective_g_per_kwh") is not None else "")
    text = f"{it['location']}, {sig(it['g_per_kwh'])} gCO2e/kWh ({it['source']}{year}{live})"
    if it.get("fallback"):
        text += " [FALLBACK: location unknown, world average]"
    return text


def singular(unit: str) -> str:
    """``samples`` -> ``sample``, ``queries`` -> ``query`` (for "g CO2e per sample")."""
    if unit.endswith("ies") and len(unit) > 3:
        return unit[:-3] + "y"
    if unit.endswith("s") and not unit.endswith("ss") and len(unit) > 1:
        return unit[:-1]
    return unit
