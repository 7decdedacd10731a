"""Modelled CPU/RAM sensor and the CPU TDP table."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from collections import namedtuple
from importlib import resources
from pathlib import Path

import pytest

from wattprint.sensors.base import Kind, Method, SensorError
from wattprint.sensors.cpu.host import CpuInfo, detect_cpu
from wattprint.sensors.cpu.model import (
    BAND_CPU_DEFAULT,
    BAND_CPU_TABLE,
    BAND_RAM,
    DEFAULT_W_PER_THREAD,
    RAM_W_PER_GB,
    ModelSensor,
    choose_tdp,
    cpu_power_fraction,
)
from wattprint.sensors.hwdb import load_cpu_table, match_cpu, normalise_cpu_name

SRC = Path(__file__).resolve().parent.parent / "src"

# -- the table and the matcher -------------------------------------------------

REAL_NAMES = [
    # (what the OS reports, expected row, TDP W)
    ("AMD EPYC 7763 64-Core Processor", "AMD EPYC 7763", 280),
    ("AMD EPYC 9654 96-Core Processor", "AMD EPYC 9654", 360),
    ("Intel(R) Xeon(R) Platinum 8480+", "Intel Xeon Platinum 8480+", 350),
    ("Intel(R) Xeon(R) Platinum 8259CL CPU @ 2.50GHz", "Intel Xeon Platinum 8259CL", 210),
    ("Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz", "Intel Xeon Gold 6248", 150),
    ("Intel(R) Xeon(R) CPU E5-2686 v4 @ 2.30GHz", "Intel Xeon E5-2686 v4", 145),
    ("Intel(R) Core(TM) i7-7600U CPU @ 2.80GHz", "Intel Core i7-7600U", 15),
    ("Intel(R) Core(TM) i7-8700K CPU @ 3.70GHz", "Intel Core i7-8700K", 95),
    ("13th Gen Intel(R) Core(TM) i5-1335U", "Intel Core i5-1335U", 55),
    ("Intel(R) Core(TM) Ultra 7 155H", "Intel Core Ultra 7 155H", 28),
    ("AMD Ryzen 9 7950X 16-Core Processor", "AMD Ryzen 9 7950X", 170),
    ("AMD Ryzen 7 PRO 4750U with Radeon Graphics", "AMD Ryzen 7 PRO 4750U", 15),
    ("AMD Ryzen 7 7840HS w/ Radeon 780M Graphics", "AMD Ryzen 7 7840HS", 54),
    ("AMD Ryzen Threadripper PRO 5995WX 64-Cores", "AMD Ryzen Threadripper PRO 5995WX", 280),
    ("AMD A8-7600 Radeon R7, 10 Compute Cores 4C+6G", "AMD A8-7600", 65),
    ("Apple M2 Max", "Apple M2 Max", 50),
]

NO_MATCH = [
    "Intel(R) Xeon(R) Processor",  # KVM guest (this project's CI VM)
    "Intel Xeon Processor (Icelake)",  # QEMU named model
    "Intel(R) Xeon(R) CPU @ 2.20GHz",  # GCP: brand and clock only
    "AMD EPYC Processor (with IBPB)",
    "QEMU Virtual CPU version 2.5+",
    "Common KVM processor",
    "Apple M1 Pro",  # "M1" exists, but "Pro" is another part: never fall back to it
    "Intel(R) Xeon(R) Platinum 8480C",  # a suffix the table does not have
    "",
]


@pytest.mark.parametrize(("reported", "row", "tdp"), REAL_NAMES)
def test_real_model_strings_match(reported: str, row: str, tdp: float) -> None:
    m = match_cpu(reported)
    assert m is not None, reported
    assert (m.row.name, m.row.tdp_w) == (row, tdp)


@pytest.mark.parametrize("reported", NO_MATCH)
def test_names_without_a_known_model_number_do_not_match(reported: str) -> None:
    assert match_cpu(reported) is None


def test_token_match_needs_the_model_number_and_allows_family_words() -> None:
    m = match_cpu("Intel Xeon 8480+")  # "Platinum" missing from the query
    assert m is not None and m.how == "tokens" and m.row.name == "Intel Xeon Platinum 8480+"
    assert match_cpu("Intel Xeon Platinum") is None  # brand words only
    assert match_cpu("Intel Xeon Gold 6249") is None  # no such part


def test_normalise() -> None:
    assert normalise_cpu_name("Intel(R) Xeon(R) Platinum 8480+ CPU @ 2.00GHz") == (
        "intel xeon platinum 8480+"
    )
    assert normalise_cpu_name("AMD EPYC 7763 64-Core Processor") == "amd epyc 7763"
    assert normalise_cpu_name("  AMD  7th Gen AMD PRO A10-9700B APU ") == "amd pro a10-9700b"


def test_table_is_consistent_and_covers_servers_desktops_laptops() -> None:
    rows = load_cpu_table()
    assert 4000 < len(rows) < 6000
    keys = [r.key for r in rows]
    assert len(set(keys)) == len(keys)
    for r in rows:
        assert r.key == normalise_cpu_name(r.name), r
        assert 1.0 <= r.tdp_w <= 1000.0, r
        assert r.source == "codecarbon-3.3.2"
    names = " | ".join(r.name for r in rows)
    for family in ("AMD EPYC 9", "Xeon Platinum 8", "Xeon Gold 6", "Core i9-", "Ryzen 9",
                   "Core i7-1", "Apple M3"):
        assert family in names, family
    header = next(csv.reader(
        resources.files("wattprint.sensors.hwdb").joinpath("cpu_tdp.csv")
        .read_text(encoding="utf-8").splitlines()
    ))
    assert header == ["name", "key", "tdp_w", "source"]


def test_table_is_not_read_at_import() -> None:
    code = (
        "import wattprint.sensors.cpu.model, wattprint.sensors.cpu.choice, wattprint.sensors.hwdb as h;"
        "print(h.load_cpu_table.cache_info().currsize)"
    )
    env = dict(os.environ, PYTHONPATH=str(SRC))
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert out.stdout.strip() == "0"


# -- choosing the TDP --------------------------------------------------------------


def test_vm_string_uses_the_flagged_default() -> None:
    c = choose_tdp(CpuInfo("Intel(R) Xeon(R) Processor", logical_cpus=2, virtual=True))
    assert c.default_used and c.watts == 2 * DEFAULT_W_PER_THREAD
    assert c.band == BAND_CPU_DEFAULT
    assert f"unknown CPU model: default {DEFAULT_W_PER_THREAD:g} W/thread used" in c.reason


def test_no_model_name_uses_the_default() -> None:
    c = choose_tdp(CpuInfo(None, logical_cpus=8))
    assert c.default_used and c.watts == 8 * DEFAULT_W_PER_THREAD
    assert "unknown CPU model" in c.reason


def test_bare_metal_known_model_times_sockets() -> None:
    c = choose_tdp(CpuInfo("AMD EPYC 7763 64-Core Processor", logical_cpus=256, sockets=2))
    assert not c.default_used and c.watts == 560.0 and c.band == BAND_CPU_TABLE
    assert "'AMD EPYC 7763'" in c.reason and "2 sockets" in c.reason


def test_vm_on_known_model_is_charged_its_threads_capped_at_the_package() -> None:
    small = choose_tdp(CpuInfo("AMD EPYC 7763 64-Core Processor", logical_cpus=4, virtual=True))
    assert small.watts == 4 * DEFAULT_W_PER_THREAD and small.default_used
    assert "virtual machine" in small.reason and "'AMD EPYC 7763'" in small.reason
    big = choose_tdp(CpuInfo("Intel(R) Core(TM) i7-7600U CPU @ 2.80GHz", 64, virtual=True))
    assert big.watts == 15.0  # never more than the package it runs on


def test_user_tdp_wins_and_bad_values_are_errors() -> None:
    c = choose_tdp(CpuInfo("Intel(R) Xeon(R) Processor", 2), tdp_w=95)
    assert c.watts == 95 and not c.default_used and "set by the user" in c.reason
    for bad in (0, -1.0, float("nan")):
        with pytest.raises(SensorError, match="positive number of watts"):
            choose_tdp(CpuInfo(None, 2), tdp_w=bad)


def test_detect_cpu_from_a_cpuinfo_file(tmp_path: Path) -> None:
    block = (
        "processor\t: {n}\nvendor_id\t: GenuineIntel\n"
        "model name\t: Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz\nphysical id\t: {p}\n"
        "flags\t\t: fpu vme de pse{extra}\n\n"
    )
    f = tmp_path / "cpuinfo"
    f.write_text("".join(block.format(n=i, p=i % 2, extra="") for i in range(4)))
    info = detect_cpu(f)
    assert info.model_name == "Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz"
    assert info.sockets == 2 and info.virtual is False and info.vendor == "intel"
    f.write_text(block.format(n=0, p=0, extra=" hypervisor"))
    assert detect_cpu(f).virtual is True
    for vendor_id, vendor in (("AuthenticAMD", "amd"), ("HygonGenuine", "amd"), ("CentaurHauls", None)):
        f.write_text(block.format(n=0, p=0, extra="").replace("GenuineIntel", vendor_id))
        assert detect_cpu(f).vendor == vendor


# -- the load curve and the integration -------------------------------------------


def test_load_curve_points_and_interpolation() -> None:
    assert cpu_power_fraction(0.0) == pytest.approx(0.12)
    assert cpu_power_fraction(0.1) == pytest.approx(0.32)
    assert cpu_power_fraction(0.5) == pytest.approx(0.75)
    assert cpu_power_fraction(1.0) == pytest.approx(1.02)
    assert cpu_power_fraction(0.3) == pytest.approx(0.32 + (0.75 - 0.32) * 0.5)
    assert cpu_power_fraction(-1) == pytest.approx(0.12)
    assert cpu_power_fraction(2) == pytest.approx(1.02)


Times = namedtuple(
    "Times",
    "user nice system idle iowait irq softirq steal guest guest_nice",
)


class FakeHost:
    """cpu_times() and a monotonic clock the test moves by hand (4 logical CPUs)."""

    def __init__(self) -> None:
        self.t = {f: 0.0 for f in Times._fields}
        self.ns = 5_000_000_000

    def cpu_times(self) -> Times:
        return Times(**self.t)

    def clock(self) -> int:
        return self.ns

    def run(self, seconds: float, busy_cpus: float, cpus: int = 4, **extra: float) -> None:
        """Advance time; ``busy_cpus`` of ``cpus`` busy in user time, the rest idle."""
        self.ns += int(seconds * 1e9)
        self.t["user"] += busy_cpus * seconds
        self.t["idle"] += (cpus - busy_cpus) * seconds
        for k, v in extra.items():
            self.t[k] += v


def make_sensor(host: FakeHost, tdp_w: float = 100.0, **kw: object) -> ModelSensor:
    return ModelSensor(
        tdp_w=tdp_w,
        cpu_info=CpuInfo("test", 4),
        ram_bytes=16 * 1024**3,
        cpu_times=host.cpu_times,
        clock=host.clock,
        **kw,  # type: ignore[arg-type]
    )


def test_cpu_energy_is_tdp_times_curve_times_dt() -> None:
    host = FakeHost()
    s = make_sensor(host)
    host.run(10.0, busy_cpus=2)  # 50 % load for 10 s
    e1 = s.read()["cpu:model"]
    assert e1 == pytest.approx(100.0 * 0.75 * 10.0)
    assert s.last_load == pytest.approx(0.5)
    host.run(5.0, busy_cpus=4)  # 100 % for 5 s
    assert s.read()["cpu:model"] == pytest.approx(e1 + 100.0 * 1.02 * 5.0)
    host.run(20.0, busy_cpus=0)  # idle: the floor, not zero
    assert s.read()["cpu:model"] == pytest.approx(e1 + 510.0 + 100.0 * 0.12 * 20.0)


def test_interval_without_a_tick_is_charged_at_the_next_read() -> None:
    host = FakeHost()
    s = make_sensor(host)
    host.ns += 3_000_000  # 3 ms later, cpu_times has not moved
    assert s.read()["cpu:model"] == 0.0
    host.run(1.0, busy_cpus=4)
    # the whole 1.003 s is charged at the load measured over it
    assert s.read()["cpu:model"] == pytest.approx(100.0 * 1.02 * 1.003)


def test_steal_counts_as_idle_and_guest_is_not_counted_twice() -> None:
    host = FakeHost()
    s = make_sensor(host)
    # 10 s on 4 CPUs: 10 CPU-s user (of which 8 s guest, already inside user), 10 steal, 20 idle
    host.ns += 10_000_000_000
    host.t["user"] += 10
    host.t["guest"] += 8
    host.t["steal"] += 10
    host.t["idle"] += 20
    s.read()
    assert s.last_load == pytest.approx(0.25)


def test_ram_energy_is_gib_times_figure_times_dt() -> None:
    host = FakeHost()
    s = make_sensor(host)
    host.run(100.0, busy_cpus=1)
    assert s.read()["ram"] == pytest.approx(16 * RAM_W_PER_GB * 100.0)
    ram = next(c for c in s.channels if c.name == "ram")
    assert ram.component == "ram" and ram.band == BAND_RAM
    assert ram.method is Method.MODELLED and ram.kind is Kind.ENERGY


def test_channels_can_be_chosen() -> None:
    host = FakeHost()
    assert [c.name for c in make_sensor(host, cpu=False).channels] == ["ram"]
    assert [c.name for c in make_sensor(host, ram=False).channels] == ["cpu:model"]
    with pytest.raises(SensorError):
        make_sensor(host, cpu=False, ram=False)


def test_describe_says_which_tdp_was_used() -> None:
    host = FakeHost()
    s = ModelSensor(
        cpu_info=CpuInfo("Intel(R) Xeon(R) Processor", 2, virtual=True),
        ram_bytes=8 * 1024**3,
        cpu_times=host.cpu_times,
        clock=host.clock,
    )
    lines = s.describe()
    assert all(a.available for a in lines)
    assert "unknown CPU model: default 4 W/thread used" in lines[0].detail
    assert "±75%" in lines[0].detail
    assert "8.0 GiB" in lines[1].detail


def test_a_failing_cpu_times_is_a_fault_not_an_exception() -> None:
    host = FakeHost()
    calls = {"n": 0}

    def flaky() -> Times:
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("/proc/stat vanished")
        return host.cpu_times()

    s = ModelSensor(
        tdp_w=50, cpu_info=CpuInfo("x", 4), ram_bytes=1024**3, cpu_times=flaky, clock=host.clock
    )
    host.run(1.0, busy_cpus=4)
    r = s.read()
    assert r["cpu:model"] == 0.0 and s.faults and "vanished" in s.faults[0][1]
    assert r["ram"] > 0
    assert s.read()["cpu:model"] == pytest.approx(50 * 1.02)


def test_real_host_readings_are_monotonic() -> None:
    s = ModelSensor()  # real psutil and /proc/cpuinfo; no timing assertion
    a = s.read()
    sum(i * i for i in range(200_000))
    b = s.read()
    assert set(a) == set(b) == {"cpu:model", "ram"}
    assert all(b[k] >= a[k] >= 0 for k in a)


def test_every_table_key_has_a_model_number_so_brand_only_names_need_no_table() -> None:
    """match_cpu() answers brand-only names without loading the table; that is only
    safe while no key is brand words alone."""
    from wattprint.sensors.hwdb import load_cpu_table, model_tokens

    assert all(model_tokens(row.key) for row in load_cpu_table())


def test_proc_stat_reader_agrees_with_psutil_and_its_fast_path() -> None:
    """The /proc/stat reader is the real hardware boundary on Linux: check it against psutil."""
    import psutil
    import pytest as _pytest

    from wattprint.sensors.cpu.model import ProcStatTimes, _busy_total

    if not os.path.exists("/proc/stat"):
        _pytest.skip("no /proc/stat on this OS")
    reader = ProcStatTimes()
    ours, theirs = reader(), psutil.cpu_times()._asdict()
    for k, v in ours.items():
        assert abs(v - theirs[k]) < 2.0, k  # a second or two of ticks may pass between reads
    busy, total = reader.busy_total()
    slow_busy, slow_total = _busy_total(reader())
    assert abs(busy - slow_busy) < 2.0 and abs(total - slow_total) < 4.0
    reader.close()
