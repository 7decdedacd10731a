"""What the whole-machine sensors cost: opening the family, one read of each, the model's read,
and the run's total guarded by the components' fallback (metered, and while the meter is down).

    python benchmarks/whole_machine.py [--reads N]

Prints median microseconds. Hardware is faked at the same boundary as the
tests (a temp hwmon tree; an ``ipmitool`` script printing a DCMI answer), so
the figures are the Python cost of wattprint's side, not the BMC's latency.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fake_platform import DCMI_OK, HwmonTree, ipmitool_printing  # noqa: E402
from wattprint.sensors.platform.hwmon import HwmonSensor  # noqa: E402
from wattprint.sensors.platform.ipmi import IpmiSensor  # noqa: E402
from wattprint.sensors.platform.model import PlatformModel  # noqa: E402
from wattprint.sensors.platform.opener import PlatformOptions, open_platform_sensors, settle  # noqa: E402
from wattprint.sensors.platform.total import MeteredTotal  # noqa: E402


def median_us(fn: Callable[[], object], n: int) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter_ns()
        fn()
        times.append(time.perf_counter_ns() - t0)
    return statistics.median(times) / 1e3


def guarded(root: Path, n: int) -> None:
    """The elected meter read through MeteredTotal: metered, then with its file unreadable (fallback)."""
    tree = HwmonTree(root / "guarded")
    dev = tree.device("power_meter", power1_average=250_000_000, power1_average_interval=1000)
    meter = HwmonSensor(tree.root, retry_s=3600.0)  # down: no reopen attempt inside the timed reads
    guard = MeteredTotal(meter, meter.channels[0].name, ["cpu:package-0", "dram:package-0", "gpu:0"])
    guard.bind_totals({"cpu:package-0": 1.0, "dram:package-0": 2.0, "gpu:0": 3.0})
    print(f"guarded total read, metered (1 ACPI meter, 3 components watched): {median_us(guard.read, n):.1f} us")
    tree.set(dev, "power1_average", "gone")
    guard.read()
    print(f"guarded total read, meter down (the components stand in): {median_us(guard.read, n):.1f} us")
    guard.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reads", type=int, default=20000)
    n = ap.parse_args().reads
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        empty = root / "empty"
        empty.mkdir()
        none = PlatformOptions(hwmon_root=str(empty), dmi_root=str(empty))

        def open_nothing() -> None:
            sensors, _ = open_platform_sensors(none)
            settle(sensors, none, {})

        print(f"open the family, nothing present (hwmon, ipmi auto, no redfish, model auto): "
              f"{median_us(open_nothing, 200):.0f} us")
        tree = HwmonTree(root / "hwmon")
        tree.device("power_meter", power1_average=250_000_000, power1_average_interval=1000)
        for _ in range(2):
            tree.device("pmbus", power1_label="pin", power1_input=200_000_000)
        hw = HwmonSensor(tree.root)
        print(f"hwmon read (1 ACPI meter + 2 supplies summed): {median_us(hw.read, n):.1f} us")
        hw.close()
        guarded(root, n)
        answer = root / "dcmi.txt"
        answer.write_text(DCMI_OK.format(w=300, avg=300, period=1))
        exe = ipmitool_printing(root / "bin", answer)
        t0 = time.perf_counter()
        ipmi = IpmiSensor(str(exe), require_device=False, every_s=1.0)
        print(f"ipmi open (one ipmitool run, synchronous): {(time.perf_counter() - t0) * 1e3:.1f} ms")
        print(f"ipmi read (latest value from the background thread): {median_us(ipmi.read, n):.1f} us")
        ipmi.close()
        model = PlatformModel(["cpu:package-0", "dram:package-0", "gpu:0"])
        model.bind_totals({"cpu:package-0": 1.0, "dram:package-0": 2.0, "gpu:0": 3.0})
        print(f"model read (3 watched channels): {median_us(model.read, n):.1f} us")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
