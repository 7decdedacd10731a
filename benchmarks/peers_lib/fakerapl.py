"""A simulated powercap (RAPL) tree whose counters follow a known power profile.

The tree is laid out like ``/sys/class/powercap`` on a one-socket Intel host::

    <root>/intel-rapl/                      control type; ``subsystem`` -> <root>
    <root>/intel-rapl/intel-rapl:0/         name "package-0", energy_uj, max_energy_range_uj,
                                            constraint_0_max_power_uw
    <root>/intel-rapl/intel-rapl:0/intel-rapl:0:0/   name "dram"
    <root>/intel-rapl:0 -> intel-rapl/intel-rapl:0            (flat links, as sysfs has)
    <root>/intel-rapl:0:0 -> intel-rapl/intel-rapl:0/intel-rapl:0:0

A writer (run in the parent process while the tracker runs in another process) rewrites
``energy_uj`` in place about every millisecond. Values are zero-padded to a fixed width
and written with one ``pwrite`` at offset 0, so a reader that keeps the file open and
``pread``s it (as wattprint does) or reopens it (as CodeCarbon does) always sees a whole
number. The truth is the exact sum of the integer microjoule steps actually written.
"""

from __future__ import annotations

import bisect
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

WIDTH = 20  # digits written per value; int() accepts the leading zeros


@dataclass
class Zone:
    """One counter: its directory, wrap range, start value, and the written truth (µJ)."""

    path: Path
    name: str
    max_range_uj: int
    value_uj: int
    fd: int = -1
    truth_uj: int = 0
    wraps: int = 0
    frac_uj: float = 0.0


@dataclass
class Profile:
    """Piecewise-constant power per zone: a list of (seconds, {zone name: watts})."""

    steps: list[tuple[float, dict[str, float]]]

    @property
    def duration_s(self) -> float:
        return sum(s for s, _ in self.steps)

    def exact_joules(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for secs, watts in self.steps:
            for name, w in watts.items():
                out[name] = out.get(name, 0.0) + secs * w
        return out


@dataclass
class FakeRapl:
    root: Path
    zones: dict[str, Zone] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        root: Path,
        *,
        package_range_j: float,
        package_start_j: float,
        dram_range_j: float,
        dram_start_j: float,
        package_max_w: float,
    ) -> FakeRapl:
        root.mkdir(parents=True, exist_ok=True)
        ctl = root / "intel-rapl"
        pkg = ctl / "intel-rapl:0"
        dram = pkg / "intel-rapl:0:0"
        dram.mkdir(parents=True)
        os.symlink("..", ctl / "subsystem")
        os.symlink("intel-rapl/intel-rapl:0", root / "intel-rapl:0")
        os.symlink("intel-rapl/intel-rapl:0/intel-rapl:0:0", root / "intel-rapl:0:0")
        (ctl / "enabled").write_text("1\n")
        self = cls(root)
        for zdir, name, rng, start in (
            (pkg, "package-0", package_range_j, package_start_j),
            (dram, "dram", dram_range_j, dram_start_j),
        ):
            rng_uj = int(rng * 1e6)
            (zdir / "name").write_text(name + "\n")
            (zdir / "max_energy_range_uj").write_text(f"{rng_uj}\n")
            (zdir / "enabled").write_text("1\n")
            if name.startswith("package"):
                (zdir / "constraint_0_name").write_text("long_term\n")
                (zdir / "constraint_0_max_power_uw").write_text(f"{int(package_max_w * 1e6)}\n")
            z = Zone(zdir, name, rng_uj, int(start * 1e6))
            (zdir / "energy_uj").write_text(_fmt(z.value_uj))
            z.fd = os.open(zdir / "energy_uj", os.O_WRONLY)
            self.zones[name] = z
        return self

    def advance(self, name: str, joules: float) -> None:
        """Add energy to a zone (wrapping like the kernel: modulus = range + 1 µJ)."""
        z = self.zones[name]
        z.frac_uj += joules * 1e6
        step = int(z.frac_uj)
        if step <= 0:
            return
        z.frac_uj -= step
        z.truth_uj += step
        v = z.value_uj + step
        modulus = z.max_range_uj + 1
        if v >= modulus:
            z.wraps += v // modulus
            v %= modulus
        z.value_uj = v
        os.pwrite(z.fd, _fmt(v).encode(), 0)

    def play(self, profile: Profile, period_s: float = 0.001) -> dict[str, float]:
        """Drive the counters through ``profile`` in real time; return elapsed seconds.

        Every write is logged as (monotonic time after the write, {zone: cumulative µJ}),
        so :meth:`written_at` can say what any reader could have seen at a given time.
        """
        t_start = time.monotonic()
        self.t_start = t_start
        self.log: list[tuple[float, dict[str, int]]] = [(t_start, self._cum())]
        last = t_start
        seg_end = t_start
        for secs, watts in profile.steps:
            seg_end += secs
            while True:
                now = min(time.monotonic(), seg_end)
                dt = now - last
                last = now
                for name, w in watts.items():
                    self.advance(name, w * dt)
                self.log.append((time.monotonic(), self._cum()))
                if now >= seg_end:
                    break
                time.sleep(period_s)
        return {"elapsed_s": time.monotonic() - t_start}

    def _cum(self) -> dict[str, int]:
        return {name: z.truth_uj for name, z in self.zones.items()}

    def written_at(self, t: float, zone: str, *, before: bool) -> float:
        """Cumulative joules written to ``zone`` as a reader at monotonic ``t`` may see them.

        ``before=True``: the last value surely complete by ``t`` (writes that ended by
        ``t``); ``before=False``: the largest value that may be visible at ``t`` (the write
        in progress at ``t`` counted too). Together they bracket what was read.
        """
        times = [tw for tw, _ in self.log]
        i = bisect.bisect_right(times, t)
        if before:
            idx = max(0, i - 1)
        else:
            idx = min(len(self.log) - 1, i)
        return self.log[idx][1][zone] / 1e6

    def truth_j(self) -> dict[str, float]:
        return {name: z.truth_uj / 1e6 for name, z in self.zones.items()}

    def close(self) -> None:
        for z in self.zones.values():
            if z.fd >= 0:
                os.close(z.fd)
                z.fd = -1


def _fmt(v: int) -> str:
    return f"{v:0{WIDTH}d}\n"
