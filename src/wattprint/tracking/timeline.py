"""A run's timeline in bounded memory: recent rows as sampled, older rows merged.

A week at one interval a second is 604,800 rows; kept as sampled they would
hold hundreds of megabytes. :class:`Timeline` keeps the newest rows at full
resolution (every sink sees each of them as it closes, and the store keeps
them all) and merges older ones into coarser rows, so its size stays bounded
whatever the run's length. Merging is exact for everything the run computes
from its timeline:

* energy per channel is summed, so totals never change;
* two rows merge only when they are contiguous (the second starts where the
  first ends), so the time the timeline covers (``coverage_s``) never changes;
* rows merge only within one UTC hour (both lie wholly inside the same hour; a
  sampled row across an hour boundary is kept as it is), so hourly carbon
  intensity prices a merged row exactly as it priced its parts (sub-hour live
  values price a merged row by time overlap: power is taken as steady within it).

The coarse part doubles its row length whenever it grows past its budget;
since rows never cross an hour, a run keeps at least one row per hour (a year
is 8,760 rows). :meth:`Timeline.since` gives the rows appended since a count
(the sinks' delivery), :attr:`Timeline.appended` how many were ever appended.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from wattprint.tracking.measure import Interval

KEEP_RECENT = 1024  # rows kept as sampled (at least this many, at most twice)
COARSE_ROWS = 2048  # merged rows before their length doubles
FIRST_MERGE = 16  # the first coarse rows hold about this many sampled intervals


def _span_hour(w0: float, w1: float) -> int:
    """The UTC hour holding all of ``[w0, w1)``, or -1 when it crosses an hour boundary."""
    h = int(w0 // 3600)
    return h if w1 <= (h + 1) * 3600.0 else -1


def _hour(iv: Interval) -> int:
    return _span_hour(iv.wall0, iv.wall0 + (iv.t1_s - iv.t0_s))


def can_merge(a: Interval, b: Interval, max_s: float) -> bool:
    """True when ``b`` follows ``a`` without a gap, both lie within the same UTC hour,
    and the merged row would last at most ``max_s`` seconds."""
    if b.t0_s != a.t1_s or b.t1_s - a.t0_s > max_s:
        return False
    h = _hour(a)
    return h >= 0 and _hour(b) == h


def merged(a: Interval, b: Interval) -> Interval:
    """The row covering ``a`` then ``b``: energies summed per channel."""
    energy = dict(a.energy_j)
    for n, e in b.energy_j.items():
        energy[n] = energy.get(n, 0.0) + e
    return Interval(a.t0_s, b.t1_s, a.wall0, energy)


def coarsen(rows: Iterable[Interval], max_s: float) -> list[Interval]:
    """Merge consecutive ``rows`` into rows of at most ``max_s`` seconds (see :func:`can_merge`)."""
    out: list[Interval] = []
    for iv in rows:
        if out and can_merge(out[-1], iv, max_s):
            out[-1] = merged(out[-1], iv)
        else:
            out.append(iv)
    return out


def downsample(rows: Iterable[Interval], max_rows: int, span_s: float) -> tuple[list[Interval], int]:
    """At most about ``max_rows`` rows (never fewer than one per UTC hour) from a stream of
    rows covering about ``span_s`` seconds, holding only the output; also the count read.

    The rules of :func:`can_merge`, spelt out inline: this runs once per stored row
    (600 k for a week at 1 s), so the row being built is summed into in place.
    """
    max_rows = max(1, max_rows)
    max_s = max(span_s / max_rows, 1e-9)
    out: list[Interval] = []
    cur: Interval | None = None
    hour = 0
    count = 0
    for iv in rows:
        count += 1
        t0, t1, w0 = iv.t0_s, iv.t1_s, iv.wall0
        h = _span_hour(w0, w0 + (t1 - t0))
        if cur is not None and t0 == cur.t1_s and t1 - cur.t0_s <= max_s and h == hour >= 0:
            cur.t1_s = t1
            sums = cur.energy_j
            for n, e in iv.energy_j.items():
                sums[n] = sums.get(n, 0.0) + e
            continue
        cur, hour = Interval(t0, t1, w0, dict(iv.energy_j)), h
        out.append(cur)
        if len(out) > 2 * max_rows:
            max_s *= 2
            out = coarsen(out, max_s)
            cur = out[-1] = Interval(out[-1].t0_s, out[-1].t1_s, out[-1].wall0, dict(out[-1].energy_j))
            hour = _hour(cur)
    return out, count


class Timeline:
    """The rows of a run's timeline, bounded in number (see the module's docstring).

    Iterating gives every row held, oldest first: the merged ones, then the
    recent ones as sampled. ``keep_recent``: rows kept as sampled;
    ``coarse_rows``: merged rows before their length doubles; ``first_s``:
    the first merged rows' length (the caller knows the sampling interval).
    """

    def __init__(self, *, keep_recent: int = KEEP_RECENT, coarse_rows: int = COARSE_ROWS,
                 first_s: float = float(FIRST_MERGE)) -> None:
        self.keep_recent = keep_recent
        self.coarse_rows = coarse_rows
        self.merge_s = first_s  # longest merged row so far allowed
        # (merged rows, recent rows), replaced as one tuple so a reader on another thread
        # (the store's writer, to_dict) never sees a row in both or in neither
        self._parts: tuple[list[Interval], list[Interval]] = ([], [])
        self._cap = coarse_rows
        self.appended = 0  # rows ever appended
        self.merged_rows = 0  # of which now inside a merged row

    def append(self, iv: Interval) -> None:
        """Add the newest row (one list append; merging happens once per ``keep_recent`` rows)."""
        recent = self._parts[1]
        recent.append(iv)
        self.appended += 1
        if len(recent) > 2 * self.keep_recent:
            self._spill(len(recent) - self.keep_recent)

    def _spill(self, n: int) -> None:
        old_coarse, recent = self._parts
        coarse = list(old_coarse)
        for iv in recent[:n]:
            if coarse and can_merge(coarse[-1], iv, self.merge_s):
                coarse[-1] = merged(coarse[-1], iv)
            else:
                coarse.append(iv)
        while len(coarse) > self._cap:
            self.merge_s *= 2
            coarse = coarsen(coarse, self.merge_s)
            if len(coarse) > self._cap // 2:  # mostly whole hours now: let it grow a little
                self._cap = max(self._cap, 2 * len(coarse))
        self._parts = (coarse, recent[n:])
        self.merged_rows += n

    def since(self, count: int) -> list[Interval]:
        """The rows appended after the first ``count`` (those still at full resolution)."""
        recent = self._parts[1]
        first = self.appended - len(recent)  # index of the oldest row held as sampled
        return recent[max(0, count - first):]

    def until(self, t1_s: float) -> list[Interval]:
        """The rows held that end by ``t1_s`` (seconds since the run's start): a prefix of the
        timeline, as written up to that instant (less a merged row that straddles it)."""
        return [iv for iv in self if iv.t1_s <= t1_s]

    @property
    def summarised(self) -> bool:
        """True once some rows are held merged (the timeline is no longer row per interval)."""
        return self.merged_rows > 0

    def __len__(self) -> int:
        coarse, recent = self._parts
        return len(coarse) + len(recent)

    def __iter__(self) -> Iterator[Interval]:
        coarse, recent = self._parts
        return iter([*coarse, *recent])

    def __getitem__(self, index: int | slice) -> Interval | list[Interval]:
        return list(self)[index]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (Timeline, list)):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]
