"""The rest of the platform, modelled, where no whole-machine sensor exists.

What RAPL, NVML and the RAM model do not see: the power supply's conversion
losses, and the fans, disks, network cards, board and BMC. Modelled as

    P_dc   = P_components + P_other
    P_wall = P_dc / efficiency(P_dc / P_psu_rated)
    rest   = P_wall − P_components

with ``efficiency`` the 80 PLUS curve of the chosen level (230 V internal
redundant supplies, the data-centre case), interpolated linearly between its
10/20/50/100 % load points and held flat outside them, and ``P_other`` a
constant. When the supply's rating is unknown the curve's 20 % point is used
(a redundant pair shares the load, so each supply of a server usually runs
at 10-40 %). Figures and their sources: ``SOURCES.md`` beside this module.

The model sensor is read *after* every other sensor in the same sampler read:
the sampler hands it its running totals (:meth:`PlatformModel.bind_totals`),
and it integrates the rest over the components' mean power since its last
read. Its cumulative joules never fall.

Band ±50 %: the constant for fans, disks and NICs is the weak part (a storage
node draws tens of watts more than a compute node), so the figure says the
size of the gap, not its exact value. Set ``platform_model_other_w`` to what
your machine's disks and NICs draw.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from wattprint.sensors.base import Availability, Channel, Kind, Method, Sensor
from wattprint.sensors.platform import REST

__all__ = ["BAND_MODEL", "EFFICIENCY", "PlatformModel", "efficiency", "rest_w"]

# 80 PLUS, 230 V internal redundant (data-centre) supplies: efficiency at 10, 20, 50, 100 % load.
# Bronze-Platinum have no 10 % requirement; their 20 % figure is held below it.
EFFICIENCY: dict[str, tuple[float, float, float, float]] = {
    "bronze": (0.81, 0.81, 0.85, 0.81),
    "silver": (0.85, 0.85, 0.89, 0.85),
    "gold": (0.88, 0.88, 0.92, 0.88),
    "platinum": (0.90, 0.90, 0.94, 0.91),
    "titanium": (0.90, 0.94, 0.96, 0.91),
}
_LOADS = (0.10, 0.20, 0.50, 1.00)
OTHER_W = 10.0  # fans, a few disks, NICs, board and BMC of a compute node at idle (SOURCES.md)
BAND_MODEL = 0.5


def efficiency(level: str, load: float | None) -> float:
    """The supply's efficiency at ``load`` (fraction of its rating; None: the 20 % point)."""
    pts = EFFICIENCY[level]
    if load is None:
        return pts[1]
    if load <= _LOADS[0]:
        return pts[0]
    for (l0, e0), (l1, e1) in zip(zip(_LOADS, pts), zip(_LOADS[1:], pts[1:])):
        if load <= l1:
            return e0 + (e1 - e0) * (load - l0) / (l1 - l0)
    return pts[-1]


def rest_w(components_w: float, level: str, other_w: float = OTHER_W, psu_w: float | None = None) -> float:
    """Modelled power of the rest of the platform (W) when the components draw ``components_w``."""
    dc = max(0.0, components_w) + other_w
    eff = efficiency(level, dc / psu_w if psu_w else None)
    return dc / eff - max(0.0, components_w)


class PlatformModel(Sensor):
    """``platform:rest-modelled``: cumulative joules of the modelled rest of the platform.

    ``watched`` are the channel names whose power drives the model (the counted
    components). ``clock`` gives monotonic nanoseconds.
    """

    def __init__(
        self,
        watched: list[str],
        *,
        level: str = "platinum",
        other_w: float = OTHER_W,
        psu_w: float | None = None,
        why: str = "",
        clock: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        super().__init__(name="platform-model")
        if level not in EFFICIENCY:
            raise ValueError(f"unknown 80 PLUS level {level!r}")
        self._watched = tuple(watched)
        self._level, self._other_w, self._psu_w = level, other_w, psu_w
        self.clock = clock  # the sampler's clock (tests hand both the same fake one)
        self._totals: Mapping[str, float] = {}
        self._last: tuple[int, float] | None = None  # (ns, Σ watched J) at the last read
        self._joules = 0.0
        rating = f"{psu_w:g} W supply" if psu_w else "supply rating unknown: its 20 % load point"
        self.channels = [Channel(
            "platform:rest-modelled", REST, Method.MODELLED, Kind.ENERGY, BAND_MODEL, True,
            f"modelled rest of the platform: 80 PLUS {level} supply losses ({rating}) + {other_w:g} W for "
            f"fans, disks, NICs and board{'; on because ' + why if why else ''}",
            0.0,
        )]

    def bind_totals(self, totals: Mapping[str, float]) -> None:
        """The sampler's running totals (J per channel), read after every other sensor."""
        self._totals = totals

    def read(self) -> dict[str, float]:
        now = self.clock()
        comp = sum(self._totals.get(n, 0.0) for n in self._watched)
        if self._last is not None and now > self._last[0]:
            dt = (now - self._last[0]) / 1e9
            mean_w = max(0.0, comp - self._last[1]) / dt
            self._joules += rest_w(mean_w, self._level, self._other_w, self._psu_w) * dt
        self._last = (now, comp)
        return {"platform:rest-modelled": self._joules}

    def describe(self) -> list[Availability]:
        c = self.channels[0]
        return [Availability("platform model", True, f"{c.method} (±{c.band:.0%}); {c.detail}")]
