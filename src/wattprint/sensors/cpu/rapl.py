"""CPU package and DRAM energy from Linux RAPL, through the powercap sysfs tree.

Layout read (``/sys/class/powercap`` unless another ``root`` is given, which is
how the tests hand us a fake tree)::

    intel-rapl:0/                 name = "package-0"   -> channel cpu:package-0
        energy_uj                 cumulative µJ, wraps
        max_energy_range_uj       largest value energy_uj takes
        constraint_N_max_power_uw optional
        intel-rapl:0:0/           name = "core"        -> inside the package, not a channel
        intel-rapl:0:1/           name = "uncore"      -> inside the package, not a channel
        intel-rapl:0:2/           name = "dram"        -> channel dram:package-0
    intel-rapl:1/                 name = "psys"        -> channel psys (in_total=False)
    intel-rapl-mmio:0/            name = "package-0"   -> same package again: ignored

AMD kernels (5.8+, family 19h from 5.11) use the same ``intel-rapl`` names.
Only the ``intel-rapl`` (MSR) tree is used when it exists; an ``intel-rapl-mmio``
zone counts only when no MSR zone of the same name exists, because the MMIO
interface exposes the same package counter a second time.

Counters and wrap-around
------------------------
The kernel computes ``energy_uj`` as ``raw × energy_unit`` from a 32-bit raw
register, and ``max_energy_range_uj`` as the same conversion of the largest raw
value (0xFFFFFFFF). So ``energy_uj`` runs over 0 … ``max_energy_range_uj`` and
then restarts near 0. We take the counter modulus to be
``max_energy_range_uj + 1`` µJ: a reading below the previous one means
``delta = new + (max_energy_range_uj + 1) − old``. The hardware's true modulus is
one energy unit above the range (about 61 µJ on Intel, 15 µJ on AMD) rather than
1 µJ, so each wrap under-counts by at most ~60 µJ: at most 3×10⁻¹⁰ of the
~262 kJ that one wrap represents, far below the band.

Several wraps between two reads cannot be seen in the counter. At the bounding
power ``P`` of a zone, one full range lasts ``range / P`` seconds; the sensor
asks the sampler to read at least twice as often (``max_interval_s``), and when
two reads of a zone are further apart than ``range / P`` it records a fault
saying whole wraps may have been missed (energy possibly under-counted).

Permissions
-----------
``energy_uj`` has been readable by root only since the PLATYPUS fix
(CVE-2020-8694, kernel 5.10 and backports). An unreadable package counter is a
:class:`SensorError` from the constructor, whose message names the file and
whose ``fix`` gives the exact commands; the caller then falls back to the
model and tells the user why.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from itertools import repeat
from pathlib import Path

from wattprint._record import Record
from wattprint.sensors.base import Availability, Channel, Kind, Method, Sensor, SensorError
from wattprint.sensors.cpu.host import detect_cpu

__all__ = [
    "BAND_DRAM",
    "BAND_PACKAGE",
    "BAND_PACKAGE_AMD",
    "BAND_PSYS",
    "DEFAULT_MAX_POWER_W",
    "DEFAULT_ROOT",
    "PERMISSION_FIX",
    "RaplSensor",
    "SAFETY_FACTOR",
]

DEFAULT_ROOT = "/sys/class/powercap"

# A plausible upper bound on the sustained power of one RAPL zone. The largest
# current server packages are rated 350-500 W (EPYC 9965 500 W, Xeon 6980P
# 500 W); a zone whose constraint_*_max_power_uw says more uses that instead.
DEFAULT_MAX_POWER_W = 500.0
# max_interval_s = (time one range lasts at the bound) / SAFETY_FACTOR, so a
# late sampler tick (GC pause, loaded host) still lands before a full wrap.
SAFETY_FACTOR = 2.0

# Uncertainty bands, from /work/shared/notes/accuracy-distributed-standards.md §4.1:
# * Intel package: since Haswell-EP the package figure is a measurement from the
#   integrated voltage regulators, highly correlated with plug power (Hackenberg
#   et al. 2015; Khan et al. 2018, "RAPL in Action"): ±5 % for what it covers.
#   What it does not cover (PSU losses, fans, disks, NICs, BMC: +7-10 W on a
#   typical server, more under load) is a scope gap, stated in the channel detail,
#   not folded into the band.
# * AMD package: Zen RAPL is model-based and its domain contents are undocumented
#   (Schöne et al. 2021): ±10 %.
# * DRAM: tracks trends but with a constant offset, worst at idle (Desrochers,
#   Paradis, Weaver, MEMSYS 2016): ±20 %.
# * psys: platform-wide, vendor-dependent coverage: ±10 %. Never summed anyway.
BAND_PACKAGE = 0.05
BAND_PACKAGE_AMD = 0.10
BAND_DRAM = 0.20
BAND_PSYS = 0.10

_UDEV_RULE = (
    'ACTION=="add", SUBSYSTEM=="powercap", KERNEL=="intel-rapl:*", '
    'RUN+="/bin/chgrp powercap /sys%p/energy_uj /sys%p/max_energy_range_uj", '
    'RUN+="/bin/chmod g+r /sys%p/energy_uj /sys%p/max_energy_range_uj"'
)
PERMISSION_FIX = (
    "Until reboot: sudo chmod a+r /sys/class/powercap/intel-rapl:*/energy_uj "
    "/sys/class/powercap/intel-rapl:*/max_energy_range_uj "
    "/sys/class/powercap/intel-rapl:*:*/energy_uj "
    "/sys/class/powercap/intel-rapl:*:*/max_energy_range_uj . "
    "Permanently, for members of a group: sudo groupadd -f powercap && "
    "sudo usermod -aG powercap $USER, then put this one line in "
    f"/etc/udev/rules.d/99-wattprint-rapl.rules: {_UDEV_RULE} "
    "and apply it with: sudo udevadm control --reload-rules && "
    "sudo udevadm trigger --subsystem-match=powercap --action=add "
    "(log in again for the group to take effect). Either way, whoever can read "
    "the counters can mount the PLATYPUS power side channel (CVE-2020-8694): "
    "grant it only on machines whose users you trust."
)
_NO_RAPL_FIX = (
    "On bare-metal Linux load the driver: sudo modprobe intel_rapl_msr "
    "(Intel, and AMD Zen with kernel 5.8+, family 19h with 5.11+). "
    "Cloud VMs and most containers do not expose RAPL; wattprint then uses its model."
)

_ZONE_RE = re.compile(r"^(intel-rapl|intel-rapl-mmio):(\d+)$")
_SUBZONE_RE = re.compile(r"^(intel-rapl|intel-rapl-mmio):(\d+):(\d+)$")
_READ_SIZE = 32  # energy_uj is at most 20 digits + newline


class _Zone(Record):
    """One readable counter and its unwrapping state (all energies in µJ)."""

    __slots__ = ("channel", "path", "fd", "range_uj", "bound_w", "last_raw", "last_ns", "total_uj", "name", "wrap_ns")

    def __init__(self, channel: Channel, path: Path, fd: int, range_uj: int, bound_w: float, last_raw: int,
                 last_ns: int, total_uj: int = 0) -> None:
        self.channel = channel
        self.path = path  # the energy_uj file
        self.fd = fd
        self.range_uj = range_uj
        self.bound_w = bound_w
        self.last_raw = last_raw
        self.last_ns = last_ns
        self.total_uj = total_uj
        # fixed for the zone's life; read on every tick, so worked out once
        self.name = channel.name
        self.wrap_ns = range_uj * 1e3 / bound_w  # wrap_s in nanoseconds

    @property
    def modulus(self) -> int:
        return self.range_uj + 1

    @property
    def wrap_s(self) -> float:
        """Seconds one full counter range lasts at the zone's bounding power."""
        return self.range_uj / 1e6 / self.bound_w


class _Found(Record):
    """A zone found in the tree, before it is opened."""

    __slots__ = ("kind", "name", "dir", "label")

    def __init__(self, kind: str, name: str, dir: Path, label: str) -> None:
        self.kind = kind  # "package" | "dram" | "psys"
        self.name = name  # channel name
        self.dir = dir
        self.label = label  # "intel-rapl:0:2 (dram of package-0)" for messages


def _parse(data: bytes) -> int:
    """The integer on the first line of a sysfs read (the kernel writes one line)."""
    return int(data.split(b"\n", 1)[0])


def _pread_or_error(fd: int) -> bytes | OSError:
    try:
        return os.pread(fd, _READ_SIZE, 0)
    except OSError as exc:
        return exc


def _read_text(path: Path) -> str:
    with open(path, encoding="ascii", errors="replace") as f:
        return f.read().strip()


def _zone_sort_key(p: Path) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", p.name))


class RaplSensor(Sensor):
    """Cumulative joules per RAPL zone: ``cpu:package-N``, ``dram:package-N``, ``psys``.

    ``root`` is the powercap class directory. ``max_power_w`` bounds the power of
    any one zone (a zone's own ``constraint_*_max_power_uw`` raises it, never
    lowers it); it sets :attr:`max_interval_s`. ``cpu_vendor`` (``"intel"`` /
    ``"amd"``) chooses the package band; ``None`` reads /proc/cpuinfo.
    ``clock`` returns monotonic nanoseconds (injectable for tests).

    Raises :class:`SensorError` (message + ``fix``) when there is no powercap
    tree, no RAPL zone in it, or a package counter cannot be read.
    """

    def __init__(
        self,
        root: str | Path = DEFAULT_ROOT,
        max_power_w: float = DEFAULT_MAX_POWER_W,
        *,
        cpu_vendor: str | None = None,
        clock: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        super().__init__(name="rapl")
        if not max_power_w > 0:
            raise SensorError(f"RAPL: max_power_w must be > 0 W, got {max_power_w!r}")
        self._root = Path(root)
        self._max_power_w = float(max_power_w)
        self._clock = clock
        self._zones: list[_Zone] = []
        self._notes: list[Availability] = []  # zones seen but not used, and why
        if not self._root.is_dir():
            raise SensorError(
                f"no RAPL: {self._root} does not exist (not Linux, no powercap driver, "
                "or not exposed in this VM/container)",
                fix=_NO_RAPL_FIX,
            )
        found = self._discover()
        if not any(f.kind == "package" for f in found):
            raise SensorError(
                f"no RAPL package zone under {self._root} (no intel-rapl:N directory "
                "named package-N)",
                fix=_NO_RAPL_FIX,
            )
        self._vendor = cpu_vendor if cpu_vendor is not None else detect_cpu().vendor
        self._package_band = BAND_PACKAGE_AMD if self._vendor == "amd" else BAND_PACKAGE
        try:
            for f in found:
                try:
                    self._zones.append(self._open(f))
                except SensorError as exc:
                    if f.kind == "package":
                        raise  # a missing package would silently under-count the total
                    self._notes.append(
                        Availability(f"rapl {f.name}", False, str(exc), exc.fix)
                    )
        except BaseException:
            self.close()
            raise
        self.channels = [z.channel for z in self._zones]
        self._fds = tuple(z.fd for z in self._zones)  # what read_raw reads, in zone order
        self.max_interval_s = min(z.wrap_s for z in self._zones) / SAFETY_FACTOR

    # -- discovery ---------------------------------------------------------

    def _zone_name(self, zdir: Path) -> str | None:
        """The zone's ``name`` file, or None with a doctor line saying why it could not be read."""
        try:
            return _read_text(zdir / "name")
        except OSError as exc:
            self._notes.append(Availability(f"rapl {zdir.name}", False, f"cannot read its name: {exc}"))
            return None

    def _discover(self) -> list[_Found]:
        tops: dict[str, list[Path]] = {"intel-rapl": [], "intel-rapl-mmio": []}
        for p in self._root.iterdir():
            m = _ZONE_RE.match(p.name)
            if m and p.is_dir():
                tops[m.group(1)].append(p)
        found: list[_Found] = []
        seen_top: dict[str, str] = {}  # zone name -> dir name that provides it
        for tree in ("intel-rapl", "intel-rapl-mmio"):
            for zdir in sorted(tops[tree], key=_zone_sort_key):
                zname = self._zone_name(zdir)
                if zname is None:
                    continue
                if zname in seen_top:
                    why = (
                        "the MMIO interface repeats the MSR package counter"
                        if tree == "intel-rapl-mmio"
                        else "a second zone with the same name mirrors the same counter"
                    )
                    self._notes.append(
                        Availability(
                            f"rapl {zdir.name}",
                            False,
                            f"{zname}: already read from {seen_top[zname]} ({why}); "
                            "not counted twice",
                        )
                    )
                    continue
                seen_top[zname] = zdir.name
                if zname.startswith("package"):
                    found.append(_Found("package", f"cpu:{zname}", zdir, f"{zdir.name} ({zname})"))
                    found += self._discover_sub(zdir, zname)
                elif zname == "psys":
                    found.append(_Found("psys", "psys", zdir, f"{zdir.name} (psys)"))
                else:
                    self._notes.append(
                        Availability(
                            f"rapl {zdir.name}",
                            False,
                            f"top-level zone {zname!r} is not a package or psys: not used",
                        )
                    )
        return found

    def _discover_sub(self, zdir: Path, pkg: str) -> list[_Found]:
        subs = {p.resolve(): p for p in zdir.iterdir() if _SUBZONE_RE.match(p.name) and p.is_dir()}
        # /sys/class/powercap also lists sub-zones flat (intel-rapl:0:0 beside intel-rapl:0).
        for p in self._root.glob(f"{zdir.name}:*"):
            if _SUBZONE_RE.match(p.name) and p.is_dir():
                subs.setdefault(p.resolve(), p)
        out: list[_Found] = []
        for sdir in sorted(subs.values(), key=_zone_sort_key):
            sname = self._zone_name(sdir)
            if sname is None:
                continue
            if sname == "dram":
                out.append(
                    _Found("dram", f"dram:{pkg}", sdir, f"{sdir.name} (dram of {pkg})")
                )
            elif sname in ("core", "uncore"):
                self._notes.append(
                    Availability(
                        f"rapl {sdir.name}",
                        False,
                        f"{sname} of {pkg}: part of the package figure, not counted on its own",
                    )
                )
            else:
                self._notes.append(
                    Availability(
                        f"rapl {sdir.name}", False, f"sub-zone {sname!r} of {pkg}: not used"
                    )
                )
        return out

    # -- opening -------------------------------------------------------------

    def _open(self, f: _Found) -> _Zone:
        energy = f.dir / "energy_uj"
        range_file = f.dir / "max_energy_range_uj"
        try:
            range_uj = int(_read_text(range_file))
        except PermissionError as exc:
            raise self._permission_error(range_file, exc) from exc
        except (OSError, ValueError) as exc:
            raise SensorError(f"RAPL {f.label}: cannot read {range_file}: {exc}") from exc
        if range_uj <= 0:
            raise SensorError(f"RAPL {f.label}: {range_file} says {range_uj}; need > 0")
        try:
            fd = os.open(energy, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except PermissionError as exc:
            raise self._permission_error(energy, exc) from exc
        except OSError as exc:
            raise SensorError(f"RAPL {f.label}: cannot open {energy}: {exc}") from exc
        try:
            raw = _parse(os.pread(fd, _READ_SIZE, 0))
        except PermissionError as exc:
            os.close(fd)
            raise self._permission_error(energy, exc) from exc
        except (OSError, ValueError) as exc:
            os.close(fd)
            raise SensorError(f"RAPL {f.label}: cannot read {energy}: {exc}") from exc
        bound = max(self._max_power_w, self._constraint_max_w(f.dir))
        if f.kind == "package":
            band, component, in_total = self._package_band, "cpu", True
            detail = (
                f"{f.label}; covers the CPU package only (not PSU losses, fans, disks, NICs)"
            )
        elif f.kind == "dram":
            band, component, in_total = BAND_DRAM, "dram", True
            detail = f"{f.label}; DRAM RAPL carries a constant offset, worst at idle"
        else:
            band, component, in_total = BAND_PSYS, "psys", False
            detail = f"{f.label}; whole platform, overlaps the packages: never summed with them"
        channel = Channel(f.name, component, Method.COUNTER, Kind.ENERGY, band, in_total, detail)
        return _Zone(channel, energy, fd, range_uj, bound, raw, self._clock())

    @staticmethod
    def _constraint_max_w(zdir: Path) -> float:
        best = 0.0
        for p in zdir.glob("constraint_*_max_power_uw"):
            try:
                best = max(best, int(_read_text(p)) / 1e6)
            except (OSError, ValueError):
                continue
        return best

    @staticmethod
    def _permission_error(path: Path, exc: OSError) -> SensorError:
        return SensorError(
            f"RAPL counter {path} is not readable by this user ({exc.strerror or exc}): "
            "since the PLATYPUS fix (CVE-2020-8694) the kernel makes RAPL energy files "
            "root-only",
            fix=PERMISSION_FIX,
        )

    # -- reading -------------------------------------------------------------

    def read(self) -> dict[str, float]:
        """Cumulative joules per channel since the sensor was opened.

        A zone that fails to read is left out of this reading and a fault is
        recorded; its unwrapping state is kept, so a later good read continues
        from the last good value (if the outage outlasted a wrap period, the
        elapsed-time check records that too).
        """
        return self.settle(self.read_raw())

    def read_raw(self) -> tuple[int, tuple[bytes | OSError, ...]]:
        """The time and each zone's counter bytes (or the error reading it); no state changes.

        The sampler's hot path: one C-level loop over the open files."""
        now = self._clock()
        fds = self._fds
        try:
            return now, tuple(map(os.pread, fds, repeat(_READ_SIZE), repeat(0)))
        except OSError:  # one zone failed: read them one by one, keeping each error for settle()
            return now, tuple(_pread_or_error(fd) for fd in fds)

    def settle(self, raw: object) -> dict[str, float]:
        """Joules per channel from :meth:`read_raw`'s bytes, unwrapped (raw readings in order)."""
        now: int
        data: tuple[bytes | OSError, ...]
        now, data = raw  # type: ignore[misc]  # read_raw's pair
        out: dict[str, float] = {}
        for z, d in zip(self._zones, data, strict=True):  # the usual case in the fewest lines
            try:
                value = int(d.split(b"\n", 1)[0])  # type: ignore[union-attr]  # _parse, inlined
            except (AttributeError, ValueError) as exc:  # AttributeError: d is the read's OSError
                self.faults.append((z.channel.name, f"cannot read {z.path}: {d if isinstance(d, OSError) else exc}"))
                continue
            delta = value - z.last_raw
            if delta < 0 or value > z.range_uj or now - z.last_ns > z.wrap_ns:
                delta = self._unusual(z, value, now, delta)  # a wrap, a bad value or a long gap
                if delta < 0:
                    continue
            z.total_uj += delta
            z.last_raw, z.last_ns = value, now
            out[z.name] = z.total_uj / 1e6
        return out

    def _unusual(self, z: _Zone, raw: int, now: int, delta: int) -> int:
        """The energy (µJ) since ``z``'s last reading when it is not a plain difference; -1: the
        reading is outside the counter's range and ignored (faults recorded as they occur)."""
        if not 0 <= raw <= z.range_uj:
            self.faults.append((z.channel.name, f"{z.path} read {raw}, outside 0..{z.range_uj}: reading ignored"))
            return -1
        if now - z.last_ns > z.wrap_ns:
            elapsed_s = (now - z.last_ns) / 1e9
            self.faults.append(
                (
                    z.channel.name,
                    f"{elapsed_s:.0f} s between two reads is longer than the "
                    f"{z.wrap_s:.0f} s the counter takes to wrap at {z.bound_w:g} W: "
                    "whole wraps may have been missed, energy may be under-counted",
                )
            )
        return delta + z.range_uj + 1 if delta < 0 else delta  # below zero: it wrapped (the modulus)

    def close(self) -> None:
        """Close the counter files. Safe to call twice; never raises."""
        for z in self._zones:
            if z.fd >= 0:
                try:
                    os.close(z.fd)
                except OSError:
                    pass
                z.fd = -1
        self._fds = (-1,) * len(self._zones)  # a read after close fails (EBADF), never reads a reused fd

    def describe(self) -> list[Availability]:
        """One line per counted channel, then one per zone seen but not counted."""
        lines = []
        for z in self._zones:
            c = z.channel
            total = "" if c.in_total else ", not in totals"
            lines.append(
                Availability(
                    f"rapl {c.name}",
                    True,
                    f"{c.method} (±{c.band:.0%}{total}); {c.detail}; counter range "
                    f"{z.range_uj / 1e6:.0f} J, wraps in ≥{z.wrap_s:.0f} s at {z.bound_w:g} W",
                )
            )
        return lines + list(self._notes)
