"""Units and formatting. Joules and seconds inside; kWh, kg only at the edges."""

from __future__ import annotations

TYPE_CHECKING = False  # not from typing: this module is on the ``import wattprint`` path
if TYPE_CHECKING:
    import datetime
    from collections.abc import Iterable

J_PER_KWH = 3_600_000.0
LB_PER_MWH_TO_G_PER_KWH = 0.45359237  # 1 lb = 453.59237 g; per MWh → per kWh divides by 1000


def j_to_kwh(joules: float) -> float:
    """Joules → kilowatt-hours (1 kWh = 3 600 000 J exactly)."""
    return joules / J_PER_KWH


def kwh_to_j(kwh: float) -> float:
    """Kilowatt-hours → joules."""
    return kwh * J_PER_KWH


def emissions_g(energy_j: float, g_per_kwh: float, pue: float = 1.0) -> float:
    """Grams CO2e for ``energy_j`` joules at ``g_per_kwh`` grid intensity and ``pue``."""
    return j_to_kwh(energy_j) * g_per_kwh * pue


def combined_band(parts: Iterable[tuple[float, float]]) -> float:
    """Relative band of a sum of energies, from its ``(energy_j, band)`` parts.

    The energy-weighted mean of the parts' bands. This assumes their errors
    can all lean the same way (a shared model, a shared calibration bias): the
    conservative choice, as an independent-errors sum would be narrower. With
    no energy at all, the widest band (0.0 for no parts).
    """
    parts = list(parts)
    total = sum(e for e, _ in parts)
    if total <= 0:
        return max((b for _, b in parts), default=0.0)
    return sum(e / total * b for e, b in parts)  # weights first: e * b can underflow to 0


def _scaled(value: float, units: list[tuple[float, str]], digits: int) -> str:
    if value == 0:
        return f"0 {units[-2][1]}"
    for factor, unit in units:
        if abs(value) >= factor:
            return f"{value / factor:.{digits}g} {unit}"
    factor, unit = units[-1]
    return f"{value / factor:.{digits}g} {unit}"


def fmt_energy(joules: float, digits: int = 3) -> str:
    """Human energy: J, kJ, Wh, kWh, MWh by size."""
    return _scaled(
        joules,
        [(3.6e9, "MWh"), (3.6e6, "kWh"), (3.6e3, "Wh"), (1e3, "kJ"), (1.0, "J"), (1e-3, "mJ")],
        digits,
    )


def fmt_power(watts: float, digits: int = 3) -> str:
    """Human power: mW, W, kW."""
    return _scaled(watts, [(1e3, "kW"), (1.0, "W"), (1e-3, "mW")], digits)


def fmt_mass(grams: float, digits: int = 3) -> str:
    """Human CO2e mass: mg, g, kg, t."""
    return _scaled(grams, [(1e6, "t"), (1e3, "kg"), (1.0, "g"), (1e-3, "mg")], digits)


def fmt_duration(seconds: float) -> str:
    """``1h02m03s`` / ``2m03.4s`` / ``3.21s``."""
    if seconds < 60:
        return f"{seconds:.2f}s"
    m, s = divmod(seconds, 60)
    if m < 60:
        return f"{int(m)}m{s:04.1f}s"
    h, m = divmod(int(m), 60)
    return f"{h}h{m:02d}m{int(s):02d}s"


def _utc_datetime(ts: float) -> datetime.datetime:  # datetime is imported on first use (import cost)
    import datetime as _dt

    return _dt.datetime.fromtimestamp(float(ts), _dt.timezone.utc)


def utc(ts: float | None) -> str:
    """``2026-11-28 11:35:02Z`` for Unix seconds, for people; ``-`` for None."""
    if ts is None:
        return "-"
    return _utc_datetime(ts).strftime("%Y-%m-%d %H:%M:%SZ")


def iso_utc(ts: float, *, seconds: bool = True) -> str:
    """``2026-11-28T11:35:02Z`` (or ``...T11:35Z``) for Unix seconds, for files and APIs."""
    return _utc_datetime(ts).strftime("%Y-%m-%dT%H:%M:%SZ" if seconds else "%Y-%m-%dT%H:%MZ")
