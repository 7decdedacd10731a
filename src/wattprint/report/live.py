"""The live view: power per component, energy and emissions so far, while a run is going.

A refresher thread calls :meth:`wattprint.tracking.run.Run.current` (one fresh read of
the run's shared sampler, no second sampler) about once a second and turns
the change in cumulative energy into power: P = ΔE / Δt per component.

Three modes, all on a stream that is not the tracked command's stdout (stderr
by default), so the child's output stays clean:

* ``"live"``: a table redrawn in place with ``rich`` (a dependency, imported
  lazily). If rich is missing we fall back to ``"plain"`` and say
  once how to get the live view.
* ``"status"``: one status line pinned to the bottom row of the terminal, for
  when the tracked command writes to the same terminal. Redrawing a table in
  place there would erase the command's own lines, so the bottom row is taken
  out of the scrolling region (DECSTBM, as apt's progress bar does) and the
  command's output scrolls above it, untouched byte for byte.
* ``"plain"``: one line every ``progress_every_s`` seconds, for logs and CI.
* ``"off"``: nothing.

The thread never lets an exception reach the tracked work: a failing refresh
stops the view and leaves the run untouched.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any

from wattprint._threads import new_thread
from wattprint.report.escape import term_text
from wattprint.units import emissions_g, fmt_duration, fmt_energy, fmt_mass, fmt_power

MODES = ("live", "status", "plain", "off")
RICH_HINT = "the live view needs rich (a wattprint dependency): pip install rich; printing a line every {n:g} s instead"


@dataclass
class LiveState:
    """What the view shows at one refresh. Energy in joules, power in watts, grams CO2e."""

    elapsed_s: float
    energy_j: float
    emissions_g: float | None
    power_w: dict[str, float] = field(default_factory=dict)  # per component, since the last refresh
    energy_by_component_j: dict[str, float] = field(default_factory=dict)
    in_total: dict[str, bool] = field(default_factory=dict)
    location: str | None = None
    methods: list[str] = field(default_factory=list)  # behind the total, best first
    prediction: str | None = None  # the predicted totals (run.progress), in words

    @property
    def total_power_w(self) -> float:
        """Power of the components that count in the total."""
        return sum(w for c, w in self.power_w.items() if self.in_total.get(c, True))


def choose_mode(
    live: bool | None,
    quiet: bool,
    stream: IO[str],
    progress_every_s: float,
    *,
    output_fds: tuple[int, ...] = (),
) -> str:
    """``--live/--no-live`` (None: live only when ``stream`` is a terminal), ``--quiet`` wins.

    ``output_fds`` are the descriptors the tracked command writes to; when one
    of them is the view's own terminal, the view takes the bottom line only.
    """
    if quiet:
        return "off"
    if live is None:
        try:
            live = stream.isatty() and os.environ.get("TERM", "") != "dumb"
        except (AttributeError, ValueError):
            live = False
    if live:
        return "status" if _shares_terminal(stream, output_fds) else "live"
    return "plain" if progress_every_s > 0 else "off"


def _shares_terminal(stream: IO[str], fds: tuple[int, ...]) -> bool:
    try:
        mine = os.fstat(stream.fileno())
    except (AttributeError, ValueError, OSError):
        return False
    for fd in fds:
        try:
            if os.isatty(fd) and os.path.samestat(os.fstat(fd), mine):
                return True
        except OSError:
            continue
    return False


class StatusLine:
    """The bottom terminal row, kept out of the scrolling region while it is shown.

    Writes only standard VT100 sequences: save/restore cursor (ESC 7 / ESC 8),
    set scrolling region (CSI top;bottom r), cursor position and erase line.
    Each redraw is one ``write`` so it does not split the command's output.
    """

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.rows = 0

    def _size(self) -> tuple[int, int]:
        size = os.get_terminal_size(self.stream.fileno())
        return size.lines, size.columns

    def _emit(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()

    def open(self) -> None:
        rows, _ = self._size()
        # a fresh line to give up, then region = rows 1..rows-1; restore keeps the cursor inside it
        self._emit(f"\n\0337\033[1;{rows - 1}r\0338\033[1A")
        self.rows = rows

    def draw(self, text: str) -> None:
        rows, cols = self._size()
        prefix = ""
        if rows != self.rows:  # resized: move the reserved row to the new bottom
            prefix = f"\0337\033[1;{rows - 1}r\0338"
            self.rows = rows
        line = text if len(text) < cols else text[: max(0, cols - 2)] + "…"
        self._emit(f"{prefix}\0337\033[{rows};1H\033[2K\033[7m{line}\033[0m\0338")

    def close(self) -> None:
        rows = self.rows or self._size()[0]
        self._emit(f"\0337\033[r\033[{rows};1H\033[2K\0338")


def _rich_available() -> bool:
    try:
        import rich  # noqa: F401
    except ImportError:
        return False
    return True


class LiveView:
    """Shows a running :class:`~wattprint.tracking.run.Run` until :meth:`stop`.

    ``intensity`` is a callable returning the resolved
    :class:`~wattprint.intensity.base.Intensity` once known (the tracker
    resolves it in the background), so emissions appear as soon as they can.
    ``force_terminal`` draws the live table even when the stream is not a
    terminal (an explicit ``--live``).
    """

    def __init__(
        self,
        run: Any,
        *,
        mode: str = "plain",
        stream: IO[str] | None = None,
        refresh_s: float = 1.0,
        progress_every_s: float = 30.0,
        intensity: Callable[[], Any] | None = None,
        force_terminal: bool = False,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"live view mode must be one of {', '.join(MODES)}, got {mode!r}")
        self.run = run
        self.stream = stream if stream is not None else sys.stderr
        self.refresh_s = max(0.05, float(refresh_s))
        self.progress_every_s = float(progress_every_s)
        self.intensity = intensity
        self.force_terminal = force_terminal
        if mode == "live" and not _rich_available():
            self._write(RICH_HINT.format(n=self.progress_every_s))
            mode = "plain" if self.progress_every_s > 0 else "off"
        self.mode = mode
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._prev: tuple[float, dict[str, float]] | None = None
        self._last_line = 0.0
        self._live: Any = None
        self._status: StatusLine | None = None
        self.error: BaseException | None = None

    # -- sampling (public so it can be tested without a thread) --

    def sample(self) -> LiveState:
        """Read the run's totals now and work out power since the previous sample."""
        m = self.run.current()
        by_comp: dict[str, float] = {}
        in_total: dict[str, bool] = {}
        for c in m.channels.values():
            by_comp[c.component] = by_comp.get(c.component, 0.0) + c.energy_j
            in_total[c.component] = in_total.get(c.component, True) and bool(c.in_total)
        power: dict[str, float] = {}
        if self._prev is not None:
            t0, e0 = self._prev
            dt = m.duration_s - t0
            if dt > 0:
                power = {k: max(0.0, v - e0.get(k, 0.0)) / dt for k, v in by_comp.items()}
            else:
                power = dict.fromkeys(by_comp, 0.0)
        elif m.duration_s > 0:
            power = {k: v / m.duration_s for k, v in by_comp.items()}
        self._prev = (m.duration_s, by_comp)
        grams: float | None = None
        location = None
        it = getattr(m, "intensity", None)
        if it is None and self.intensity is not None:
            try:
                it = self.intensity()
            except Exception:
                it = None
        if it is not None:
            grams = emissions_g(m.energy_j, it.g_per_kwh, it.pue)
            location = it.location
        return LiveState(
            elapsed_s=m.duration_s,
            energy_j=m.energy_j,
            emissions_g=grams,
            power_w=power,
            energy_by_component_j=by_comp,
            in_total=in_total,
            location=location,
            methods=m.methods,
            prediction=self._prediction(),
        )

    def _prediction(self) -> str | None:
        """The run's predicted totals from its progress, in words (None: none yet)."""
        predicted = getattr(self.run, "prediction", None)
        p = predicted() if predicted is not None else None
        if p is None:
            return None
        from wattprint.report.foresight import prediction_text

        return "total " + prediction_text(p.to_dict())

    # -- rendering --

    @staticmethod
    def line(state: LiveState) -> str:
        """The plain one-line form: ``wattprint: 1m30.0s  gpu 650 W  cpu 80 W | 12.3 kJ  1.2 g CO2e``."""
        parts = [f"wattprint: {fmt_duration(state.elapsed_s)}"]
        for comp, w in state.power_w.items():
            parts.append(f"{term_text(comp)} {fmt_power(w)}")
        tail = f"| {fmt_power(state.total_power_w)}  {fmt_energy(state.energy_j)}"
        if state.emissions_g is not None:
            tail += f"  {fmt_mass(state.emissions_g)} CO2e"
        if state.methods:
            tail += f"  [{term_text('+'.join(state.methods))}]"
        if state.prediction:
            tail += f"  | {state.prediction}"
        return "  ".join(parts) + "  " + tail

    @staticmethod
    def table(state: LiveState, title: str = "wattprint") -> Any:
        """A rich renderable of the state (rich is imported here, lazily).

        User text goes in as :class:`rich.text.Text`, never as a string, so rich
        markup in a name (``[link=…]``, ``[red]``) is shown, not obeyed.
        """
        from rich.table import Table
        from rich.text import Text

        heading = Text(f"{term_text(title)} · {fmt_duration(state.elapsed_s)}", style="table.title")
        t = Table(title=heading, title_justify="left", expand=False)
        t.add_column("component")
        t.add_column("power", justify="right")
        t.add_column("energy", justify="right")
        for comp, e in state.energy_by_component_j.items():
            name = term_text(comp) if state.in_total.get(comp, True) else f"{term_text(comp)} (not summed)"
            t.add_row(Text(name), fmt_power(state.power_w.get(comp, 0.0)), fmt_energy(e))
        grams = "resolving grid…" if state.emissions_g is None else f"{fmt_mass(state.emissions_g)} CO2e"
        where = f" ({term_text(state.location)})" if state.location else ""
        t.add_row("total", fmt_power(state.total_power_w), fmt_energy(state.energy_j), style="bold")
        how = f" · {term_text(', '.join(state.methods))}" if state.methods else ""
        ahead = f"\n{state.prediction}" if state.prediction else ""
        t.caption = Text(f"{grams}{where}{how}{ahead}", style="table.caption")
        return t

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text + "\n")
            self.stream.flush()
        except (OSError, ValueError):
            pass

    # -- the thread --

    def start(self) -> LiveView:
        """Begin refreshing (no-op in ``"off"`` mode)."""
        if self.mode == "off" or self._thread is not None:
            return self
        self._last_line = time.monotonic()
        if self.mode == "status":
            self._status = StatusLine(self.stream)
            self._status.open()
        if self.mode == "live":
            from rich.console import Console
            from rich.live import Live

            console = Console(file=self.stream, force_terminal=True if self.force_terminal else None)
            self._live = Live(
                console=console, auto_refresh=False, transient=True, redirect_stdout=False, redirect_stderr=False
            )
            self._live.start()
        self._thread = new_thread(self._loop, "wattprint-live")
        self._thread.start()
        return self

    def _redraw(self, title: str) -> None:
        """One refresh of the table (``live``) or the bottom line (``status``)."""
        if self._live is not None:
            self._live.update(self.table(self.sample(), f"wattprint: {title[:40]}"), refresh=True)
        elif self._status is not None:
            self._status.draw(self.line(self.sample()))

    def _loop(self) -> None:
        title = term_text(getattr(self.run, "name", "wattprint"))
        drawn = self.mode in ("live", "status")
        try:
            if drawn:  # draw at once, so the view shows up even for short commands
                self._redraw(title)
            while not self._stop.wait(self.refresh_s):
                if drawn:
                    self._redraw(title)
                elif time.monotonic() - self._last_line >= self.progress_every_s:
                    # sampled only when a line is due, so its power is the mean over the period
                    self._last_line = time.monotonic()
                    self._write(self.line(self.sample()))
        except Exception as exc:  # never disturb the tracked work
            self.error = exc

    def stop(self) -> None:
        """Stop refreshing and clear the live table (the final summary replaces it)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None
        if self._live is not None:
            try:
                self._live.stop()
            except Exception:  # noqa: S110 - display teardown is best effort
                pass
            self._live = None
        if self._status is not None:
            try:
                self._status.close()
            except Exception:  # noqa: S110 - display teardown is best effort
                pass
            self._status = None

    def __enter__(self) -> LiveView:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
