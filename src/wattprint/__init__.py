"""wattprint: energy and CO2e of AI/ML work, measured where the hardware allows.

Public API (loaded on first use, so ``import wattprint`` stays cheap)::

    with wattprint.track("train", country="FR") as run:
        with run.window("epoch-1"):
            ...
    print(run.energy_kwh, run.emissions_g)

    @wattprint.track
    def step(): ...

    t = wattprint.Tracker(interval=0.5); t.start(); ...; run = t.stop()
"""

from __future__ import annotations

TYPE_CHECKING = False  # importing ``typing`` would cost more than the rest of wattprint

__version__ = "0.1.0"
__all__ = ["Run", "Tracker", "Window", "WattprintWarning", "active_run", "track", "__version__"]

if TYPE_CHECKING:
    from wattprint.run import Run, Window
    from wattprint.tracker import Tracker, WattprintWarning, active_run, track


def __getattr__(name: str) -> object:
    if name in ("Run", "Window"):
        from wattprint import run

        return getattr(run, name)
    if name in __all__ and name != "__version__":
        from wattprint import tracker

        return getattr(tracker, name)
    raise AttributeError(f"module 'wattprint' has no attribute {name!r}")
