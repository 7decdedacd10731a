"""The live view as a sink: shown from ``started`` until ``finished``.

The view itself (:class:`wattprint.report.live.LiveView`: the rich table, the
status line, progress lines) keeps its own refresher thread, which reads the
run's shared sampler about once a second; this sink only starts and stops it
with the run, so no hook does any drawing on the sampler thread. ``stop()``
ends the view early (the CLI does, the moment the command exits, so the
summary replaces the view at once); it is safe to call twice.
"""

from __future__ import annotations

from wattprint.sinks.base import Sink

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO, Any

    from wattprint.tracking.run import Run


class LiveSink(Sink):
    """Drives a :class:`~wattprint.report.live.LiveView` for the run's lifetime.

    ``mode``, ``stream``, ``progress_every_s`` and ``force_terminal`` go to the
    view (see :func:`wattprint.report.live.choose_mode` for the mode).
    """

    name = "live"

    def __init__(
        self,
        *,
        mode: str = "plain",
        stream: IO[str] | None = None,
        progress_every_s: float = 30.0,
        force_terminal: bool = False,
        refresh_s: float = 1.0,
    ) -> None:
        self.options: dict[str, Any] = dict(
            mode=mode, stream=stream, progress_every_s=progress_every_s,
            force_terminal=force_terminal, refresh_s=refresh_s,
        )
        self.view: Any = None

    def started(self, run: Run) -> None:
        from wattprint.report.live import LiveView

        # the tracker resolves the intensity in the background: read it at each refresh
        self.view = LiveView(run, intensity=lambda: run.intensity, **self.options).start()

    def finished(self, run: Run) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop refreshing and clear the view (idempotent)."""
        view, self.view = self.view, None
        if view is not None:
            view.stop()

    def close(self) -> None:
        self.stop()
