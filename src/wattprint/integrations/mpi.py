"""MPI (mpi4py) as the ranks' communicator (see :mod:`wattprint.tracking.ranks`).

Used only when the program has imported ``mpi4py.MPI`` itself (importing it
initialises MPI, which wattprint never does behind a program's back) and the
world has more than one rank. MPI collectives cannot time out, so the
exchange is built from non-blocking point-to-point messages on
``COMM_WORLD`` under tags of its own, polled until ``job_timeout_s``: a rank
that died or never reaches ``stop()`` delays the others by at most that much.
Rank 0 collects; for the all-gather at start it then sends the list back.
"""

from __future__ import annotations

import time
from typing import Any

TAG_UP, TAG_DOWN = 0x5770, 0x5771  # wattprint's tags; the program's own messages never match them
POLL_S = 0.002


class MpiCommunicator:
    """The start/stop exchange as tagged non-blocking messages through rank 0."""

    name = "mpi"

    def __init__(self, comm: Any) -> None:
        self._comm = comm
        self.rank: int = comm.Get_rank()
        self.size: int = comm.Get_size()
        self._broken = False
        self._pending: list[Any] = []  # sends not yet known to be delivered (kept alive until close)

    def _wait_sent(self, req: Any, deadline: float) -> bool:
        while not req.Test():
            if time.monotonic() > deadline:
                self._broken = True
                return False
            time.sleep(POLL_S)
        return True

    def _receive(self, sources: list[int], tag: int, deadline: float) -> list[Any] | None:
        """One message from each source, in order; a probe first, so any size is received whole."""
        got: dict[int, Any] = {}
        while len(got) < len(sources):
            for src in sources:
                if src not in got and self._comm.iprobe(source=src, tag=tag):
                    got[src] = self._comm.recv(source=src, tag=tag)
            if len(got) < len(sources):
                if time.monotonic() > deadline:
                    self._broken = True
                    return None
                time.sleep(POLL_S)
        return [got[s] for s in sources]

    def gather(self, obj: Any, timeout_s: float) -> list[Any] | None:
        """On rank 0 every rank's ``obj``; ``[]`` on the others once sent; None on failure or timeout."""
        if self._broken:
            return None
        deadline = time.monotonic() + timeout_s
        if self.rank != 0:
            req = self._comm.isend(obj, dest=0, tag=TAG_UP)
            self._pending.append(req)
            return [] if self._wait_sent(req, deadline) else None
        got = self._receive(list(range(1, self.size)), TAG_UP, deadline)
        return None if got is None else [obj, *got]

    def allgather(self, obj: Any, timeout_s: float) -> list[Any] | None:
        """Every rank's ``obj`` in rank order (through rank 0), or None on failure or timeout."""
        deadline = time.monotonic() + timeout_s
        got = self.gather(obj, timeout_s)
        if got is None:
            return None
        if self.rank == 0:
            self._pending += [self._comm.isend(got, dest=r, tag=TAG_DOWN) for r in range(1, self.size)]
            return got
        back = self._receive([0], TAG_DOWN, deadline)
        return None if back is None else list(back[0])

    def close(self) -> None:
        self._pending = []


def communicator(timeout_s: float) -> MpiCommunicator | None:
    """A communicator over MPI's world when mpi4py is initialised with more than one rank, else None."""
    try:
        from mpi4py import MPI

        if not MPI.Is_initialized() or MPI.Is_finalized() or MPI.COMM_WORLD.Get_size() <= 1:
            return None
    except Exception:
        return None
    return MpiCommunicator(MPI.COMM_WORLD)
