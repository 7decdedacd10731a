"""What every run store offers: the one interface the sinks, the CLI and the reports use.

Two stores implement it: :class:`~wattprint.store.sqlite.SqliteStore` (one
person's file, the default) and :class:`~wattprint.store.postgres.PostgresStore`
(a team's or a cluster's server). Both are built on
:class:`~wattprint.store.sql.SqlStore`, so they write and read the same rows
with the same code; :func:`wattprint.store.open.open_store` picks one from a
path or a URL. Callers hold a :class:`Store` and never ask which it is.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Protocol

TYPE_CHECKING = False
if TYPE_CHECKING:
    from wattprint.tracking.measure import Interval
    from wattprint.tracking.record import RunHeader, RunRecord


class Store(Protocol):
    """A run store. ``path`` names it in messages (a file path, or a URL with its password masked)."""

    path: Any
    readonly: bool

    # -- writing (the store sink; one transaction per call) --

    def save_progress(self, header: Mapping[str, Any], rows: Iterable[Interval] = (),
                      windows: Iterable[Mapping[str, Any]] = ()) -> None:
        """A running run's header, and the timeline rows and windows new since the last write."""

    def save_final(self, header: Mapping[str, Any], rows: Iterable[Interval] = (),
                   windows: Iterable[Mapping[str, Any]] = (),
                   repriced: Iterable[tuple[int, Mapping[str, Any]]] = ()) -> None:
        """The finished run's header, its last rows and windows, and re-priced earlier windows."""

    def import_run(self, run: Mapping[str, Any], rows: Iterable[Interval]) -> None:
        """Replace the run ``run["id"]`` with ``run`` (a stored record) and its timeline ``rows``,
        in one transaction (``wattprint db copy``)."""

    def save_baseline(self, baseline: Any) -> None:
        """Record an idle baseline (:class:`~wattprint.tracking.baseline.Baseline`) for its host."""

    # -- reading --

    def list_runs(self, limit: int | None = None, *, project: str | None = None,
                  owner: str | None = None) -> list[RunHeader]:
        """Run headers, newest first, optionally only one project's or one owner's."""
        ...

    def list_job_runs(self, job_id: str) -> list[RunHeader]:
        """Every run of one distributed job: its ranks' partial runs and the merged view."""
        ...

    def resolve_id(self, ref: str) -> str:
        """A full run id from an id, a unique prefix, or ``last``."""
        ...

    def get_run(self, ref: str, *, timeline: bool = True, max_rows: int | None = None,
                windows: bool = True) -> RunRecord:
        """The whole run record (see :meth:`SqlStore.get_run <wattprint.store.sql.SqlStore.get_run>`)."""
        ...

    def count_intervals(self, run_id: str) -> int:
        """Timeline intervals stored for the run ``run_id``."""
        ...

    def iter_timeline(self, run_id: str, batch: int = 256) -> Iterator[Interval]:
        """The run's timeline intervals in order, a few chunks at a time."""
        ...

    def latest_baseline(self, host: str, max_age_s: float) -> Any:
        """The newest baseline of ``host`` younger than ``max_age_s`` seconds, or None."""

    def list_baselines(self) -> list[Any]:
        """Every stored baseline, oldest first."""
        ...

    def close(self) -> None:
        """Release the connection."""
