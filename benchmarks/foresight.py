"""Foresight: what run.progress(), a prediction and the budget check cost.

Not a timed test: a script that prints a Markdown table. ``progress()`` runs in
the tracked program's loop; a prediction runs on the live view's thread (each
refresh) and on the sampler thread (the budget's early warning, at most every
10 s); the budget check runs on the sampler thread after every interval.

    python3 benchmarks/foresight.py
"""

from __future__ import annotations

import math
import random
import time

from wattprint.tracking.budget import Budget
from wattprint.tracking.measure import Interval
from wattprint.tracking.predict import MAX_POINTS, ProgressLog, energy_at, predict


def _per_call_us(fn: object, n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        fn()  # type: ignore[operator]
    return (time.perf_counter() - t0) / n * 1e6


class _Run:
    """What ProgressLog.predict reads of a run: its timeline and its closed intervals' totals."""

    def __init__(self, seconds: int) -> None:
        self.timeline = [Interval(float(i), float(i + 1), 0.0, {"cpu": 200.0}) for i in range(seconds)]
        self.channels = {"cpu": type("C", (), {"in_total": True})()}
        self.energy_j = 200.0 * seconds
        self.emissions_g = self.energy_j * 1e-4

    def _closed(self) -> _Run:
        return self


def main() -> None:
    rows = []
    p = ProgressLog(min_gap_s=0.25)
    t = [0.0]

    def call() -> None:
        t[0] += 0.001
        p.add(t[0], t[0] * 1000, 1e9)

    rows.append(("run.progress()'s bookkeeping (a point kept per 0.25 s)", _per_call_us(call, 200_000), "us"))
    rng = random.Random(1)
    for points in (100, 1000, MAX_POINTS):
        times = [0.0]
        for _ in range(points - 1):
            times.append(times[-1] + rng.gauss(1.0, 0.1))
        done = [float(i) for i in range(points)]
        energy = [200.0 * x for x in times]
        rows.append((f"predict() from {points} points", _per_call_us(
            lambda times=times, done=done, energy=energy, n=points: predict(times, done, 10 * n, energy=energy),
            20), "us"))
    run = _Run(2048)  # a long run's timeline held in memory: ~2 048 rows
    prog = ProgressLog(min_gap_s=0.0)
    for i in range(MAX_POINTS):
        prog.add(i * 2048 / MAX_POINTS, float(i), 10.0 * MAX_POINTS)
    rows.append((f"run.prediction(): {MAX_POINTS} points, 2 048 timeline rows", _per_call_us(
        lambda: prog.predict(run), 20), "us"))  # type: ignore[arg-type]
    rows.append(("energy_at(): 4 096 points over 2 048 rows", _per_call_us(
        lambda: energy_at([x for x, _ in prog.points], run.timeline, {"cpu"}), 20), "us"))  # type: ignore[arg-type]
    b = Budget(1e12, 1e12)
    rows.append(("budget check after an interval", _per_call_us(lambda: b.check(1.0, 1.0, math.nan), 100_000), "us"))
    print("| what | cost | unit |\n|---|---:|---|")
    for what, cost, unit in rows:
        print(f"| {what} | {cost:.3g} | {unit} |")


if __name__ == "__main__":
    main()
