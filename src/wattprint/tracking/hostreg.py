"""The trackers alive on this host: a small registry file per boot id, locked with ``fcntl``.

Each rank of a job that measures GPUs without a communicator writes an entry here
(its job id, rank, local rank, pid and the GPUs it reads) and removes it when it
stops; entries of processes that no longer exist are dropped by whoever next
opens the file. A rank whose local rank is not 0 looks for the entries of lower
local ranks of its own job on the same host and leaves their GPUs to them
(:func:`wattprint.tracking.ranks.acquire`): the election a communicator would
have done, through the file system.

Every rank of every job also lists the devices it measures (``devices``: the keys
of :func:`wattprint.tracking.job.device_key`), so a job sees another job on the
same devices while both run (:mod:`wattprint.tracking.shared`). That look is
:meth:`HostRegistry.peek`: a shared lock taken without waiting, so a registry held
by someone else is skipped for this look, never waited for.

The file lives in the ``host_registry_dir`` setting's directory, else
``$XDG_RUNTIME_DIR/wattprint``, else ``/dev/shm/wattprint-<uid>`` (memory, gone at
reboot, as the boot id is), named after a hash of the boot id (so the simulated
nodes of the tests, each with its own boot id, keep apart). Nothing here raises:
a registry that cannot be read or written is as good as an empty one. Standard
library only.
"""

from __future__ import annotations

import hashlib
import json
import os
import time

TYPE_CHECKING = False  # not from typing: see tracker.py
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

Entry = dict  # {"job", "rank", "local_rank", "pid", "gpus", "devices", "since"}; JSON, read back defensively


def default_dir() -> str:
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    if runtime and os.path.isdir(runtime):
        return os.path.join(runtime, "wattprint")
    shm = "/dev/shm"  # noqa: S108 - memory, per user below
    base = shm if os.path.isdir(shm) else os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, f"wattprint-{os.getuid()}")


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: another user's, alive
        return True
    return True


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


class HostRegistry:
    """The registry file of one host (one boot id)."""

    def __init__(self, directory: str | None, boot: str) -> None:
        self.dir = directory or default_dir()
        self.path = os.path.join(self.dir, f"host-{hashlib.sha256(boot.encode()).hexdigest()[:16]}.json")

    def _with(self, change: Callable[[list[Entry]], list[Entry] | None]) -> list[Entry]:
        """The live entries, after ``change`` (which returns the new list, or None to leave it)."""
        try:
            import fcntl

            os.makedirs(self.dir, mode=0o700, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except (OSError, ImportError):
            return []
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            with os.fdopen(os.dup(fd), "r+", encoding="utf-8") as fh:
                try:
                    raw = json.loads(fh.read() or "[]")
                except ValueError:
                    raw = []
                entries = [e for e in raw if isinstance(e, dict) and _alive(e.get("pid"))] \
                    if isinstance(raw, list) else []
                new = change(entries)
                if new is not None or len(entries) != len(raw if isinstance(raw, list) else []):
                    entries = entries if new is None else new
                    fh.seek(0)
                    fh.truncate()
                    fh.write(json.dumps(entries))
            return entries
        except OSError:
            return []
        finally:
            os.close(fd)  # the lock goes with the last descriptor

    def entries(self) -> list[Entry]:
        return self._with(lambda e: None)

    def register(self, job: str, rank: int, local_rank: int | None, gpus: list[str],
                 devices: list[str] | None = None) -> None:
        """This process's entry (replacing an older one of the same pid)."""
        me: Entry = {"job": job, "rank": rank, "local_rank": local_rank, "pid": os.getpid(), "gpus": gpus,
                     "devices": devices or [], "since": time.time()}
        self._with(lambda e: [x for x in e if x.get("pid") != me["pid"]] + [me])

    def peek(self) -> list[Entry] | None:
        """The live entries as they are now, or None when the file is locked for writing (or unreadable)."""
        try:
            import fcntl

            fd = os.open(self.path, os.O_RDONLY)
        except (OSError, ImportError):
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            with os.fdopen(os.dup(fd), "r", encoding="utf-8") as fh:
                raw = json.loads(fh.read() or "[]")
        except (OSError, ValueError):
            return None
        finally:
            os.close(fd)
        return [e for e in raw if isinstance(e, dict) and _alive(e.get("pid"))] if isinstance(raw, list) else []

    def others_on(self, job: str, devices: set[str]) -> list[tuple[str, set[str], float]] | None:
        """(job id, devices of ``devices`` it measures, since when) for every other job's live entry;
        None when the registry could not be looked at just now."""
        entries = self.peek()
        if entries is None:
            return None
        out = []
        for e in entries:
            other, since = e.get("job"), e.get("since")
            shared = set(_strings(e.get("devices"))) & devices
            if isinstance(other, str) and other != job and shared:
                out.append((other, shared, float(since) if isinstance(since, (int, float)) else time.time()))
        return out

    def unregister(self) -> None:
        pid = os.getpid()
        self._with(lambda e: [x for x in e if x.get("pid") != pid])

    def lower_ranks_gpus(self, job: str, local_rank: int) -> tuple[bool, set[str]]:
        """(whether local rank 0 of ``job`` is registered, the GPUs lower local ranks of ``job`` read)."""
        mine = [e for e in self.entries() if e.get("job") == job and isinstance(e.get("local_rank"), int)
                and e["local_rank"] < local_rank]
        gpus = {g for e in mine for g in _strings(e.get("gpus"))}
        return any(e["local_rank"] == 0 for e in mine), gpus
