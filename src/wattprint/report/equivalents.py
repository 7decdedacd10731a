"""Everyday equivalents of a run's energy and emissions, each with its public source.

People grasp "2 km by car" faster than "500 g CO2e". Each factor here is a
published figure (see ``SOURCES.md`` beside this file); reports show the
source next to the number so a reader can judge it. Equivalents are
illustrations, not part of the accounting: they never feed any total.
"""

from __future__ import annotations

from dataclasses import dataclass

MILE_KM = 1.609344  # international mile, exact


@dataclass(frozen=True)
class Factor:
    """One equivalence: ``value = basis / per_unit``.

    ``basis`` is ``"emissions_g"`` (location-based grams CO2e) or
    ``"energy_kwh"`` (facility energy, IT energy × PUE, in kWh).
    """

    key: str
    label: str
    unit: str
    basis: str
    per_unit: float
    per_unit_text: str
    source: str
    url: str


FACTORS: tuple[Factor, ...] = (
    Factor(
        key="car_km",
        label="driven by an average US passenger car",
        unit="km",
        basis="emissions_g",
        # 400 g CO2 per mile -> per km
        per_unit=400.0 / MILE_KM,
        per_unit_text="about 400 g CO2 per mile (248.5 g per km), tailpipe CO2 of a typical "
        "US gasoline passenger vehicle",
        source="US EPA, Greenhouse Gas Emissions from a Typical Passenger Vehicle "
        "(EPA-420-F-23-014, 2023)",
        url="https://www.epa.gov/greenvehicles/greenhouse-gas-emissions-typical-passenger-vehicle",
    ),
    Factor(
        key="smartphone_charges",
        label="(full charges of a smartphone)",
        unit="smartphone charges",
        basis="energy_kwh",
        per_unit=0.019,
        per_unit_text="0.019 kWh per full smartphone charge",
        source="US EPA, Greenhouse Gas Equivalencies Calculator - Calculations and References "
        "(2024 revision)",
        url="https://www.epa.gov/energy/greenhouse-gas-equivalencies-calculator-calculations-and-references",
    ),
    Factor(
        key="home_hours",
        label="of an average US home's electricity use",
        unit="hours",
        basis="energy_kwh",
        # 10,791 kWh per year over 8,760 hours
        per_unit=10791.0 / 8760.0,
        per_unit_text="10,791 kWh per year per US residential customer (2022), i.e. 1.23 kWh per hour",
        source="US Energy Information Administration, FAQ 'How much electricity does an American "
        "home use?' (2022 data)",
        url="https://www.eia.gov/tools/faqs/faq.php?id=97&t=3",
    ),
)


def equivalents(emissions_g: float | None, energy_kwh: float) -> list[dict[str, object]]:
    """The equivalents for a run, in the report's JSON shape (see docs/report-schema.md).

    Emission-based factors are skipped when emissions are unknown (``None``).
    """
    out: list[dict[str, object]] = []
    for f in FACTORS:
        basis = emissions_g if f.basis == "emissions_g" else energy_kwh
        if basis is None:
            continue
        out.append(
            {
                "key": f.key,
                "label": f.label,
                "value": basis / f.per_unit,
                "unit": f.unit,
                "basis": f.basis,
                "factor": f.per_unit,
                "factor_text": f.per_unit_text,
                "source": f.source,
                "url": f.url,
            }
        )
    return out
