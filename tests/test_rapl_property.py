"""Property: RAPL unwrapping loses and invents nothing while reads come often enough.

The kernel counter runs over 0 … max_energy_range_uj and wraps to 0, so it is
a counter modulo ``range + 1`` (the convention documented in
``wattprint.sensors.cpu.rapl``). For any start value and any sequence of per-read
increments each at most one full range, rewriting the fake ``energy_uj`` modulo
``range + 1`` and reading after each step must give exactly the running sum.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from powercap_tree import Tree
from wattprint.sensors.cpu.rapl import RaplSensor


@st.composite
def counter_runs(draw: st.DrawFn) -> tuple[int, int, list[int]]:
    rng = draw(st.integers(min_value=1, max_value=2**40))
    start = draw(st.integers(min_value=0, max_value=rng))
    incs = draw(st.lists(st.integers(min_value=0, max_value=rng), max_size=40))
    return rng, start, incs


@settings(max_examples=150, deadline=None)
@given(counter_runs())
def test_accumulated_total_equals_the_sum_of_increments(run: tuple[int, int, list[int]]) -> None:
    rng, start, incs = run
    with tempfile.TemporaryDirectory() as tmp:
        t = Tree(Path(tmp))
        t.zone("intel-rapl:0", "package-0", energy_uj=start, range_uj=rng)
        ticks = iter(range(10**9))
        s = RaplSensor(tmp, cpu_vendor="intel", clock=lambda: next(ticks))  # 1 ns per read
        try:
            counter, total, previous = start, 0, 0.0
            for inc in incs:
                counter = (counter + inc) % (rng + 1)
                total += inc
                t.set("intel-rapl:0", counter)
                value = s.read()["cpu:package-0"]
                assert value == total / 1e6
                assert value >= previous  # cumulative totals never go down
                previous = value
            assert s.faults == []
        finally:
            s.close()
