"""Every exception and warning wattprint raises, under one root.

``except wattprint.WattprintError`` catches anything wattprint raises on
purpose. Each class says what the user did (or what the machine lacks) and
the message says how to fix it, in one line. Errors that are also a bad value
derive from :class:`ValueError` too, so code written before this module keeps
working.

This module sits at the bottom of the package: it imports nothing, and every
layer may import it.
"""

from __future__ import annotations


class WattprintError(Exception):
    """The root of every error wattprint raises on purpose."""


class WattprintWarning(UserWarning):
    """A fallback or fault the user should know about (shown once per cause)."""


class ConfigError(WattprintError, ValueError):
    """A setting (argument, flag, environment variable or config file) is unknown or out of range."""


class LocationError(WattprintError, ValueError):
    """A location the user gave is not known; the message lists what is."""


class SensorError(WattprintError):
    """A sensor cannot be opened; the message says why and ``fix`` how to fix it."""

    def __init__(self, message: str, fix: str = "") -> None:
        super().__init__(message)
        self.fix = fix


class StoreError(WattprintError):
    """The database cannot be opened or written, or a run cannot be found; the message says which."""


class BaselineMissing(WattprintError, LookupError):
    """``baseline="stored"`` but no fresh enough baseline is stored for this host."""


class ReportError(WattprintError, ValueError):
    """A report cannot be built as asked (bad functional unit, embodied figure, damaged run file)."""


class BudgetExceeded(WattprintError):
    """A run went over its energy or CO2e budget (``budget_kwh`` / ``budget_g`` with
    ``budget_action="stop"``). Raised in the tracked program's own thread, at its next
    ``run.window(...)``, ``run.progress(...)`` or ``run.check_budget()`` after the crossing;
    never from a background thread. ``record`` is the budget as the run records it."""

    def __init__(self, message: str, record: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.record = record or {}


__all__ = [
    "BaselineMissing",
    "BudgetExceeded",
    "ConfigError",
    "LocationError",
    "ReportError",
    "SensorError",
    "StoreError",
    "WattprintError",
    "WattprintWarning",
]
