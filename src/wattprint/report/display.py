"""What the Markdown and HTML reports show the same way, decided once.

The renderers differ in markup and escaping; which runs are "top windows",
how a status or an overlapping component is labelled and which lines count
as warnings are the same decision in both, so it lives here. Every function
returns plain (unescaped) text or report entries: each renderer escapes for
its own format.
"""

from __future__ import annotations

from typing import Any

TOP_WINDOWS = 10  # window groups shown, by energy
OVERLAP_NOTE = "(overlaps, not summed)"
WHOLE, REST = "platform", "platform-rest"  # sensors/platform's components (not imported: a lower layer's names)


def _j(x: Any) -> float:
    try:
        return float(x or 0.0)
    except (TypeError, ValueError):
        return 0.0


def platform(chans: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The whole machine beside its components: which figure the run's energy used, and the rest.

    ``used`` is ``"whole-machine"`` (a meter's channel is the total; ``rest_j`` =
    whole − components, measured), ``"modelled-rest"`` (components + the modelled
    rest of the platform), or None (components only: the gap is not in the figure).
    """
    whole = [c for c in chans if c.get("component") == WHOLE and c.get("in_total", True)]
    rest = [c for c in chans if c.get("component") == REST]
    parts = [c for c in chans if c.get("component") not in (WHOLE, REST, "psys")
             and (c.get("in_total", True) or whole)]
    components_j = sum(_j(c.get("energy_j")) for c in parts)
    if whole:
        whole_j = _j(whole[0].get("energy_j"))
        return {"used": "whole-machine", "channel": str(whole[0]["name"]), "whole_j": whole_j,
                "components_j": components_j, "rest_j": whole_j - components_j, "rest_method": "measured"}
    if rest:
        rest_j = sum(_j(c.get("energy_j")) for c in rest)
        return {"used": "modelled-rest", "channel": str(rest[0]["name"]), "whole_j": components_j + rest_j,
                "components_j": components_j, "rest_j": rest_j, "rest_method": "modelled",
                "rest_band": _j(rest[0].get("band"))}
    return None


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
