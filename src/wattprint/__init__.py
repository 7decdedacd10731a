"""wattprint: energy and CO2e of AI/ML work, measured where the hardware allows.

Public API (loaded on first use, so ``import wattprint`` stays cheap)::

    with wattprint.track("train", country="FR") as run:
        with run.window("epoch-1"):
            ...
    print(run.energy_kwh, run.emissions_g)

    @wattprint.track
    def step(): ...

    t = wattprint.Tracker(interval=0.5); t.start(); ...; run = t.stop()

In IPython or Jupyter, ``%load_ext wattprint`` adds the ``%%wattprint`` cell
magic (see :mod:`wattprint.integrations.jupyter`).

Every exception wattprint raises on purpose derives from :class:`WattprintError`
(see :mod:`wattprint.errors`).
"""

from __future__ import annotations

from wattprint.errors import (
    BaselineMissing,
    BudgetExceeded,
    ConfigError,
    LocationError,
    ReportError,
    SensorError,
    StoreError,
    WattprintError,
    WattprintWarning,
)
from wattprint.version import __version__

TYPE_CHECKING = False  # importing ``typing`` would cost more than the rest of wattprint

__all__ = [
    "BaselineMissing",
    "BudgetExceeded",
    "ConfigError",
    "LocationError",
    "ReportError",
    "Run",
    "SensorError",
    "StoreError",
    "Tracker",
    "WattprintError",
    "WattprintWarning",
    "Window",
    "__version__",
    "active_run",
    "handle_signals",
    "track",
]

if TYPE_CHECKING:
    from wattprint.tracking.endings import handle_signals
    from wattprint.tracking.run import Run, Window
    from wattprint.tracking.track import active_run, track
    from wattprint.tracking.tracker import Tracker

_LAZY = {"Run": "run", "Window": "run", "Tracker": "tracker", "active_run": "track", "track": "track",
         "handle_signals": "endings"}


def load_ipython_extension(ipython: object) -> None:
    """``%load_ext wattprint``: the ``%%wattprint`` and ``%wattprint`` magics (needs IPython)."""
    from wattprint.integrations.jupyter import load_ipython_extension as load

    load(ipython)


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'wattprint' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"wattprint.tracking.{module}"), name)
