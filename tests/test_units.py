"""The one band function and the one J -> kWh conversion every module uses."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from report_sample import gpu_run
from wattprint.report.schema import build_report
from wattprint.units import combined_band, j_to_kwh, kwh_to_j


def test_band_is_the_energy_weighted_mean_of_the_parts() -> None:
    assert combined_band([(30.0, 0.05), (10.0, 0.4)]) == pytest.approx((1.5 + 4.0) / 40.0)
    assert combined_band(iter([(5.0, 0.1)])) == pytest.approx(0.1)  # any iterable, read once


def test_band_without_energy_is_the_widest_and_nothing_has_none() -> None:
    assert combined_band([(0.0, 0.05), (0.0, 0.4)]) == 0.4
    assert combined_band([]) == 0.0


@given(st.lists(st.tuples(st.floats(0, 1e9), st.floats(0, 1)), min_size=1, max_size=20))
def test_band_lies_between_the_narrowest_and_widest_part(parts: list[tuple[float, float]]) -> None:
    b = combined_band(parts)
    assert min(p[1] for p in parts) - 1e-12 <= b <= max(p[1] for p in parts) + 1e-12


def test_kwh_is_exactly_3_6_megajoules() -> None:
    assert j_to_kwh(3_600_000.0) == 1.0
    assert kwh_to_j(j_to_kwh(1234.5)) == pytest.approx(1234.5, rel=1e-15)


def test_report_bands_are_the_band_function_over_its_own_channels() -> None:
    rep = build_report(gpu_run(), now=0.0)
    counted = [(c["energy_j"], c["band"]) for c in rep["channels"] if c["in_total"]]
    assert rep["totals"]["band"] == pytest.approx(combined_band(counted), rel=1e-12)
    for comp in rep["components"]:
        parts = [(c["energy_j"], c["band"]) for c in rep["channels"] if c["component"] == comp["component"]]
        assert comp["band"] == pytest.approx(combined_band(parts), rel=1e-12)
    assert rep["totals"]["energy_kwh"] == j_to_kwh(rep["totals"]["energy_j"])
