"""The predictor against synthetic runs whose totals are known.

Each run is drawn step by step (time and energy per step, with noise, a
burn-in or a ramp); the prediction made at a fraction of the steps must hold
the true total inside its 95 % interval at about that rate over many seeds,
and narrow as the run goes. No threads and no clock: :mod:`wattprint.tracking.predict`
is pure.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import pytest

from wattprint.errors import ConfigError
from wattprint.tracking.measure import Interval
from wattprint.tracking.predict import (
    MAX_POINTS,
    Increment,
    ProgressLog,
    burn_in,
    coarsen,
    energy_at,
    predict,
    t_quantile,
)

pytestmark = pytest.mark.timeout(120)

SEEDS = 200
STEPS = 500


@dataclass
class Synthetic:
    times: list[float]
    done: list[float]
    energy: list[float]

    @property
    def total_s(self) -> float:
        return self.times[-1]

    @property
    def total_j(self) -> float:
        return self.energy[-1]


def synthetic(kind: str, seed: int, steps: int = STEPS) -> Synthetic:
    """A run of ``steps`` steps: ``constant`` (1 s ± 10 %, 200 W ± 5 %), ``noisy`` (± 30 %),
    ``burn`` (the first 8 steps 2.5-6 s at 120 W: compilation, loading), ``noisy-burn``,
    ``ramp`` (steps slow from 1 to 1.5 s), ``power-ramp`` (200 W rising to 250 W)."""
    rng = random.Random(seed)
    t, e = 0.0, 0.0
    out = Synthetic([0.0], [0.0], [0.0])
    for j in range(1, steps + 1):
        mean, power = 1.0, 200.0
        if kind == "ramp":
            mean = 1.0 + 0.5 * j / steps
        if kind == "power-ramp":
            power = 200.0 + 50.0 * j / steps
        if "burn" in kind and j <= 8:
            mean, power = (6.0 if j == 1 else 2.5), 120.0
        sd = 0.3 if "noisy" in kind else 0.1
        dt = max(0.01, rng.gauss(mean, sd * mean))
        t += dt
        e += dt * rng.gauss(power, 0.05 * power)
        out.times.append(t)
        out.done.append(float(j))
        out.energy.append(e)
    return out


def coverage(kind: str, fractions: tuple[float, ...]) -> dict[float, tuple[float, float, float]]:
    """Per fraction: share of seeds whose duration and energy intervals hold the truth, and
    the mean relative width of the duration interval."""
    hits = {f: [0, 0, 0.0] for f in fractions}
    for seed in range(SEEDS):
        run = synthetic(kind, seed)
        for f in fractions:
            n = int(f * STEPS) + 1
            p = predict(run.times[:n], run.done[:n], STEPS, energy=run.energy[:n])
            assert p is not None and p.energy_j is not None
            lo, _, hi = p.duration_s
            hits[f][0] += lo <= run.total_s <= hi
            hits[f][2] += (hi - lo) / run.total_s
            lo, _, hi = p.energy_j
            hits[f][1] += lo <= run.total_j <= hi
    return {f: (a / SEEDS, b / SEEDS, w / SEEDS) for f, (a, b, w) in hits.items()}


@pytest.mark.parametrize("kind", ["constant", "noisy", "burn", "noisy-burn", "ramp", "power-ramp"])
def test_the_95_interval_holds_the_truth_at_its_rate_and_narrows(kind: str) -> None:
    # from a quarter of the work on, steady or drifting (docs/foresight.md): a drift too weak
    # to stand out of the noise at a quarter must not make the interval miss the truth
    fractions = (0.1, 0.25, 0.5, 0.75, 0.9)
    found = coverage(kind, fractions)
    for f, (dur, energy, _) in found.items():
        if f >= 0.25:
            assert dur >= 0.9 and energy >= 0.9, (kind, f, dur, energy)
    widths = [found[f][2] for f in fractions]
    assert widths == sorted(widths, reverse=True) and widths[-1] < widths[0] / 4, widths


@pytest.mark.parametrize(("kind", "at_quarter", "at_half"), [("constant", 0.25, 0.06), ("noisy", 0.7, 0.18)])
def test_a_steady_run_gets_a_usable_interval(kind: str, at_quarter: float, at_half: float) -> None:
    # the price of allowing a drift: wider than a steady-only model's (3 % / 1.8 % of the total
    # for a steady run), but still a useful figure (benchmarks/RESULTS.md has the measured widths)
    found = coverage(kind, (0.25, 0.5))
    assert found[0.25][2] < at_quarter and found[0.5][2] < at_half, found


def test_burn_in_is_found_and_left_out() -> None:
    cut = [predict(r.times[:201], r.done[:201], STEPS) for r in (synthetic("burn", s) for s in range(50))]
    found = sorted(p.burn_in for p in cut if p is not None)
    assert len(found) == 50 and found[len(found) // 2] == 8  # the 8 slow steps, as a rule
    steady = [predict(r.times[:201], r.done[:201], STEPS) for r in (synthetic("constant", s) for s in range(50))]
    assert sum(1 for p in steady if p is not None and p.burn_in > 0) <= 3  # a steady run has none, as a rule
    # without the cut, the slow start would be taken for the pace of the whole run
    r = synthetic("burn", 1)
    assert burn_in([Increment(1, y1 - y0, 0.0) for y0, y1 in zip(r.times[:200], r.times[1:201])]) >= 8


def test_emissions_follow_the_energy_at_the_running_rate() -> None:
    r = synthetic("constant", 3)
    p = predict(r.times[:101], r.done[:101], STEPS, energy=r.energy[:101], g_per_j=1e-4)
    assert p is not None and p.energy_j is not None and p.emissions_g is not None
    assert p.emissions_g == pytest.approx(tuple(x * 1e-4 for x in p.energy_j))
    assert predict(r.times[:101], r.done[:101], STEPS, energy=r.energy[:101], g_per_j=math.nan).emissions_g is None  # type: ignore[union-attr]


def test_too_little_progress_predicts_nothing() -> None:
    r = synthetic("constant", 0)
    assert predict(r.times[:4], r.done[:4], STEPS) is None
    assert predict([], [], STEPS) is None
    assert predict([0.0, 1.0], [0.0, 1.0], 0.0) is None
    # energy not measured yet (NaN): duration predicted, energy not
    p = predict(r.times[:50], r.done[:50], STEPS, energy=[math.nan] * 50)
    assert p is not None and p.energy_j is None


def test_t_quantiles_match_the_tables() -> None:
    for dof, want in ((3, 3.1824), (5, 2.5706), (10, 2.2281), (30, 2.0423), (120, 1.9799)):
        assert t_quantile(0.975, dof) == pytest.approx(want, rel=2e-3)


def test_coarsening_keeps_every_unit_and_cost() -> None:
    incs = [Increment(1.0 + i % 3, 2.0 + i, (i + 0.5) / 3000) for i in range(3000)]
    c = coarsen(incs, 512)
    assert len(c) <= 512
    assert sum(i.n for i in c) == pytest.approx(sum(i.n for i in incs))
    assert sum(i.y for i in c) == pytest.approx(sum(i.y for i in incs))


def test_energy_at_interpolates_inside_rows_and_is_unknown_past_them() -> None:
    rows = [Interval(0.0, 1.0, 0.0, {"a": 10.0, "psys": 99.0}), Interval(1.0, 2.0, 1.0, {"a": 30.0})]
    got = energy_at([0.0, 0.5, 1.0, 1.5, 2.0, 2.5], rows, {"a"})
    assert got[:5] == pytest.approx([0.0, 5.0, 10.0, 25.0, 40.0]) and math.isnan(got[5])


def test_progress_keeps_few_points_and_checks_its_input() -> None:
    p = ProgressLog(min_gap_s=0.1)
    with pytest.raises(ConfigError, match="give the total"):
        p.add(0.0, 0, None)
    for bad in (math.nan, -1, "3", True):
        with pytest.raises(ConfigError, match="done must be"):
            p.add(0.0, bad, 10)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="total must be"):
        p.add(0.0, 1, 0)
    for i in range(100):
        p.add(i * 0.01, i, 1000)  # 100 calls in 1 s: about one point per 0.1 s kept
    assert 9 <= len(p.points) <= 12 and p.latest == (0.99, 99.0)
    q = ProgressLog(min_gap_s=0.0)
    for i in range(3 * MAX_POINTS):
        q.add(float(i), i, 10 * MAX_POINTS)
    assert len(q.points) <= MAX_POINTS and q.points[0] == (0.0, 0.0) and q.points[-1][1] == 3 * MAX_POINTS - 1
