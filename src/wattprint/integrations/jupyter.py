"""Jupyter and IPython: ``%load_ext wattprint``, the ``%%wattprint`` cell magic and ``%wattprint``.

``%%wattprint [NAME] [options]`` on the first line of a cell tracks the cell:
a run of its own, or a window of the notebook's run when ``%wattprint start``
opened one. A small table under the cell shows its figures, updated while
the cell runs (an IPython display handle, refreshed every ``--refresh``
seconds; HTML, never terminal escape codes) and final when it ends. The
cell's span (run or window) is ``wattprint_span`` in the namespace, set before
the cell runs, so the cell can count its work: ``wattprint_span.step(tokens=n)``.

``%wattprint start [NAME] [options]`` starts a run that spans cells (each
``%%wattprint`` cell is then a window of it), left in the namespace as
``wattprint_run``; ``%wattprint status`` shows it (live figures);
``%wattprint stop`` ends and stores it and shows the result.

Options: ``--country CC``, ``--region R``, ``--pue X``, ``--interval S``,
``--db PATH``, ``--no-store``, ``--refresh S`` (0: no live updates),
``--quiet`` (show nothing). Bad options are one line (``UsageError``).

Requires IPython (``pip install 'wattprint[jupyter]'``).
"""

from __future__ import annotations

import argparse
import shlex
import threading
from typing import Any

from wattprint._threads import new_thread
from wattprint.errors import WattprintError
from wattprint.integrations._common import missing
from wattprint.tracking.tracker import Tracker

try:
    from IPython.core.error import UsageError
    from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
    from IPython.display import display
except ImportError as exc:
    raise missing("ipython", "jupyter", exc) from None

__all__ = ["WattprintMagics", "load_ipython_extension"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # one line, no usage dump, no SystemExit
        raise UsageError(f"%wattprint: {message}")


def _parser(prog: str, actions: bool) -> _Parser:
    p = _Parser(prog=prog, add_help=False)
    if actions:
        p.add_argument("action", nargs="?", default="status", choices=("start", "stop", "status"))
    p.add_argument("name", nargs="?")
    p.add_argument("--country")
    p.add_argument("--region")
    p.add_argument("--pue", type=float)
    p.add_argument("--interval", type=float)
    p.add_argument("--db")
    p.add_argument("--no-store", action="store_true")
    p.add_argument("--refresh", type=float, default=1.0)
    p.add_argument("--quiet", action="store_true")
    return p


def _tracker_kwargs(ns: argparse.Namespace) -> dict[str, Any]:
    kw: dict[str, Any] = {k: getattr(ns, k) for k in ("country", "region", "pue", "interval")
                          if getattr(ns, k) is not None}
    if ns.no_store:
        kw["store"] = False
    elif ns.db:
        kw["store"] = ns.db
    return kw


class _LiveView:
    """A display under the cell, refreshed from a thread while the span runs, final at the end."""

    def __init__(self, span: Any, refresh_s: float, quiet: bool) -> None:
        self.span = span
        self.handle = None if quiet else display(span, display_id=True)
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        if self.handle is not None and refresh_s > 0:
            self._thread = new_thread(self._loop, "wattprint-notebook", (refresh_s,))
            self._thread.start()

    def _loop(self, refresh_s: float) -> None:
        while not self._done.wait(refresh_s):
            try:
                self.handle.update(self.span)  # type: ignore[union-attr]
            except Exception:  # the view is extra: a failed refresh leaves the last one shown
                return

    def finish(self, span: Any) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        if self.handle is not None:
            self.handle.update(span)


@magics_class
class WattprintMagics(Magics):
    """The ``%wattprint`` line magic and the ``%%wattprint`` cell magic."""

    def __init__(self, shell: Any) -> None:
        super().__init__(shell)
        self.tracker: Tracker | None = None  # the notebook's run, between start and stop
        self.cells = 0

    def _new_tracker(self, name: str, ns: argparse.Namespace) -> Tracker:
        try:
            return Tracker(name, **_tracker_kwargs(ns), tags={"framework": "jupyter"})
        except WattprintError as exc:
            raise UsageError(f"%wattprint: {exc}") from None

    @line_magic("wattprint")
    def wattprint_line(self, line: str) -> Any:
        """``%wattprint start [NAME] [options] | stop | status``: a run across cells."""
        ns = _parser("%wattprint", actions=True).parse_args(shlex.split(line))
        run = self.tracker.run if self.tracker is not None else None
        if ns.action == "start":
            if run is not None and run.status == "running":
                raise UsageError("%wattprint: a run is already going; '%wattprint stop' ends it")
            self.tracker = self._new_tracker(ns.name or "notebook", ns)
            run = self.tracker.start()
        elif ns.action == "stop":
            if self.tracker is None or run is None or run.status != "running":
                raise UsageError("%wattprint: no run to stop; '%wattprint start' begins one")
            run = self.tracker.stop()
        elif run is None:
            raise UsageError("%wattprint: no run yet; '%wattprint start' begins one")
        if not ns.quiet:
            display(run)
        self.shell.user_ns["wattprint_run"] = run

    @cell_magic("wattprint")
    def wattprint_cell(self, line: str, cell: str) -> None:
        """``%%wattprint [NAME] [options]``: track this cell (a window of the notebook's run if one is going)."""
        ns = _parser("%%wattprint", actions=False).parse_args(shlex.split(line))
        self.cells += 1
        name = ns.name or f"cell-{self.cells}"
        outer = self.tracker.run if self.tracker is not None else None
        tracker = None
        if outer is not None and outer.status == "running":
            span: Any = outer.open_window(name)
        else:
            tracker = self._new_tracker(name, ns)
            span = tracker.start()
        self.shell.user_ns["wattprint_span"] = span
        view = _LiveView(span, ns.refresh, ns.quiet)
        failed = True
        try:
            result = self.shell.run_cell(cell, store_history=False)
            failed = not result.success
        finally:
            if tracker is not None:
                span = tracker.stop(status="failed" if failed else None)
            else:
                span.close()
            view.finish(span)
            self.shell.user_ns["wattprint_span"] = span


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext wattprint`` (or ``wattprint.integrations.jupyter``): register the magics."""
    ipython.register_magics(WattprintMagics)
