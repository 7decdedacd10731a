"""torch.distributed as the ranks' communicator (see :mod:`wattprint.tracking.ranks`).

Used only when the program has initialised ``torch.distributed`` itself. The
exchange runs on a group of its own with the gloo backend (whatever backend
the training uses, NCCL included), created at ``Tracker.start()`` and used
twice: the boot ids at start, the partial records at stop. Never in the
training's hot path. The group's timeout (``job_timeout_s``) bounds every
exchange, so a rank that died or never reaches ``stop()`` delays the others'
stop by at most that much, and never hangs it.

Creating the group is itself a collective: every rank must start its tracker
(as it must call any ``new_group``) at the same point of the program.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any


class TorchCommunicator:
    """The start/stop exchange over a dedicated gloo group."""

    name = "torch.distributed"

    def __init__(self, dist: Any, group: Any) -> None:
        self._dist, self._group = dist, group
        self.rank: int = dist.get_rank()
        self.size: int = dist.get_world_size()

    def allgather(self, obj: Any, timeout_s: float) -> list[Any] | None:
        """Every rank's ``obj`` in rank order, or None (a rank failed or timed out: the group is dropped)."""
        if self._group is None:
            return None
        out: list[Any] = [None] * self.size
        try:
            self._dist.all_gather_object(out, obj, group=self._group)
        except Exception:  # a peer died or timed out: this group is not used again
            self._group = None
            return None
        return out

    def gather(self, obj: Any, timeout_s: float) -> list[Any] | None:
        """On rank 0 every rank's ``obj``; ``[]`` on the others once sent; None on failure."""
        if self._group is None:
            return None
        out: list[Any] | None = [None] * self.size if self.rank == 0 else None
        try:
            self._dist.gather_object(obj, out, dst=0, group=self._group)
        except Exception:
            self._group = None
            return None
        return out if out is not None else []

    def close(self) -> None:
        group, self._group = self._group, None
        if group is not None:
            try:
                self._dist.destroy_process_group(group)
            except Exception:  # noqa: S110 - best effort; the program's own groups are untouched
                pass


def communicator(timeout_s: float) -> TorchCommunicator | None:
    """A communicator when torch.distributed is initialised with more than one rank, else None."""
    try:
        import torch.distributed as dist

        if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() <= 1:
            return None
        group = dist.new_group(backend="gloo", timeout=timedelta(seconds=timeout_s))
    except Exception:  # no gloo, or the group could not form in time: the environment decides
        return None
    return TorchCommunicator(dist, group)
