"""Foresight: what run.progress(), a prediction and the budget check cost.

Not a timed test: a script that prints a Markdown table. ``progress()`` runs in
the tracked program's loop; a prediction runs on the live view's thread (each
refresh) and on the sampler thread (the budget's early warning, at most every
10 s); the budget check runs on the sampler thread after every interval.

With ``--coverage``, the predictor's second table: how often the 95 % interval
held the true total, and its mean width, on the synthetic runs of
``tests/test_predict.py`` (steady, noisy, burn-in, ramps) over 200 seeds each.

    python3 benchmarks/foresight.py [--coverage]
"""

from __future__ import annotations

import math
import random
import sys
import time
from pathlib import Path

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


def coverage_table() -> None:
    """Coverage and mean relative width of the duration / energy intervals per kind and fraction."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from test_predict import coverage  # the tests' synthetic runs: one definition of them

    kinds = ("constant", "noisy", "burn", "noisy-burn", "ramp", "power-ramp")
    fractions = (0.1, 0.25, 0.5, 0.75, 0.9)
    print("| run | " + " | ".join(f"{f:.0%} done" for f in fractions) + " |")
    print("|---|" + "---:|" * len(fractions))
    for kind in kinds:
        found = coverage(kind, fractions)
        cells = [f"{d:.0%} / {e:.0%} (±{w / 2:.1%})" for d, e, w in (found[f] for f in fractions)]
        print(f"| {kind} | " + " | ".join(cells) + " |")
    print("\ncells: duration / energy coverage of the 95 % interval (±: half its mean width, "
          "relative to the true duration)")


def main() -> None:
    if "--coverage" in sys.argv[1:]:
        coverage_table()
        return
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
