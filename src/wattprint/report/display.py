"""What the Markdown and HTML reports show the same way, decided once.

The renderers differ in markup and escaping; which runs are "top windows",
how a status or an overlapping component is labelled and which lines count
as warnings are the same decision in both, so it lives here. Every function
returns plain (unescaped) text or report entries: each renderer escapes for
its own format.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from wattprint.units import combined_band

TOP_WINDOWS = 10  # window groups shown, by energy
OVERLAP_NOTE = "(overlaps, not summed)"
# sensors/platform's components (not imported: the report knows the record, not the hardware)
WHOLE, REST, FALLBACK = "platform", "platform-rest", "platform-fallback"


def _j(x: Any) -> float:
    try:
        return float(x or 0.0)
    except (TypeError, ValueError):
        return 0.0


def platform(chans: list[dict[str, Any]], facts: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
    """The whole machine beside its components: which figure the run's energy used, and the rest.

    ``used`` is ``"whole-machine"`` (a meter's channel is the total; ``rest_j`` =
    whole − components, measured), ``"modelled-rest"`` (components + the modelled
    rest of the platform), or None (components only: the gap is not in the figure).
    ``facts`` is the run record's ``platform`` (metered and fallback seconds, the
    band the meter's refresh adds, short or not); absent from older runs.
    Bands: the whole figure's and the components' (energy-weighted, as
    :func:`wattprint.units.combined_band`); a measured rest, the difference of two
    figures, carries both their absolute errors.
    """
    whole = [c for c in chans if c.get("component") == WHOLE and c.get("in_total", True)]
    rest = [c for c in chans if c.get("component") == REST]
    # with a meter, the components are the channels inside it (a job's unmetered hosts stay outside)
    parts = [c for c in chans if c.get("component") not in (WHOLE, REST, FALLBACK, "psys")
             and bool(c.get("in_total", True)) != bool(whole)]
    components_j = sum(_j(c.get("energy_j")) for c in parts)
    comp_band = combined_band((_j(c.get("energy_j")), _j(c.get("band"))) for c in parts)
    base = {"components_j": components_j, "components_band": comp_band,
            "components_methods": sorted({str(c.get("method", "")) for c in parts})}
    if whole:  # one meter per host (a job's merged view may hold several)
        whole_j = sum(_j(c.get("energy_j")) for c in whole)
        band = combined_band((_j(c.get("energy_j")), _j(c.get("band"))) for c in whole)
        rest_j = whole_j - components_j
        fb = [c for c in chans if c.get("component") == FALLBACK]
        f = facts or {}
        return {**base, "used": "whole-machine", "channel": ", ".join(str(c["name"]) for c in whole),
                "whole_j": whole_j, "whole_band": band, "whole_method": ", ".join(sorted({str(c.get("method", ""))
                                                                                      for c in whole})),
                "rest_j": rest_j, "rest_method": "measured",
                "rest_band": (whole_j * band + components_j * comp_band) / abs(rest_j) if rest_j else 0.0,
                "fallback_j": sum(_j(c.get("energy_j")) for c in fb),
                "fallback_band": combined_band((_j(c.get("energy_j")), _j(c.get("band"))) for c in fb),
                "metered_s": _j(f.get("metered_s")), "fallback_s": _j(f.get("fallback_s")),
                "fallback_spans": int(_j(f.get("fallback_spans"))), "refresh_s": _j(f.get("refresh_s")),
                "edge_band": _j(f.get("edge_band")), "short": bool(f.get("short"))}
    if rest:
        rest_j = sum(_j(c.get("energy_j")) for c in rest)
        rest_band = _j(rest[0].get("band"))
        return {**base, "used": "modelled-rest", "channel": str(rest[0]["name"]), "whole_j": components_j + rest_j,
                "whole_band": combined_band([(components_j, comp_band), (rest_j, rest_band)]),
                "whole_method": "components + modelled rest", "rest_j": rest_j, "rest_method": "modelled",
                "rest_band": rest_band}
    return None


def platform_rows(plat: Mapping[str, Any]) -> list[tuple[str, str, float, str, float, str]]:
    """The whole-machine table, the same in every format: (key, figure, J, method, band, note);
    ``key`` names the report field (``platform.<key>_j``)."""
    metered = plat["used"] == "whole-machine"
    rows = [
        ("whole", "whole machine", plat["whole_j"], plat["whole_method"], plat["whole_band"],
         f"the run's total ({plat['channel']})" if metered else "the run's total: components + modelled rest"),
        ("components", "components (sum)", plat["components_j"], ", ".join(plat["components_methods"]) or "none",
         plat["components_band"], "inside the whole machine, not added" if metered else "measured parts"),
        ("rest", "rest of the platform", plat["rest_j"], plat["rest_method"], plat["rest_band"],
         "PSU losses, fans, disks, NICs, BMC: " + ("the difference" if metered else f"{plat['channel']}, no meter")),
    ]
    if metered and plat["fallback_s"] > 0:
        rows.append(("fallback", "components standing in", plat["fallback_j"], "fallback", plat["fallback_band"],
                     f"inside the total: {plat['channel']} gave no reading"))
    return rows


def platform_notes(plat: Mapping[str, Any]) -> list[str]:
    """Which figure the total used, over how many metered and fallback seconds, and a short run's flag."""
    if plat["used"] != "whole-machine":
        return [f"The run's total is the components plus the rest of the platform modelled ({plat['channel']}, "
                f"±{plat['rest_band']:.0%}): no whole-machine meter was read."]
    out = [f"The run's total is the whole-machine meter {plat['channel']}"]
    if plat["fallback_s"] > 0:
        n = plat["fallback_spans"]
        out[0] += (f", metered for {plat['metered_s']:.4g} s; for {plat['fallback_s']:.4g} s in {n} "
                   f"span{'s' if n != 1 else ''} it gave no reading and the components stood in "
                   f"({plat['fallback_j']:.4g} J).")
    else:
        out[0] += "."
    if plat["short"]:
        out.append(f"Short run: under 3 refresh periods ({plat['refresh_s']:g} s) of the meter; its band is "
                   f"widened by ±{plat['edge_band']:.0%} (one refresh period over the run's length).")
    return out


def status_text(run: dict[str, Any]) -> str:
    """``finished, exit 0``: the run's status with its exit code when there is one."""
    return run["status"] + (f", exit {run['exit_code']}" if run["exit_code"] is not None else "")


def component_label(component: str, in_total: bool) -> str:
    """The component's name, marked when it overlaps others and is left out of the total."""
    return component if in_total else f"{component} {OVERLAP_NOTE}"


def top_windows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The window groups shown in a report: the first :data:`TOP_WINDOWS` (already by energy)."""
    return report["window_groups"][:TOP_WINDOWS]


def warning_lines(report: dict[str, Any]) -> list[str]:
    """The intensity warnings, then one line per fault of the run (with its time when known)."""
    faults = [f"{f['source']}: {f['message']}" + (f" ({f['utc']})" if f["utc"] else "") for f in report["faults"]]
    return list((report["intensity"] or {}).get("warnings", [])) + faults
