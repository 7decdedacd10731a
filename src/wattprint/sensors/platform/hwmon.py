"""Whole-machine power meters in Linux hwmon (``/sys/class/hwmon``).

Layout read (``/sys/class/hwmon`` unless another ``root`` is given, which is
how the tests hand us a fake tree)::

    hwmon3/name                   "power_meter"  (ACPI 4.0 power meter: the whole system)
    hwmon3/power1_average         µW, averaged by the meter
    hwmon3/power1_average_interval  ms, the averaging window
    hwmon3/power1_accuracy        "95.0%" (→ ±5 %)
    hwmon3/power1_input           µW, instantaneous (when no average is offered)
    hwmon3/energy1_input          µJ, cumulative (preferred when present)
    hwmon7/name                   a PMBus power supply ("pmbus", "ibm-cffps" ...)
    hwmon7/power1_label           "pin": the supply's input power

Which devices are the whole machine: ACPI power meters (driver name
``power_meter``), each its own channel, unless their ``power1_oem_info`` names a
part (NVIDIA Grace has one meter per socket and module), and the input power (label ``pin``)
of every power supply, summed into one channel (redundant supplies share the
load, so the machine draws the sum). Every other device with power files
(``amdgpu``, ``amd_energy``, board rails) measures a component: it gets a
doctor line and is not used here, so nothing is counted twice.

An energy counter that falls (driver reload, a 32-bit counter wrapping inside
the driver) is taken as a restart: the new value is what was used since, and
a note is recorded. Files are kept open and re-read with ``os.pread``.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from wattprint._record import Record
from wattprint.sensors.base import Availability, Channel, Kind, Method, Sensor, SensorError
from wattprint.sensors.platform import WHOLE

__all__ = ["BAND_METER", "DEFAULT_ROOT", "HwmonSensor", "PSU_DRIVERS"]

DEFAULT_ROOT = "/sys/class/hwmon"
METER_DRIVERS = ("power_meter",)
# PMBus supply drivers whose "pin" reading is the supply's AC/DC input (Linux Documentation/hwmon/*).
PSU_DRIVERS = ("pmbus", "ibm-cffps", "dps920ab", "fsp-3y", "bel-pfe", "acbel-fsg032", "inspur-ipsps1",
               "lt7182s", "q54sj108a2", "pim4328", "delta-ahe50dc-fan")
# Without a stated accuracy: ±5 %, the class of a BMC or PSU input meter at a
# meaningful load (PMBus telemetry is typically specified at 1-2 % of full
# scale, which is several % of a lightly loaded supply's reading).
BAND_METER = 0.05
RETRY_S = 1.0  # a lost meter file is reopened at most this often
DEFAULT_UPDATE_S = 1.0  # a meter that states no interval: assume it refreshes about every second
_READ_SIZE = 32
_FIX_READ = (
    "run as root, or give read access: sudo chmod a+r /sys/class/hwmon/hwmon*/power*_* "
    "/sys/class/hwmon/hwmon*/energy*_input (a udev rule makes it permanent)"
)


def _text(path: Path) -> str:
    with open(path, encoding="ascii", errors="replace") as f:
        return f.read().strip()


def _int(data: bytes) -> int:
    return int(data.split(b"\n", 1)[0])


class _Source(Record):
    """One open file: a power (µW) or energy (µJ) reading."""

    __slots__ = ("path", "fd", "energy", "last_raw", "total_uj", "retry_at")

    def __init__(self, path: Path, fd: int, energy: bool, last_raw: int) -> None:
        self.path = path
        self.fd = fd  # -1 while lost (read failed): reopened at most every ``retry_s``
        self.energy = energy
        self.last_raw = last_raw
        self.total_uj = 0
        self.retry_at = 0.0


class _Meter(Record):
    """One channel: one or more sources (several supplies sum into one)."""

    __slots__ = ("channel", "sources")

    def __init__(self, channel: Channel, sources: list[_Source]) -> None:
        self.channel = channel
        self.sources = sources


def _open_source(path: Path, energy: bool) -> _Source:
    """Open and read once; SensorError (with the fix) when it cannot be read."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise SensorError(f"cannot open {path}: {exc.strerror or exc}", fix=_FIX_READ) from exc
    try:
        raw = _int(os.pread(fd, _READ_SIZE, 0))
    except (OSError, ValueError) as exc:
        os.close(fd)
        raise SensorError(f"cannot read {path}: {exc}", fix=_FIX_READ) from exc
    if raw < 0:
        os.close(fd)
        raise SensorError(f"{path} reads {raw}, below zero")
    return _Source(path, fd, energy, raw)


def _accuracy_band(dev: Path, idx: str) -> float | None:
    try:
        text = _text(dev / f"power{idx}_accuracy").rstrip("%")
        acc = float(text)
    except (OSError, ValueError):
        return None
    return min(1.0, max(0.0, 1.0 - acc / 100.0)) if 0 < acc <= 100 else None


def _seconds(path: Path) -> float | None:
    try:
        ms = int(_text(path))
    except (OSError, ValueError):
        return None
    return ms / 1000.0 if ms > 0 else None


# ACPI meters that name a part in power1_oem_info (NVIDIA Grace: "Grace Power Socket 0",
# "Module Power Socket 0", "CPU Power", "SysIO Power") measure that part, not the machine.
_PART = re.compile(r"socket|module|cpu|sysio|dram|memory|gpu", re.IGNORECASE)


def _part_meter(dev: Path) -> str | None:
    try:
        info = _text(dev / "power1_oem_info")
    except OSError:
        return None
    return info[:80] if _PART.search(info) else None


class HwmonSensor(Sensor):
    """Whole-machine channels from hwmon: ``platform:hwmon-<dev>`` per ACPI meter, ``platform:psu-input``.

    Raises :class:`SensorError` when ``root`` holds no whole-machine meter, or
    none can be read (the message says which devices were seen and why they
    were not used; :meth:`describe` lists them too).
    """

    def __init__(self, root: str | Path = DEFAULT_ROOT, *, retry_s: float = RETRY_S) -> None:
        super().__init__(name="hwmon")
        self._root = Path(root)
        self.retry_s = retry_s
        self._meters: list[_Meter] = []
        self._lines: list[Availability] = []
        if not self._root.is_dir():
            raise SensorError(f"no hwmon: {self._root} does not exist",
                              fix="Linux only; the ACPI meter needs the acpi_power_meter module")
        try:
            self._discover()
        except BaseException:
            self.close()
            raise
        if not self._meters:
            seen = "; ".join(a.detail for a in self._lines) or "no hwmon devices"
            raise SensorError(
                f"no whole-machine power meter under {self._root} ({seen})",
                fix="on servers with an ACPI power meter: sudo modprobe acpi_power_meter; "
                "or read the BMC with IPMI or Redfish",
            )
        self.channels = [m.channel for m in self._meters]

    def _discover(self) -> None:
        psu: list[tuple[str, _Source]] = []
        for dev in sorted(self._root.iterdir(), key=lambda p: [int(x) for x in re.findall(r"\d+", p.name)]):
            try:
                driver = _text(dev / "name")
            except OSError:
                continue  # not a device directory (or no name): nothing to say
            label = f"{dev.name} ({driver})"
            if driver in METER_DRIVERS and (part := _part_meter(dev)):
                self._lines.append(Availability(f"hwmon {dev.name}", False, f"{label}: meters a part of the "
                                                f"machine ({part!r}), not the whole; not used as a platform meter"))
            elif driver in METER_DRIVERS:
                self._open_meter(dev, driver, label)
            elif driver in PSU_DRIVERS:
                found = self._psu_input(dev, label)
                if found is not None:
                    psu.append((dev.name, found))
            elif any(dev.glob("power*_*")) or any(dev.glob("energy*_input")):
                self._lines.append(Availability(
                    f"hwmon {dev.name}", False,
                    f"{label}: measures a component (not the whole machine); not used as a platform meter",
                ))
        if psu:
            names = ", ".join(n for n, _ in psu)
            channel = Channel(
                "platform:psu-input", WHOLE, Method.POWER_INTEGRATED, Kind.POWER, BAND_METER, False,
                f"input power of {len(psu)} power suppl{'ies' if len(psu) > 1 else 'y'} ({names}), summed; "
                "whole machine as drawn from the wall",
                DEFAULT_UPDATE_S,
            )
            self._meters.append(_Meter(channel, [s for _, s in psu]))

    def _open_meter(self, dev: Path, driver: str, label: str) -> None:
        """An ACPI meter: its energy counter, else its averaged power, else its instantaneous power."""
        name = f"platform:hwmon-{dev.name}"
        errors: list[str] = []
        fix = ""
        for pattern, energy in (("energy*_input", True), ("power*_average", False), ("power*_input", False)):
            for path in sorted(dev.glob(pattern)):
                idx = re.sub(r"\D", "", path.name.split("_")[0])
                try:
                    source = _open_source(path, energy)
                except SensorError as exc:
                    errors.append(str(exc))
                    fix = exc.fix
                    continue
                self._meters.append(_Meter(self._meter_channel(name, dev, idx, path, energy, label), [source]))
                return
        why = "; ".join(errors) if errors else "no power*_average, power*_input or energy*_input file"
        self._lines.append(Availability(f"hwmon {dev.name}", False, f"{label}: {why}", fix))

    def _meter_channel(self, name: str, dev: Path, idx: str, path: Path, energy: bool, label: str) -> Channel:
        band = _accuracy_band(dev, idx) or BAND_METER
        window = None if energy else _seconds(dev / f"power{idx}_average_interval")
        update = _seconds(dev / "update_interval") or window or DEFAULT_UPDATE_S
        period = max(update, window or 0.0)
        if energy:
            method, kind, how = Method.COUNTER, Kind.ENERGY, f"energy counter {path.name}"
        elif window is not None:
            method, kind, how = Method.POWER_INTEGRATED, Kind.POWER, f"{path.name}, averaged over {window:g} s"
        else:
            method, kind, how = Method.POWER_INTEGRATED, Kind.POWER, f"{path.name} (instantaneous)"
        short = "; windows shorter than that are estimated" if period > 0.1 else ""
        detail = f"{label}: {how}; refreshed about every {period:g} s{short}; whole machine"
        return Channel(name, WHOLE, method, kind, band, False, detail, period)

    def _psu_input(self, dev: Path, label: str) -> _Source | None:
        for lab in sorted(dev.glob("power*_label")):
            try:
                if _text(lab).lower() != "pin":
                    continue
            except OSError:
                continue
            idx = lab.name.split("_")[0]
            for suffix in ("_average", "_input"):
                path = dev / f"{idx}{suffix}"
                if path.exists():
                    try:
                        return _open_source(path, False)
                    except SensorError as exc:
                        self._lines.append(Availability(f"hwmon {dev.name}", False, f"{label}: {exc}", exc.fix))
                        return None
        self._lines.append(Availability(f"hwmon {dev.name}", False, f"{label}: power supply without an input ('pin') "
                                        "power reading; not used"))
        return None

    # -- reading ---------------------------------------------------------------

    def read(self) -> dict[str, float]:
        """Watts (power meters, summed supplies) or cumulative joules (energy counters).

        A meter whose file cannot be read (EIO, the device gone, garbage) is left out
        of the reading with one fault, and its file reopened at most every
        ``retry_s`` until it reads again (then a note; an energy counter counts on
        from its new value).
        """
        out: dict[str, float] = {}
        for m in self._meters:
            value = 0.0
            for s in m.sources:
                raw = self._raw(m, s)
                if raw is None:
                    break
                if s.energy:
                    delta = raw - s.last_raw
                    if delta < 0:  # restarted or wrapped inside the driver: count what came since
                        msg = f"{s.path} fell from {s.last_raw} to {raw} µJ: counter restarted; counting on from it"
                        self.notes = [*self.notes, (m.channel.name, msg)]
                        delta = raw
                    s.total_uj += delta
                    s.last_raw = raw
                    value += s.total_uj / 1e6
                else:
                    value += raw / 1e6
            else:
                out[m.channel.name] = value
        return out

    def _raw(self, m: _Meter, s: _Source) -> int | None:
        """One source's integer reading, or None while it is lost."""
        if s.fd < 0:
            now = time.monotonic()
            if now < s.retry_at:
                return None
            s.retry_at = now + self.retry_s
            try:
                fresh = _open_source(s.path, s.energy)
            except SensorError:
                return None
            s.fd = fresh.fd
            if s.energy:
                s.last_raw = fresh.last_raw  # what it counted while lost is not known: count on from here
            self.notes = [*self.notes, (m.channel.name, f"{s.path} reads again")]
            return fresh.last_raw
        try:
            raw = _int(os.pread(s.fd, _READ_SIZE, 0))
        except (OSError, ValueError) as exc:
            self._lose(m, s, f"cannot read {s.path}: {exc}")
            return None
        if raw < 0:
            self._lose(m, s, f"{s.path} read {raw}, below zero")
            return None
        return raw

    def _lose(self, m: _Meter, s: _Source, message: str) -> None:
        self.faults.append((m.channel.name, f"{message}; retrying every {self.retry_s:g} s"))
        try:
            os.close(s.fd)
        except OSError:
            pass
        s.fd, s.retry_at = -1, time.monotonic() + self.retry_s

    def close(self) -> None:
        """Close the files. Safe to call twice."""
        for m in self._meters:
            for s in m.sources:
                if s.fd >= 0:
                    try:
                        os.close(s.fd)
                    except OSError:
                        pass
                    s.fd = -1

    def describe(self) -> list[Availability]:
        """One line per channel, then one per device seen and not used."""
        return [
            Availability(f"hwmon {m.channel.name}", True,
                         f"{m.channel.method} (±{m.channel.band:.0%}); {m.channel.detail}")
            for m in self._meters
        ] + list(self._lines)
