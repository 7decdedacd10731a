"""Text for a run's budget and prediction: the summary's lines and the live view's words.

Reads the run record's ``budget`` and ``prediction`` (:mod:`wattprint.tracking.record`);
every figure is ours (numbers), so only the stored texts go through the escape helper.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from wattprint.report.escape import term_text
from wattprint.units import fmt_duration, fmt_energy, fmt_mass


def _band(band: list[float] | tuple[float, ...] | None, fmt: Callable[[float], str], unit: str = "") -> str | None:
    if not band:
        return None
    lo, mid, hi = band
    return f"{fmt(mid)}{unit} ({fmt(lo)}-{fmt(hi)})"


def prediction_text(p: Mapping[str, Any]) -> str:
    """``1h2m (55m-1h10m), 2.1 kWh (1.9 kWh-2.3 kWh), 5 g CO2e (4 g-6 g) at 95%, from 120 of 1000 done``."""
    parts = [_band(p.get("duration_s"), fmt_duration), _band(p.get("energy_j"), fmt_energy),
             _band(p.get("emissions_g"), fmt_mass, " CO2e")]
    burn = f", first {p['burn_in']:g} left out as burn-in" if p.get("burn_in") else ""
    return (f"{', '.join(x for x in parts if x)} at {p.get('level', 0.95):.0%}, "
            f"from {p['done']:g} of {p['total']:g} done{burn}")


def budget_lines(b: Mapping[str, Any] | None, width: int) -> list[str]:
    """The budget, and what happened to it (warned, predicted over, exceeded, stopped, killed)."""
    if not b:
        return []
    limits = [fmt_energy(b["energy_j"]) if b.get("energy_j") is not None else None,
              f"{fmt_mass(b['emissions_g'])} CO2e" if b.get("emissions_g") is not None else None]
    head = (f"  {'budget':<{width}}  {' and '.join(x for x in limits if x)}, {term_text(b['action'])} at the "
            f"limit (warn at {b['warn_at']:.0%})")
    out = [head]
    for key, words in (("warned", "warned"), ("predicted", "warned"), ("exceeded", "exceeded")):
        if b.get(key):
            out.append(f"  {'':<{width}}    {words} at {fmt_duration(b[key + '_at_s'])}: {term_text(b[key])}")
    if b.get("stopped"):
        how = "SIGKILL after the grace period" if b.get("killed") else "stopped"
        out.append(f"  {'':<{width}}    {how}")
    return out


def prediction_lines(p: Mapping[str, Any] | None, width: int) -> list[str]:
    """The latest prediction while running; at the end, each checkpoint against the actual."""
    if not p:
        return []
    out = []
    actual = p.get("actual")
    if p.get("latest") and not actual:
        out.append(f"  {'predicted':<{width}}  total {prediction_text(p['latest'])}")
    if actual:
        out.append(f"  {'predicted':<{width}}  vs actual {fmt_duration(actual['duration_s'])}, "
                   f"{fmt_energy(actual['energy_j'])} when {p['total']:g} were done:")
    for c in p.get("checkpoints") or []:
        errors = c.get("error") or {}
        verdict = "".join(
            f"; {what} {e['relative']:+.0%} ({'inside' if e['covered'] else 'OUTSIDE'} the interval)"
            for what, e in (("time", errors.get("duration_s")), ("energy", errors.get("energy_j"))) if e
        )
        out.append(f"  {'':<{width}}    at {c['fraction']:.0%}: {prediction_text(c)}{verdict}")
    return out


def embodied_lines(e: Mapping[str, Any] | None, width: int) -> list[str]:
    """The embodied emissions (SCI M), apart from the operational CO2e, with each device's figure."""
    if not e:
        return []
    out = [f"  {'embodied':<{width}}  {fmt_mass(e['emissions_g']):>10}  manufacturing share (SCI M), not in the "
           f"CO2e above; {term_text(e['basis'])}"]
    for i in e.get("items") or []:
        out.append(f"  {'':<{width}}    {term_text(i['device'])}: {i['kg']:g} kg over {i['years']:g} y "
                   f"x {i['share']:.0%} ({term_text(i['share_basis'])}) = {fmt_mass(i['emissions_g'])}; "
                   f"{term_text(i['source'])}")
    if e.get("unmatched"):
        out.append(f"  ! embodied figures that matched no device: {term_text(', '.join(e['unmatched']))}")
    return out
