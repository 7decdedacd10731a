"""The process's samplers: one per sensor set, shared by every run and window, reference-counted."""

from __future__ import annotations

import os
import threading

from wattprint.sensors.base import Availability
from wattprint.tracking.sampler import Sampler

TYPE_CHECKING = False  # not from typing: see tracker.py
if TYPE_CHECKING:
    from typing import Any

_pool_lock = threading.Lock()
_pool: dict[tuple[object, ...], tuple[Sampler, list[Availability], int]] = {}


class _Same:
    """A pool-key part that matches only the very same object (a user's sensor or factory).

    Holding the object also keeps it alive while its sampler is pooled, so its id is never reused.
    """

    __slots__ = ("obj",)

    def __init__(self, obj: object) -> None:
        self.obj = obj

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Same) and other.obj is self.obj

    def __hash__(self) -> int:
        return id(self.obj)


def _sensor_choice(sensors: Any) -> tuple[Any, ...]:
    """Check ``Tracker(sensors=...)`` at once (a typo fails before the work starts)."""
    from wattprint.sensors.registry import parse_choice

    return parse_choice(sensors)


def _acquire_sampler(
    rapl_root: str | None, gpus: str | None, sensors: Any = None, platform: Any = None
) -> tuple[Sampler, list[Availability]]:
    """One sampler per sensor set (root, GPU choice, sensor families, whole-machine options) in the
    process, reference-counted."""
    choice = _sensor_choice(sensors)
    key = (str(rapl_root or ""), str(gpus or ""), platform,
           *(e if isinstance(e, str) else _Same(e) for e in choice))
    with _pool_lock:
        if key in _pool:
            sampler, lines, refs = _pool[key]
            _pool[key] = (sampler, lines, refs + 1)
            return sampler, lines
        from wattprint.sensors.registry import open_sensors

        opened, lines = open_sensors(choice, rapl_root=rapl_root, gpus=gpus, platform=platform)
        sampler = Sampler(opened)
        _pool[key] = (sampler, lines, 1)
        return sampler, lines


def _release_sampler(sampler: Sampler) -> None:
    with _pool_lock:
        for key, (s, lines, refs) in list(_pool.items()):
            if s is sampler:
                if refs <= 1:
                    del _pool[key]
                    s.close()
                else:
                    _pool[key] = (s, lines, refs - 1)
                return


class shared_sampler:  # noqa: N801 - used like a function: ``with shared_sampler(...) as (s, lines)``
    """Borrow the process's sampler for this sensor set (opened on first use)."""

    def __init__(self, rapl_root: str | None = None, gpus: str | None = None, sensors: Any = None,
                 platform: Any = None) -> None:
        self.rapl_root, self.gpus, self.sensors, self.platform = rapl_root, gpus, sensors, platform
        self.sampler: Sampler | None = None

    def __enter__(self) -> tuple[Sampler, list[Availability]]:
        self.sampler, lines = _acquire_sampler(self.rapl_root, self.gpus, self.sensors, self.platform)
        return self.sampler, lines

    def __exit__(self, *exc: object) -> None:
        if self.sampler is not None:
            _release_sampler(self.sampler)
            self.sampler = None


def _pool_after_fork_in_child() -> None:
    """The parent's sampler threads do not exist in a forked child, and a lock they held stays held."""
    global _pool_lock
    _pool_lock = threading.Lock()
    for key, (sampler, _, _) in list(_pool.items()):
        if sampler.after_fork_in_child():  # it set GPU sensors aside: the child's own runs open theirs
            del _pool[key]


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_pool_after_fork_in_child)
