"""Sinks: everything that receives a run's life (see :mod:`wattprint.sinks.base`).

``base`` (the :class:`Sink` base class and the tracker's dispatcher),
``store`` (SQLite, written on a thread of its own), ``live`` (the live view)
and ``jsonfile`` (``--json FILE``). Only ``base`` is imported here; the others
load when used.
"""

from __future__ import annotations

from wattprint.sinks.base import Sink

__all__ = ["Sink"]
