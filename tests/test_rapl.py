"""RAPL sensor against fake powercap trees laid out like the kernel's."""

from __future__ import annotations

import os
import pickle
import shutil
import tempfile
from pathlib import Path

import pytest

from powercap_tree import RANGE_UJ, Tree, two_socket_server
from wattprint.sensors.base import Kind, Method, SensorError
from wattprint.sensors.cpu.choice import open_cpu_sensors
from wattprint.sensors.cpu.model import ModelSensor
from wattprint.sensors.cpu.rapl import (
    BAND_DRAM,
    BAND_PACKAGE,
    BAND_PACKAGE_AMD,
    DEFAULT_MAX_POWER_W,
    SAFETY_FACTOR,
    RaplSensor,
)


class Clock:
    """Monotonic nanoseconds that move only when the test says so."""

    def __init__(self) -> None:
        self.ns = 1_000_000_000

    def __call__(self) -> int:
        return self.ns

    def advance(self, seconds: float) -> None:
        self.ns += int(seconds * 1e9)


def open_sensor(root: Path, **kw: object) -> RaplSensor:
    kw.setdefault("cpu_vendor", "intel")
    return RaplSensor(root, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("class_links", [False, True], ids=["nested", "sys-class-symlinks"])
def test_channels_of_a_two_socket_server(tmp_path: Path, class_links: bool) -> None:
    two_socket_server(tmp_path / "powercap", class_links=class_links)
    s = open_sensor(tmp_path / "powercap")
    try:
        by_name = {c.name: c for c in s.channels}
        assert sorted(by_name) == [
            "cpu:package-0",
            "cpu:package-1",
            "dram:package-0",
            "dram:package-1",
            "psys",
        ]
        for c in s.channels:
            assert c.method is Method.COUNTER and c.kind is Kind.ENERGY
        assert by_name["cpu:package-0"].component == "cpu"
        assert by_name["cpu:package-0"].band == BAND_PACKAGE
        assert by_name["dram:package-1"].component == "dram"
        assert by_name["dram:package-1"].band == BAND_DRAM
        assert by_name["psys"].in_total is False
        assert all(c.in_total for n, c in by_name.items() if n != "psys")
        assert s.read() == dict.fromkeys(by_name, 0.0)
        notes = " | ".join(a.detail for a in s.describe())
        assert "core of package-0" in notes and "uncore of package-1" in notes
        assert "MMIO" in notes
    finally:
        s.close()


def test_totals_exclude_core_uncore_and_psys(tmp_path: Path) -> None:
    t = two_socket_server(tmp_path)
    s = open_sensor(tmp_path)
    t.set("intel-rapl:0", 10_000_000)  # 10 J package-0
    t.set("intel-rapl:1", 20_000_000)  # 20 J package-1
    t.set("intel-rapl:0:2", 3_000_000)  # 3 J dram-0
    t.set("intel-rapl:1:2", 4_000_000)  # 4 J dram-1
    t.set("intel-rapl:0:0", 999_000_000)  # core/uncore/psys: must never reach the total
    t.set("intel-rapl:1:1", 999_000_000)
    t.set("intel-rapl:2", 999_000_000)
    t.set("intel-rapl-mmio:0", 999_000_000)
    r = s.read()
    in_total = {c.name for c in s.channels if c.in_total}
    assert sum(v for k, v in r.items() if k in in_total) == pytest.approx(37.0, abs=1e-9)
    assert r["cpu:package-0"] == 10.0 and r["dram:package-1"] == 4.0
    assert r["psys"] == 999.0  # read, but flagged in_total=False
    s.close()


def test_wrap_uses_range_plus_one(tmp_path: Path) -> None:
    t = Tree(tmp_path)
    t.zone("intel-rapl:0", "package-0", energy_uj=RANGE_UJ - 5, range_uj=RANGE_UJ)
    s = open_sensor(tmp_path)
    t.set("intel-rapl:0", 10)
    # 5 µJ up to the range, 1 µJ stepping from the range to 0, then 10 µJ.
    assert s.read()["cpu:package-0"] == 16 / 1e6
    s.close()


def test_many_wraps_over_a_sequence_of_reads_are_exact(tmp_path: Path) -> None:
    rng = 1_000_000  # a small range (1 J) so the test wraps dozens of times
    t = Tree(tmp_path)
    t.zone("intel-rapl:0", "package-0", energy_uj=123, range_uj=rng)
    clock = Clock()
    s = open_sensor(tmp_path, clock=clock)
    counter, expected = 123, 0
    for i in range(200):
        inc = (i * 7919) % rng  # any increment below one full range
        counter = (counter + inc) % (rng + 1)
        expected += inc
        t.set("intel-rapl:0", counter)
        clock.advance(s.max_interval_s or 0.0)  # reads as often as the sensor asks
        assert s.read()["cpu:package-0"] == expected / 1e6
    assert expected > 50 * rng  # many wraps happened
    assert s.faults == []
    s.close()


def test_max_interval_from_range_and_power_bound(tmp_path: Path) -> None:
    t = Tree(tmp_path)
    t.zone("intel-rapl:0", "package-0")  # no constraint: the default bound
    t.zone("intel-rapl:1", "package-1", max_power_uw=100_000_000)  # 100 W: never lowers the bound
    s = open_sensor(tmp_path)
    assert s.max_interval_s == pytest.approx(
        RANGE_UJ / 1e6 / DEFAULT_MAX_POWER_W / SAFETY_FACTOR
    )
    s.close()
    t.zone("intel-rapl:2", "package-2", max_power_uw=1_000_000_000)  # 1000 W raises it
    s = open_sensor(tmp_path)
    assert s.max_interval_s == pytest.approx(RANGE_UJ / 1e6 / 1000.0 / SAFETY_FACTOR)
    s.close()
    s = open_sensor(tmp_path, max_power_w=2000.0)
    assert s.max_interval_s == pytest.approx(RANGE_UJ / 1e6 / 2000.0 / SAFETY_FACTOR)
    s.close()


def test_gap_longer_than_a_wrap_period_is_a_fault(tmp_path: Path) -> None:
    t = Tree(tmp_path)
    t.zone("intel-rapl:0", "package-0", range_uj=1_000_000_000)  # 1 kJ: 2 s at 500 W
    clock = Clock()
    s = open_sensor(tmp_path, clock=clock)
    assert s.max_interval_s == pytest.approx(1.0)
    clock.advance(1.9)
    t.set("intel-rapl:0", 500)
    s.read()
    assert s.faults == []  # within one wrap period: nothing can have been missed
    clock.advance(30.0)
    t.set("intel-rapl:0", 900)
    r = s.read()
    assert r["cpu:package-0"] == 900 / 1e6  # what the counter shows is still counted
    assert len(s.faults) == 1
    channel, message = s.faults[0]
    assert channel == "cpu:package-0"
    assert "30 s" in message and "under-counted" in message
    s.close()


def test_value_above_range_is_a_fault_not_a_total(tmp_path: Path) -> None:
    t = Tree(tmp_path)
    t.zone("intel-rapl:0", "package-0", range_uj=1000)
    s = open_sensor(tmp_path)
    t.set("intel-rapl:0", 5000)
    assert s.read() == {}
    assert s.faults and "outside 0..1000" in s.faults[0][1]
    t.set("intel-rapl:0", 7)
    assert s.read() == {"cpu:package-0": 7 / 1e6}
    s.close()


def test_no_powercap_directory(tmp_path: Path) -> None:
    with pytest.raises(SensorError, match=r"no RAPL: .*does not exist") as ei:
        RaplSensor(tmp_path / "missing", cpu_vendor="intel")
    assert "modprobe intel_rapl_msr" in ei.value.fix


def test_powercap_without_rapl_package(tmp_path: Path) -> None:
    (tmp_path / "dtpm").mkdir()  # another powercap control type only
    with pytest.raises(SensorError, match="no RAPL package zone"):
        open_sensor(tmp_path)
    Tree(tmp_path).zone("intel-rapl:0", "psys")  # psys alone is not a package
    with pytest.raises(SensorError, match="no RAPL package zone"):
        open_sensor(tmp_path)


def test_unreadable_counter_that_is_not_a_file(tmp_path: Path) -> None:
    t = Tree(tmp_path)
    d = t.zone("intel-rapl:0", "package-0")
    (d / "energy_uj").unlink()
    (d / "energy_uj").mkdir()  # open() works on a directory for root too, read() fails
    with pytest.raises(SensorError, match=r"intel-rapl:0.*energy_uj"):
        open_sensor(tmp_path)


def test_unreadable_dram_is_dropped_and_the_ram_model_steps_in(tmp_path: Path) -> None:
    t = Tree(tmp_path)
    t.zone("intel-rapl:0", "package-0")
    d = t.zone("intel-rapl:0:0", "dram")
    (d / "energy_uj").unlink()
    (d / "energy_uj").mkdir()
    s = open_sensor(tmp_path)
    assert [c.name for c in s.channels] == ["cpu:package-0"]
    assert any("dram:package-0" in a.sensor and not a.available for a in s.describe())
    s.close()
    sensors, lines = open_cpu_sensors(tmp_path)
    try:
        assert isinstance(sensors[0], RaplSensor)
        assert isinstance(sensors[1], ModelSensor)
        assert [c.name for c in sensors[1].channels] == ["ram"]
    finally:
        for x in sensors:
            x.close()


def _permission_denied_message(root: Path) -> tuple[str, str]:
    """Open the sensor as an unprivileged user; return the SensorError's (message, fix).

    Root reads 0400 files regardless of their mode, so when the tests run as root
    the attempt is made in a forked child that first drops to user ``nobody``;
    otherwise in this process. The child reports back through a pipe.
    """
    if os.geteuid() != 0:
        try:
            RaplSensor(root, cpu_vendor="intel")
        except SensorError as exc:
            return str(exc), exc.fix
        raise AssertionError("no SensorError")
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: drop privileges, try, report, exit without running pytest's cleanup
        code = 0
        try:
            os.close(rfd)
            os.setgid(65534)
            os.setuid(65534)
            try:
                RaplSensor(root, cpu_vendor="intel")
                result: object = "opened"
            except SensorError as exc:
                result = (str(exc), exc.fix)
            except BaseException as exc:  # reported to the parent
                result = f"unexpected {exc!r}"
            os.write(wfd, pickle.dumps(result))
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    os.close(wfd)
    chunks = []
    while True:
        b = os.read(rfd, 65536)
        if not b:
            break
        chunks.append(b)
    os.close(rfd)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    result = pickle.loads(b"".join(chunks))
    assert isinstance(result, tuple), result
    return result


def test_root_only_counter_gives_the_fix(tmp_path: Path) -> None:
    # Outside pytest's 0700 tmp dir so that an unprivileged user can walk the tree.
    base = Path(tempfile.mkdtemp(prefix="wattprint-rapl-"))
    try:
        os.chmod(base, 0o755)
        t = Tree(base / "powercap")
        d = t.zone("intel-rapl:0", "package-0")
        for p in [base / "powercap", d]:
            os.chmod(p, 0o755)
        for f in d.iterdir():
            os.chmod(f, 0o444)
        os.chmod(d / "energy_uj", 0o400)  # what the kernel does since CVE-2020-8694
        message, fix = _permission_denied_message(base / "powercap")
    finally:
        shutil.rmtree(base)
    assert str(d / "energy_uj") in message
    assert "not readable" in message and "CVE-2020-8694" in message
    assert "sudo chmod a+r /sys/class/powercap/intel-rapl:*/energy_uj" in fix
    assert 'SUBSYSTEM=="powercap"' in fix and "/etc/udev/rules.d/" in fix


def test_mmio_zone_used_when_it_is_the_only_one(tmp_path: Path) -> None:
    t = Tree(tmp_path)
    t.zone("intel-rapl-mmio:0", "package-0", energy_uj=5)
    s = open_sensor(tmp_path)
    assert [c.name for c in s.channels] == ["cpu:package-0"]
    t.set("intel-rapl-mmio:0", 2_000_005)
    assert s.read() == {"cpu:package-0": 2.0}
    s.close()


def test_mirrored_package_counted_once(tmp_path: Path) -> None:
    t = Tree(tmp_path)
    t.zone("intel-rapl:0", "package-0")
    t.zone("intel-rapl:1", "package-0")  # a second die exposing the same package counter
    s = open_sensor(tmp_path)
    assert [c.name for c in s.channels] == ["cpu:package-0"]
    assert any("not counted twice" in a.detail for a in s.describe())
    s.close()


def test_amd_package_band(tmp_path: Path) -> None:
    Tree(tmp_path).zone("intel-rapl:0", "package-0")
    s = open_sensor(tmp_path, cpu_vendor="amd")
    assert s.channels[0].band == BAND_PACKAGE_AMD
    s.close()


def test_close_is_idempotent_and_later_reads_fault(tmp_path: Path) -> None:
    Tree(tmp_path).zone("intel-rapl:0", "package-0")
    s = open_sensor(tmp_path)
    s.close()
    s.close()
    assert s.read() == {}
    assert s.faults and s.faults[0][0] == "cpu:package-0"


def test_bad_max_power(tmp_path: Path) -> None:
    Tree(tmp_path).zone("intel-rapl:0", "package-0")
    with pytest.raises(SensorError, match="max_power_w"):
        open_sensor(tmp_path, max_power_w=0)


# -- open_cpu_sensors: the choice the sampler and doctor see ---------------------


def test_open_cpu_sensors_rapl_with_dram_needs_no_model(tmp_path: Path) -> None:
    two_socket_server(tmp_path)
    sensors, lines = open_cpu_sensors(tmp_path)
    try:
        assert len(sensors) == 1 and isinstance(sensors[0], RaplSensor)
        assert any(a.sensor == "model ram" and "RAPL DRAM" in a.detail for a in lines)
    finally:
        sensors[0].close()


def test_open_cpu_sensors_rapl_without_dram_adds_ram_model(tmp_path: Path) -> None:
    Tree(tmp_path).zone("intel-rapl:0", "package-0")
    sensors, lines = open_cpu_sensors(tmp_path)
    try:
        assert [type(x) for x in sensors] == [RaplSensor, ModelSensor]
        assert [c.name for c in sensors[1].channels] == ["ram"]
        assert any(a.sensor == "model ram" and a.available for a in lines)
    finally:
        for x in sensors:
            x.close()


def test_open_cpu_sensors_without_rapl_falls_back_to_the_model(tmp_path: Path) -> None:
    sensors, lines = open_cpu_sensors(tmp_path / "nothing")
    assert len(sensors) == 1 and isinstance(sensors[0], ModelSensor)
    assert [c.name for c in sensors[0].channels] == ["cpu:model", "ram"]
    rapl_line = next(a for a in lines if a.sensor == "rapl")
    assert not rapl_line.available and "no RAPL" in rapl_line.detail and rapl_line.fix
    cpu_line = next(a for a in lines if a.sensor == "model cpu:model")
    assert "TDP" in cpu_line.detail
    values = sensors[0].read()
    assert set(values) == {"cpu:model", "ram"} and all(v >= 0 for v in values.values())


def test_open_cpu_sensors_measured_only(tmp_path: Path) -> None:
    sensors, lines = open_cpu_sensors(tmp_path / "nothing", model_fallback=False)
    assert sensors == []
    details = [a.detail for a in lines]
    assert any("CPU not counted" in d for d in details)
    assert any("memory not counted" in d for d in details)


def test_open_cpu_sensors_bad_tdp_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SensorError, match="TDP must be a positive"):
        open_cpu_sensors(tmp_path / "nothing", tdp_w=-3)
