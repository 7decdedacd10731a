"""Attribution: which part of the machine's energy the tracked process tree caused.

At every timeline interval the run asks an :class:`Attributor` for the tree's
share of each channel over that interval:

* **CPU** (``cpu``/``psys`` components): the tree's CPU time over the
  machine's busy CPU time. The tree's CPU time comes from the process's own
  cgroup v2 ``cpu.stat`` when the work runs in a cgroup of its own (exact,
  includes every descendant, even ones that lived and died between two
  samples), otherwise from psutil: for the root and every live descendant,
  user + system + the reaped children's user + system, so a short-lived child
  counts once its parent has waited for it.
* **RAM** (``ram``/``dram``): the tree's resident memory over the machine's
  used memory (total − available), at the interval's end.
* **GPU**: the whole GPU when only the tree uses it; the tree's share of GPU
  memory when others use it too (if the sensor can list memory per process);
  nothing when the tree does not use it; "unknown" (whole GPU, flagged) when
  the driver cannot list processes.
* **The whole machine** (``platform``: a hwmon meter, IPMI, Redfish) and the
  modelled rest of the platform (``platform-rest``): the energy-weighted mean
  of the tree's shares of the other channels in the same interval, so the
  supply's losses, fans and disks are split as the components they feed are.

Shares are clamped to [0, 1], so attributed + rest of machine = total always.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

from wattprint._record import Record

TYPE_CHECKING = False  # not from typing: importing it costs more than this module
if TYPE_CHECKING:
    from typing import Any

    from wattprint.tracking.record import AttributionChannelRecord, AttributionRecord

CPU_COMPONENTS = ("cpu", "psys")
RAM_COMPONENTS = ("ram", "dram")
PLATFORM_COMPONENTS = ("platform", "platform-rest", "platform-fallback")  # split as the components they contain are


def _cgroup_of(pid: int, proc_root: Path) -> str | None:
    """The cgroup v2 path of ``pid`` (``0::/path`` line), or None on v1/unknown."""
    try:
        text = (proc_root / str(pid) / "cgroup").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("0::"):
            return line[3:].strip() or "/"
    return None


class CgroupCpu:
    """CPU time of a whole cgroup v2 (``usage_usec`` in ``cpu.stat``), in seconds."""

    def __init__(self, path: Path) -> None:
        self.path = path / "cpu.stat"

    def seconds(self) -> float:
        for line in self.path.read_text().splitlines():
            if line.startswith("usage_usec"):
                return int(line.split()[1]) / 1e6
        raise OSError(f"no usage_usec in {self.path}")

    @classmethod
    def for_process(
        cls, pid: int, *, proc_root: Path = Path("/proc"), cgroup_root: Path = Path("/sys/fs/cgroup")
    ) -> CgroupCpu | None:
        """The tree's own cgroup when it differs from ours (so it holds only the work)."""
        theirs = _cgroup_of(pid, proc_root)
        ours = _cgroup_of(os.getpid(), proc_root)
        if not theirs or theirs == "/" or theirs == ours:
            return None
        cg = cls(cgroup_root / theirs.lstrip("/"))
        try:
            cg.seconds()
        except (OSError, ValueError):
            return None
        return cg


class ProcessTree:
    """The root process and its descendants, read with psutil."""

    def __init__(self, pid: int) -> None:
        import psutil

        self._psutil = psutil
        self.root = psutil.Process(pid)
        self.seen: set[int] = {pid}
        self._high_water = 0.0
        # When the root is our own child, its whole tree's CPU time lands in our
        # RUSAGE_CHILDREN once we reap it: that is how its last moments are counted.
        self._our_child = self.root.ppid() == os.getpid()
        self._reaped0 = _reaped_children_cpu()

    def members(self) -> list[Any]:
        try:
            kids = self.root.children(recursive=True)
        except self._psutil.Error:
            kids = []
        procs = [self.root, *kids]
        self.seen.update(p.pid for p in kids)
        return procs

    def cpu_seconds(self, procs: Iterable[Any] | None = None) -> float:
        """CPU seconds of the tree so far; never decreases (a dip while a child is reaped is held)."""
        if self._our_child and not self.root.is_running():
            self._high_water = max(self._high_water, _reaped_children_cpu() - self._reaped0)
            return self._high_water
        total = 0.0
        for p in procs if procs is not None else self.members():
            try:
                t = p.cpu_times()
            except self._psutil.Error:
                continue
            total += t.user + t.system + getattr(t, "children_user", 0.0) + getattr(t, "children_system", 0.0)
        self._high_water = max(self._high_water, total)
        return self._high_water

    def rss_bytes(self, procs: Iterable[Any]) -> int:
        total = 0
        for p in procs:
            try:
                total += p.memory_info().rss
            except self._psutil.Error:
                continue
        return total

    def pids(self, procs: Iterable[Any]) -> set[int]:
        return {p.pid for p in procs}


def _reaped_children_cpu() -> float:
    """User + system seconds of this process's reaped children (and theirs); 0 where unknown."""
    try:
        import resource
    except ImportError:  # Windows
        return 0.0
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def machine_busy_cpu_seconds() -> float:
    """All CPUs' non-idle time since boot, in seconds (psutil)."""
    import psutil

    t = psutil.cpu_times()
    idle = t.idle + getattr(t, "iowait", 0.0)
    total = sum(t)
    # guest time is already inside user on Linux; don't count it twice
    total -= getattr(t, "guest", 0.0) + getattr(t, "guest_nice", 0.0)
    return total - idle


def machine_used_memory() -> int:
    import psutil

    vm = psutil.virtual_memory()
    return max(1, vm.total - vm.available)


class ChannelShare(Record):
    """The tree's part of one channel over the run."""

    __slots__ = ("energy_j", "method", "shares")

    def __init__(self, energy_j: float = 0.0, method: str = "", shares: list[float] | None = None) -> None:
        self.energy_j = energy_j
        self.method = method
        self.shares: list[float] = shares if shares is not None else []

    def to_dict(self, total_j: float) -> AttributionChannelRecord:
        return {
            "energy_j": self.energy_j,
            "share": self.energy_j / total_j if total_j > 0 else 0.0,
            "method": self.method,
        }


class Attributor:
    """Accumulates the tree's share of every channel, interval by interval.

    ``gpu_users`` returns channel → PIDs using that GPU now (``{}`` when
    unknown); ``gpu_memory`` channel → {pid: bytes} when the driver lists it.
    The machine-wide readers are injectable so tests can run without a busy
    machine, but by default they are the real psutil figures.
    """

    def __init__(
        self,
        pid: int,
        channels: dict[str, Any],
        *,
        gpu_users: Callable[[], dict[str, list[int]]] | None = None,
        gpu_memory: Callable[[], dict[str, dict[int, int]]] | None = None,
        busy_cpu: Callable[[], float] = machine_busy_cpu_seconds,
        used_memory: Callable[[], int] = machine_used_memory,
        cgroup: CgroupCpu | None = None,
    ) -> None:
        self.pid = pid
        self.tree = ProcessTree(pid)
        self.cgroup = cgroup if cgroup is not None else CgroupCpu.for_process(pid)
        self.cpu_method = (
            "cgroup v2 cpu.stat share of busy CPU time"
            if self.cgroup
            else "psutil process-tree share of busy CPU time"
        )
        self.channels = channels
        self._gpu_users = gpu_users
        self._gpu_memory = gpu_memory
        self._busy = busy_cpu
        self._used_mem = used_memory
        self.per_channel: dict[str, ChannelShare] = {n: ChannelShare() for n in channels}
        self.gpu_sole_user: dict[str, bool | None] = {}
        self.gpu_pids: dict[str, set[int]] = {}
        self._last_tree = self._tree_cpu(self.tree.members())
        self._last_busy = busy_cpu()

    def _tree_cpu(self, procs: list[Any]) -> float:
        if self.cgroup is not None:
            try:
                return self.cgroup.seconds()
            except (OSError, ValueError):
                self.cgroup = None
                self.cpu_method = "psutil process-tree share of busy CPU time (cgroup became unreadable)"
        return self.tree.cpu_seconds(procs)

    def on_interval(self, energy_j: dict[str, float]) -> None:
        """Attribute one timeline interval's energy (channel → J)."""
        procs = self.tree.members()
        tree_cpu = self._tree_cpu(procs)
        busy = self._busy()
        d_tree, d_busy = tree_cpu - self._last_tree, busy - self._last_busy
        self._last_tree, self._last_busy = tree_cpu, busy
        cpu_share = min(1.0, max(0.0, d_tree / d_busy)) if d_busy > 0 else 0.0
        ram_share = min(1.0, max(0.0, self.tree.rss_bytes(procs) / self._used_mem()))
        gpu_shares = self._gpu_shares(self.tree.pids(procs))
        whole: list[tuple[str, float]] = []
        parts_j = mine_j = 0.0
        for name, e in energy_j.items():
            ch = self.channels.get(name)
            component = getattr(ch, "component", "")
            if component in PLATFORM_COMPONENTS:
                whole.append((name, e))
                continue
            acc = self.per_channel.setdefault(name, ChannelShare())
            if component in CPU_COMPONENTS:
                share, acc.method = cpu_share, self.cpu_method
            elif component in RAM_COMPONENTS:
                share, acc.method = ram_share, "share of used memory (resident set size)"
            elif component == "gpu":
                share, acc.method = gpu_shares.get(name, (1.0, "process list unavailable: whole GPU"))
            else:
                share, acc.method = 0.0, "no attribution rule for this component"
            acc.energy_j += e * share
            acc.shares.append(share)
            if component != "psys":  # psys overlaps the packages: their share is already in
                parts_j += e
                mine_j += e * share
        mean = mine_j / parts_j if parts_j > 0 else 0.0
        for name, e in whole:
            acc = self.per_channel.setdefault(name, ChannelShare())
            acc.method = "energy-weighted share of the components it contains"
            acc.energy_j += e * mean
            acc.shares.append(mean)

    def _gpu_shares(self, tree_pids: set[int]) -> dict[str, tuple[float, str]]:
        out: dict[str, tuple[float, str]] = {}
        if self._gpu_users is None:
            return out
        try:
            users = self._gpu_users()
        except Exception:
            return out
        memory: dict[str, dict[int, int]] = {}
        if self._gpu_memory is not None:
            try:
                memory = self._gpu_memory()
            except Exception:
                memory = {}
        for channel, pids in users.items():
            ours = set(pids) & tree_pids
            self.gpu_pids.setdefault(channel, set()).update(pids)
            if pids and not ours and not any(self._visible(p) for p in pids):
                # Typical in containers: the driver reports host PIDs we cannot see.
                # Neither "ours" nor "not ours" can be shown, so say so.
                out[channel] = (1.0, "GPU's process IDs not visible here (container?): whole GPU, unverified")
                self.gpu_sole_user[channel] = None
                continue
            if not pids or not ours:
                out[channel] = (0.0, "not used by the tracked processes")
                if pids:
                    self.gpu_sole_user[channel] = False
                continue
            if ours == set(pids):
                out[channel] = (1.0, "tracked processes are the only users: whole GPU")
                self.gpu_sole_user.setdefault(channel, True)
                continue
            self.gpu_sole_user[channel] = False
            mem = memory.get(channel)
            if mem:
                total = sum(mem.values())
                mine = sum(v for p, v in mem.items() if p in ours)
                if total > 0:
                    out[channel] = (mine / total, "share of GPU memory among its processes")
                    continue
            out[channel] = (
                len(ours) / len(set(pids)),
                "shared GPU, no per-process figures: split by process count (rough)",
            )
        return out

    @staticmethod
    def _visible(pid: int) -> bool:
        import psutil

        return bool(psutil.pid_exists(pid))

    def to_dict(self, totals: dict[str, float]) -> AttributionRecord:
        """Machine and attributed figures per channel, and their sums over counted channels."""
        chans = {n: s.to_dict(totals.get(n, 0.0)) for n, s in self.per_channel.items()}
        counted = [n for n, c in self.channels.items() if getattr(c, "in_total", True)]
        attributed = sum(self.per_channel[n].energy_j for n in counted if n in self.per_channel)
        machine = sum(totals.get(n, 0.0) for n in counted)
        return {
            "pid": self.pid,
            "processes_seen": len(self.tree.seen),
            "energy_j": attributed,
            "machine_energy_j": machine,
            "rest_of_machine_j": machine - attributed,
            "channels": chans,
            "gpu_users": {c: sorted(p) for c, p in self.gpu_pids.items()},
            "gpu_sole_user": self.gpu_sole_user,
        }
