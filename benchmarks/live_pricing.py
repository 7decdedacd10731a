"""Live intensity: what pricing by time overlap and the run's summary of it cost.

Not a timed test: a script that prints a Markdown table. A synthetic week of
timeline rows at 1 s (the sampled stream a store keeps) and the bounded timeline
a week-long run holds, priced three ways: the embedded figure only, a week of
half-hours (the UK API), a week of 5-minute values (WattTime's resolution).

    python3 benchmarks/live_pricing.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from synthetic_run import SyntheticRun  # noqa: E402
from wattprint.intensity.base import Intensity  # noqa: E402
from wattprint.tracking.measure import Interval  # noqa: E402
from wattprint.tracking.pricing import applied, row_g_per_kwh  # noqa: E402

H = 1_795_773_600.0  # 2026-11-27T10:00Z
WEEK = 7 * 86400


def _series(step: float) -> list[tuple[float, float, float, str]]:
    return [(H + step * k, H + step * (k + 1), 100.0 + k % 7, "actual") for k in range(int(WEEK // step) + 1)]


def _us_per_row(it: Intensity, rows: list[Interval]) -> tuple[float, float]:
    t = time.perf_counter()
    for iv in rows:
        row_g_per_kwh(it, iv)
    price = (time.perf_counter() - t) / len(rows) * 1e6
    t = time.perf_counter()
    applied(it, rows, {"fake:0"})
    return price, (time.perf_counter() - t) / len(rows) * 1e6


def main() -> None:
    sampled = [Interval(float(i), float(i + 1), H + i, {"fake:0": 100.0}) for i in range(200_000)]
    s = SyntheticRun(wall0=H, watts=(100.0,), interval_s=60.0)
    s.tick(WEEK // 60)
    held = list(s.stop().timeline)
    print("| intensity | sampled rows: price µs/row | applied() µs/row | a week's held timeline "
          f"({len(held)} rows): price + applied, ms |")
    print("|---|---|---|---|")
    for label, it in (("embedded figure only", Intensity(300.0, "x", "GB")),
                      ("a week of half-hours", Intensity(300.0, "x", "GB", series=_series(1800.0))),
                      ("a week of 5-minute values", Intensity(300.0, "x", "GB", series=_series(300.0)))):
        p, a = _us_per_row(it, sampled)
        t = time.perf_counter()
        for iv in held:
            row_g_per_kwh(it, iv)
        applied(it, held, {"fake:0"})
        print(f"| {label} | {p:.2f} | {a:.2f} | {(time.perf_counter() - t) * 1e3:.1f} |")


if __name__ == "__main__":
    main()
