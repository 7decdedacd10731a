"""Whole-machine power from the local BMC: IPMI DCMI ``Get Power Reading`` through ``ipmitool``.

``ipmitool dcmi power reading`` prints (in-band, through ``/dev/ipmi0``)::

        Instantaneous power reading:                   220 Watts
        Minimum during sampling period:                 40 Watts
        Maximum during sampling period:                432 Watts
        Average power reading over sample period:      219 Watts
        IPMI timestamp:                           Thu Jan  1 00:00:00 2026
        Sampling period:                          00000001 Seconds.
        Power reading state is:                   activated

The in-band device is root only (``/dev/ipmi0`` is mode 600), which ``wattprint
doctor`` says. The BMC refreshes its figure every 1-10 s and the command takes
tens of milliseconds to seconds, so the reading runs on a thread of its own
(:mod:`.poll`) with a timeout on every call; the sampler integrates the watts.
The average over the sampling period is used when that period is at most
:data:`MAX_AVERAGE_S` (the instantaneous figure otherwise, since a long average
lags the work by most of its length).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from collections.abc import Sequence

from wattprint._record import FrozenRecord
from wattprint.sensors.base import Availability, Channel, Kind, Method, SensorError
from wattprint.sensors.platform import WHOLE
from wattprint.sensors.platform.poll import PolledSensor

__all__ = ["BAND_DCMI", "DEVICE_PATHS", "DcmiReading", "IpmiSensor", "parse_dcmi"]

DEVICE_PATHS = ("/dev/ipmi0", "/dev/ipmi/0", "/dev/ipmidev/0")
COMMAND = ("dcmi", "power", "reading")
TIMEOUT_S = 3.0
EVERY_S = 2.0
MAX_AVERAGE_S = 10.0
# BMC power readings come from the supplies' PMBus telemetry; vendors state about ±5 %
# at meaningful load (and worse near idle), so ±5 % plus the lag of the refresh period.
BAND_DCMI = 0.05
FIX_ROOT = "IPMI in-band access needs root: run wattprint as root, or use Redfish (redfish_url) instead"
FIX_TOOL = ("install ipmitool (apt install ipmitool / dnf install ipmitool), load ipmi_devintf "
            "(sudo modprobe ipmi_devintf) and run as root (the in-band device is root only)")

_LINE = re.compile(r"^\s*([^:]+?)\s*:\s*(.*?)\s*$")


class DcmiReading(FrozenRecord):
    """One parsed answer: watts, the BMC's sampling period (s, None if unsaid), whether active."""

    __slots__ = ("instant_w", "average_w", "period_s", "active")
    instant_w: float | None
    average_w: float | None
    period_s: float | None
    active: bool

    def __init__(self, instant_w: float | None, average_w: float | None, period_s: float | None,
                 active: bool) -> None:
        super().__init__(instant_w, average_w, period_s, active)

    def watts(self) -> float:
        """The figure used: the average over a short sampling period, else the instantaneous one."""
        if self.average_w is not None and self.period_s is not None and self.period_s <= MAX_AVERAGE_S:
            return self.average_w
        if self.instant_w is not None:
            return self.instant_w
        raise ValueError("no power figure in the DCMI answer")


def _watts(text: str) -> float | None:
    m = re.match(r"^(\d+(?:\.\d+)?)\s*Watts?\b", text, re.IGNORECASE)
    return float(m.group(1)) if m else None


def parse_dcmi(text: str) -> DcmiReading:
    """Parse ``ipmitool dcmi power reading``; ValueError (one line) for anything else."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        m = _LINE.match(line)
        if m:
            fields[m.group(1).lower()] = m.group(2)
    instant = _watts(fields.get("instantaneous power reading", ""))
    average = _watts(fields.get("average power reading over sample period", ""))
    period = None
    pm = re.match(r"^(\d+)\s*Seconds?", fields.get("sampling period", ""), re.IGNORECASE)
    if pm:
        period = float(int(pm.group(1)))
    state = fields.get("power reading state is", "").lower()
    if instant is None and average is None:
        first = text.strip().splitlines()[0][:120] if text.strip() else "(empty)"
        raise ValueError(f"not a DCMI power reading: {first!r}")
    for w in (instant, average):
        if w is not None and not 0 <= w < 1e6:
            raise ValueError(f"DCMI power {w} W is out of range")
    return DcmiReading(instant, average, period, state != "deactivated")


def _run(argv: list[str], timeout_s: float) -> tuple[int, bytes, bytes]:
    """Run ``argv`` in a session of its own; on timeout kill the whole group (a wrapper's children too)."""
    proc = subprocess.Popen(  # noqa: S603 - a fixed argument list, no shell
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            proc.kill()
        proc.communicate()
        raise
    return proc.returncode, out, err


class IpmiSensor(PolledSensor):
    """``platform:ipmi``: the BMC's whole-machine power (W), refreshed on a thread.

    ``program`` is the ipmitool to run (a name looked up on PATH, or a path);
    ``device_paths`` where the in-band device may be (tests point them at a
    temp dir); ``require_device=False`` tries even when none is found.
    Raises :class:`SensorError` with the fix when it cannot read a first figure.
    """

    def __init__(
        self,
        program: str = "ipmitool",
        *,
        device_paths: Sequence[str] = DEVICE_PATHS,
        require_device: bool = True,
        timeout_s: float = TIMEOUT_S,
        every_s: float = EVERY_S,
    ) -> None:
        super().__init__(name="ipmi")
        exe = shutil.which(program)
        if exe is None:
            raise SensorError(f"IPMI: {program} not found on PATH", fix=FIX_TOOL)
        if require_device and not any(os.path.exists(p) for p in device_paths):
            raise SensorError(f"IPMI: no in-band device ({', '.join(device_paths)}): no BMC, or ipmi_devintf "
                              "not loaded", fix=FIX_TOOL)
        if require_device and hasattr(os, "geteuid") and os.geteuid() != 0:
            raise SensorError("IPMI: the in-band device is readable by root only", fix=FIX_ROOT)
        self._argv = [exe, *COMMAND]
        self._timeout_s = timeout_s
        first = self._reading()
        if not first.active:
            raise SensorError("IPMI: the BMC says its DCMI power reading is deactivated",
                              fix="this BMC does not measure power over DCMI; try Redfish (redfish_url)")
        period = first.period_s if first.period_s and first.period_s <= MAX_AVERAGE_S else None
        update = max(every_s, period or 0.0)
        used = (f"average over the BMC's {first.period_s:g} s sampling period" if period
                else "instantaneous reading")
        self.channels = [Channel(
            "platform:ipmi", WHOLE, Method.POWER_INTEGRATED, Kind.POWER, BAND_DCMI, False,
            f"IPMI DCMI power reading ({used}) read every {every_s:g} s; windows shorter than "
            f"{update:g} s are estimated; whole machine as the BMC sees it",
            update,
        )]
        self.start(self._fetch, {"platform:ipmi": first.watts()}, every_s, max(3 * every_s, 2 * timeout_s + every_s))

    def _reading(self) -> DcmiReading:
        try:
            code, stdout, stderr = _run(self._argv, self._timeout_s)
        except subprocess.TimeoutExpired:
            raise SensorError(f"IPMI: ipmitool gave no answer within {self._timeout_s:g} s",
                              fix="check the BMC (ipmitool mc info); a busy BMC may need a longer timeout") from None
        except OSError as exc:
            raise SensorError(f"IPMI: cannot run ipmitool: {exc}", fix=FIX_TOOL) from None
        out = stdout.decode("utf-8", "replace")
        if code != 0:
            err = stderr.decode("utf-8", "replace").strip().splitlines()
            raise SensorError(f"IPMI: ipmitool failed (exit {code}): {err[-1][:160] if err else ''}",
                              fix=FIX_ROOT if "permission" in " ".join(err).lower() else FIX_TOOL)
        try:
            return parse_dcmi(out)
        except ValueError as exc:
            raise SensorError(f"IPMI: {exc}") from None

    def _fetch(self) -> dict[str, float]:
        return {"platform:ipmi": self._reading().watts()}

    def describe(self) -> list[Availability]:
        c = self.channels[0]
        return [Availability(f"ipmi {c.name}", True, f"{c.method} (±{c.band:.0%}); {c.detail}")]
