"""Hugging Face model-card metadata: the ``co2_eq_emissions`` block.

The Hub reads this from the README's YAML front matter: ``emissions`` in
grams CO2e, ``source``, ``training_type`` (``pre-training`` or
``fine-tuning``), ``geographical_location`` and ``hardware_used``. We write
the location-based figure (the one the Hub compares across models) and say
how it was obtained in ``source``. No YAML library is needed: every string is
emitted by :func:`~wattprint.report.escape.yaml_quote` (a double-quoted scalar, one
line), so no run name or location can end a value or start a key.
"""

from __future__ import annotations

import math
import re
from typing import Any

from wattprint.errors import ReportError
from wattprint.report.escape import yaml_quote
from wattprint.report.fmt import sig
from wattprint.report.schema import hardware_summary, process_share

TRAINING_TYPES = ("pre-training", "fine-tuning")


class ModelCardError(ReportError):
    """The block cannot be written (no emissions figure, bad training type)."""


def _yaml_number(x: float) -> str:
    """A plain decimal (YAML 1.1 readers take ``1e-05`` for a string): ``6.80848``, ``0.000013``.

    At least six decimals, and six significant digits below that, so a tiny run's
    emissions (``3.2e-9`` g) never print as ``0.0``.
    """
    decimals = 6
    if 0 < abs(x) < 1e-6:
        decimals = 5 - math.floor(math.log10(abs(x)))
    text = f"{x:.{decimals}f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


_CLOUD_STEP = re.compile(r"cloud (\S+:\S+) \((.*)\) -> grid ")
_GRID_STEP = re.compile(r"^grid (\S+) \((.*)\): [0-9.]+ gCO2e/kWh")


def place(it: dict[str, Any]) -> str:
    """Where the energy was drawn, in words, from the run's location chain: the cloud region
    and its location (``aws:us-west-2 (US West (Oregon))``), else the grid's name and code
    (``France (FR)``); the bare grid code for a run whose chain names neither."""
    chain = it.get("chain") or []
    for step in chain:
        m = _CLOUD_STEP.search(step)
        if m:
            return f"{m.group(1)} ({m.group(2)})"
    for step in chain:
        m = _GRID_STEP.match(step)
        if m:
            return f"{m.group(2)} ({m.group(1)})"
    return str(it["location"])


def render(report: dict[str, Any], *, training_type: str | None = None, scope: str = "machine") -> str:
    """The YAML block to paste into a model card's front matter (with a comment header).

    ``scope="process"``: the emissions are the run's process-tree share of the machine's
    (its recorded attribution), and ``source`` says so; ``machine`` (default): the whole
    machine's counted channels."""
    em, it, t = report["emissions"], report["intensity"], report["totals"]
    if em["location_based_g"] is None or not it:
        raise ModelCardError(
            "this run has no emissions figure (no grid intensity recorded); re-run with a location"
        )
    if training_type is not None and training_type not in TRAINING_TYPES:
        raise ModelCardError(
            f"--training-type must be one of {', '.join(TRAINING_TYPES)}, got '{training_type}'"
        )
    where = "unknown (world average used)" if it["fallback"] else place(it)
    emissions, kwh, part = em["location_based_g"], t["energy_kwh"], ""
    if scope == "process":
        a = report["attribution"]
        share = process_share(a)
        emissions, kwh = em["location_based_g"] * share, a["energy_kwh"]
        part = (f", the process tree's share {share * 100:.1f} % of the machine"
                f" ({', '.join(a['methods']) or 'attributed'})")
    source = (
        f"wattprint {report['hardware']['wattprint_version']}: {sig(kwh, 4)} kWh "
        f"({', '.join(t['methods'])}, ±{t['band'] * 100:.0f} %{part}) x PUE {sig(report['pue']['value'])} x "
        f"{sig(it['effective_g_per_kwh'] or it['g_per_kwh'])} gCO2e/kWh ({it['source']}"
        f"{', ' + str(it['year']) if it['year'] else ''}), location-based"
    )
    lines = [
        f"# wattprint run {yaml_quote(report['run']['id'])} ({yaml_quote(report['run']['name'])}); "
        "paste into the README front matter",
        "co2_eq_emissions:",
        f"  emissions: {_yaml_number(emissions)}",
        f"  source: {yaml_quote(source)}",
    ]
    if training_type:
        lines.append(f"  training_type: {yaml_quote(training_type)}")
    lines.append(f"  geographical_location: {yaml_quote(where)}")
    lines.append(f"  hardware_used: {yaml_quote(hardware_summary(report))}")
    return "\n".join(lines) + "\n"
