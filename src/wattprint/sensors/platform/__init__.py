"""Whole-machine power: hwmon meters, IPMI DCMI, Redfish, and the modelled rest of the platform.

RAPL sees CPU packages and DRAM, NVML a GPU board; neither sees the power
supply's losses, fans, disks, network cards or the BMC. The sensors here read
the machine as a whole (component ``platform``). Each opens with
``in_total=False``, like RAPL's ``psys``: a whole-machine figure is never
*added* to the component channels it contains. :func:`elect` then makes
exactly one of them the run's total: that channel counts, and every other
channel (the components, and any second whole-machine reading) is marked as
inside it. So every sum the engine, the store and the reports take over
``in_total`` channels gives the whole-machine figure, and the components stay
visible beside it; their difference is the *rest of the platform*.

Without a whole-machine sensor, :mod:`.model` can add a modelled rest of the
platform (component ``platform-rest``, method ``modelled``) on top of the
components, on data-centre hosts by default.
"""

from __future__ import annotations

from wattprint.sensors.base import Availability, Channel, Sensor

WHOLE = "platform"  # the component of a whole-machine channel
REST = "platform-rest"  # the component of the modelled rest of the platform

__all__ = ["REST", "WHOLE", "elect"]


def _with(c: Channel, in_total: bool, note: str) -> Channel:
    detail = f"{c.detail}; {note}" if c.detail else note
    return Channel(c.name, c.component, c.method, c.kind, c.band, in_total, detail, c.update_s, c.device)


def elect(sensors: list[Sensor]) -> list[Availability]:
    """Make the first whole-machine channel the run's total; mark every other channel inside it.

    Sensors are changed in place (their ``channels`` lists). Returns one doctor
    line saying which figure the run's energy uses; none when no whole-machine
    channel was opened (then nothing changes).
    """
    chosen = next((c for s in sensors for c in s.channels if c.component == WHOLE), None)
    if chosen is None:
        return []
    inside = f"inside the whole-machine figure {chosen.name}: shown, not added"
    for s in sensors:
        s.channels = [
            _with(c, True, "the run's total (whole machine)") if c is chosen
            else c if not c.in_total and c.component != WHOLE
            else _with(c, False, inside if c.component != WHOLE else f"second whole-machine reading; {inside}")
            for c in s.channels
        ]
    return [
        Availability(
            "platform", True,
            f"the run's energy is the whole-machine figure {chosen.name}; component channels are shown "
            "inside it and their difference is the rest of the platform",
        )
    ]
