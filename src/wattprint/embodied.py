"""Embodied emissions (the SCI's M term): the user's per-device figures, amortised over a run.

A device's embodied emissions (manufacturing, transport, end of life) are given
by the user, never guessed: ``kg`` CO2e over a ``years`` lifetime, with an
optional ``source``, for a device model or one device. wattprint ships no table
of published figures (see docs/foresight.md). Keys, most specific first:

- a channel: ``"gpu:GPU-8f3c…"``, ``"cpu:package-0"`` — that one device;
- a GPU or CPU model as the run records it: ``"NVIDIA A100-SXM4-80GB"`` — each
  device of that model the run measured;
- ``"host"`` — the machine as a whole (chassis, board, memory, storage ...),
  which should then leave out what has figures of its own.

Amortised as ``M = kg x 1000 x duration / lifetime x share``: the run held the
devices for its duration (time share); a GPU's share is the run's part of it when
attribution knows it (``process=``, ``wattprint run``), else the whole GPU. M is
kept apart from the operational emissions, never added to them.

Set in ``wattprint.toml`` as the ``[embodied]`` table, or as ``Tracker(embodied_devices={...})``::

    [embodied]
    host = { kg = 1200, years = 5, source = "vendor PCF, 2023" }
    "NVIDIA A100-SXM4-80GB" = { kg = 150, years = 4 }
"""

from __future__ import annotations

import math

from wattprint.errors import ConfigError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

YEAR_S = 365.25 * 86400.0
BASIS = "user-given per-device figures, amortised by time (and attributed GPU share)"


def check_figures(raw: object, label: str) -> dict[str, dict[str, Any]]:
    """``{key: {"kg": .., "years": .., "source": ..}}`` checked, or one ConfigError line."""
    def fail(why: str) -> ConfigError:
        return ConfigError(f"{label}: embodied {why}, e.g. {{'host': {{'kg': 1200, 'years': 5}}}}")

    if not isinstance(raw, dict) or not raw:
        raise fail("must be a table of device: { kg = ..., years = ... }")
    out: dict[str, dict[str, Any]] = {}
    for key, fig in raw.items():
        if not isinstance(key, str) or not key.strip():
            raise fail("names each device with non-empty text")
        if not isinstance(fig, dict) or set(fig) - {"kg", "years", "source"}:
            raise fail(f"['{key[:60]}'] takes kg, years and source only")
        kg, years = fig.get("kg"), fig.get("years")
        for name, v, hi in (("kg", kg, 1e6), ("years", years, 100.0)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not 0 < v <= hi:
                raise fail(f"['{key[:60]}'].{name} must be a number more than 0 and at most {hi:g}")
        source = fig.get("source", "user-given")
        if not isinstance(source, str):
            raise fail(f"['{key[:60]}'].source must be text")
        out[key.strip()] = {"kg": float(kg), "years": float(years), "source": source}  # type: ignore[arg-type]
    return out


def _devices(run: Mapping[str, Any], models: Mapping[str, str]) -> list[tuple[str, str]]:
    """(channel, model) of each device the run measured: its GPUs, its CPU packages."""
    out = []
    for name, c in (run.get("channels") or {}).items():
        if c.get("component") == "gpu" or (c.get("component") == "cpu" and name.startswith("cpu:package")):
            model = models.get(name) or (str(run.get("cpu_model") or "") if c.get("component") == "cpu" else "")
            out.append((name, model))
    return out


def _gpu_share(run: Mapping[str, Any], channel: str) -> tuple[float, str]:
    att = (run.get("attribution") or {}).get("channels") or {}
    if channel in att and att[channel].get("share") is not None:
        return float(att[channel]["share"]), f"attributed ({att[channel].get('method', '')})"
    return 1.0, "whole device"


def amortise(run: Mapping[str, Any], figures: Mapping[str, Mapping[str, Any]],
             models: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The run's embodied emissions from ``figures`` (see the module's doc) and its record;
    ``models`` gives each channel's device model (the run record keeps only the set of them)."""
    duration = max(0.0, float(run.get("duration_s") or 0.0))
    items, used = [], set()
    for channel, model in _devices(run, models or {}):
        key = channel if channel in figures else model if model in figures else None
        if key is None:
            continue
        used.add(key)
        share, basis = _gpu_share(run, channel) if channel.startswith("gpu:") else (1.0, "whole device")
        items.append(_item(channel, key, figures[key], duration, share, basis))
    if "host" in figures:
        used.add("host")
        items.append(_item("host", "host", figures["host"], duration, 1.0, "whole machine"))
    return {
        "emissions_g": sum(i["emissions_g"] for i in items),
        "items": items,
        "unmatched": sorted(set(figures) - used),
        "basis": BASIS,
    }


def _item(what: str, key: str, fig: Mapping[str, Any], duration: float, share: float, basis: str) -> dict[str, Any]:
    grams = fig["kg"] * 1000.0 * duration / (fig["years"] * YEAR_S) * share
    return {"device": what, "figure": key, "kg": fig["kg"], "years": fig["years"], "source": fig["source"],
            "share": share, "share_basis": basis, "emissions_g": grams}
