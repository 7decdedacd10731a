"""``track()``: a block or a function tracked as a run, or as a window of the enclosing run.

The context-manager and decorator form over :class:`~wattprint.tracking.tracker.Tracker`,
and :func:`active_run` for code that wants the run it is inside.
"""

from __future__ import annotations

import contextvars
import functools

from wattprint.tracking.tracker import Tracker

TYPE_CHECKING = False  # not from typing: see tracker.py
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TypeVar

    from wattprint.tracking.run import Run

    F = TypeVar("F", bound=Callable[..., Any])


_current_run: contextvars.ContextVar[Run | None] = contextvars.ContextVar(
    "wattprint_run", default=None
)


class _Track:
    def __init__(self, name: str | None, kwargs: dict[str, Any]) -> None:
        self.name = name
        self.kwargs = kwargs
        self._stack: list[tuple[Tracker, contextvars.Token[Run | None]]] = []

    def __enter__(self) -> Run:
        tracker = Tracker(self.name, **self.kwargs)
        run = tracker.start()
        self._stack.append((tracker, _current_run.set(run)))
        return run

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        tracker, token = self._stack.pop()
        _current_run.reset(token)
        tracker.__exit__(exc_type, exc, tb)

    def __call__(self, func: F) -> F:
        name = self.name or func.__qualname__

        @functools.wraps(func)
        def wrapper(*args: Any, **kw: Any) -> Any:
            outer = _current_run.get()
            if outer is not None and outer.status == "running":
                with outer.window(name) as window:
                    wrapper.last = window  # type: ignore[attr-defined]
                    return func(*args, **kw)
            with _Track(name, self.kwargs) as run:
                wrapper.last = run  # type: ignore[attr-defined]
                return func(*args, **kw)

        wrapper.last = None  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]


def track(name: Any = None, **kwargs: Any) -> Any:
    """Track a block or a function.

    ``with track("train", interval=0.5) as run: ...``; ``@track`` or
    ``@track("step")`` on a function: each call is a window of the enclosing
    tracked run if there is one, otherwise a run of its own; ``fn.last`` is
    that window or run for the latest call (None before the first; live
    figures while the call runs; with calls from several threads, whichever
    started last). Keyword
    arguments are :class:`Tracker`'s; labels go in ``tags={...}``. An unknown
    keyword raises :class:`~wattprint.errors.ConfigError` naming the nearest
    known one; CodeCarbon's names are read as ours, with a warning.

    Processes: the run is stored on SIGTERM/SIGHUP and at exit. After
    ``os.fork()`` inside the block, the run belongs to the parent: its figures
    are the whole machine's, so they include what the child does, and only the
    parent stores it. In the child the run is detached: windows still read the
    machine's counters, but nothing is stored, and the child leaving the block
    or exiting does not stop the parent's run. A ``track(...)`` started in the
    child is a run of its own.
    """
    if callable(name):
        return _Track(None, {})(name)
    from wattprint.settings import check_keywords

    opts = check_keywords(kwargs, "track()")
    keyword_name = opts.pop("name", None)  # e.g. CodeCarbon's project_name=
    if name is None and keyword_name is not None:
        name = str(keyword_name)
    return _Track(name, opts)


def active_run() -> Run | None:
    """The run tracked by the innermost ``with track(...)`` in this context, if any."""
    return _current_run.get()
