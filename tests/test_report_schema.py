"""The JSON report: validated against its JSON Schema on real runs, documented field by field."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import jsonschema
import pytest

import wattprint
from fake_rapl import make_tree, set_uj
from report_sample import cpu_fallback_run, gpu_run
from wattprint.report.schema import SCHEMA, SCHEMA_VERSION, ReportError, build_report, schema_fields
from wattprint.store.sqlite import SqliteStore
from wattprint.units import J_PER_KWH

DOCS = Path(__file__).resolve().parents[1] / "docs" / "report-schema.md"


def _validate(report: dict) -> None:
    jsonschema.Draft202012Validator(SCHEMA).validate(report)
    json.dumps(report, allow_nan=False)  # JSON proper: no NaN or infinity anywhere


def test_schema_is_a_valid_json_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert re.fullmatch(r"\d+\.\d+\.\d+", SCHEMA_VERSION)


def _real_run(tmp_path: Path) -> tuple[dict, dict]:
    """A real run through the public API on a fake powercap tree, stored in a temp database."""
    root = make_tree(tmp_path / "pc", packages=2, dram=True, psys=True)
    db = tmp_path / "runs.db"
    t = wattprint.Tracker("real", rapl_root=root, store=db, gpus="none", country="FR", interval=0.02,
                          market_g_per_kwh=12.5)
    run = t.start()
    uj = 0
    for i in range(12):
        uj += 500_000
        set_uj(root, "intel-rapl:0", uj)
        set_uj(root, "intel-rapl:1", uj // 2)
        set_uj(root, "intel-rapl:0:0", uj // 10)
        set_uj(root, "intel-rapl:2", uj * 2)  # psys
        if i == 5:
            with run.window("eval"):
                set_uj(root, "intel-rapl:0", uj + 100_000)
                uj += 100_000
        time.sleep(0.03)
    run = t.stop()
    store = SqliteStore.open(db)
    try:
        stored = store.get_run(run.id)
    finally:
        store.close()
    return run.to_dict(), stored


def test_report_of_a_real_run_validates_and_adds_up(tmp_path: Path) -> None:
    live, stored = _real_run(tmp_path)
    for d in (live, stored):
        rep = build_report(d, per=200, unit="samples", embodied_g=1.5)
        _validate(rep)
        assert rep["run"]["id"] == live["id"]
        assert rep["totals"]["energy_j"] == pytest.approx(d["energy_j"])
        assert rep["totals"]["energy_j"] == pytest.approx(
            sum(c["energy_j"] for c in rep["channels"] if c["in_total"])
        )
        assert rep["boundary"]["not_summed"] == ["psys"]
        assert rep["intensity"]["location"] == "FR" and not rep["intensity"]["fallback"]
        assert rep["emissions"]["location_based_g"] == pytest.approx(d["emissions_g"])
        assert rep["emissions"]["market_based_g"] == pytest.approx(d["market_emissions_g"])
        # timeline rows add up to the channel totals
        for c in rep["channels"]:
            assert sum(r["energy_j"].get(c["name"], 0.0) for r in rep["timeline"]["rows"]) == pytest.approx(
                c["energy_j"], rel=1e-9, abs=1e-9
            )
        assert [w["name"] for w in rep["windows"]] == ["eval"]
        sci = rep["sci"]
        assert sci["sci_g_per_unit"] == pytest.approx(
            (rep["totals"]["facility_energy_kwh"] * sci["i_g_per_kwh"] + 1.5) / 200
        )
        assert sci["e_kwh"] * sci["i_g_per_kwh"] == pytest.approx(rep["emissions"]["location_based_g"])


def _has_run(db: Path, run_id: str) -> bool:
    """Whether ``run_id`` is in the database yet (a plain read: never creates or migrates it)."""
    import sqlite3

    if not db.exists():
        return False
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT 1 FROM runs WHERE id=?", (run_id,)).fetchone() is not None
    except sqlite3.OperationalError:  # tables not created yet
        return False
    finally:
        conn.close()


def test_report_of_a_running_stored_run_validates(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "pc", packages=1)
    db = tmp_path / "runs.db"
    t = wattprint.Tracker("live", rapl_root=root, store=db, gpus="none", interval=0.02, flush_every_s=0.0,
                          country="FR")
    run = t.start()
    set_uj(root, "intel-rapl:0", 3_000_000)
    time.sleep(0.1)
    deadline = time.monotonic() + 20  # the store is written on its own thread: wait for it
    while not _has_run(db, run.id):
        assert time.monotonic() < deadline, "the running run never reached the store"
        time.sleep(0.02)
    store = SqliteStore.open(db)
    try:
        partial = store.get_run(run.id)  # written at start and at flushes, before the end
    finally:
        store.close()
        t.stop()
    rep = build_report(partial)
    _validate(rep)
    assert rep["run"]["status"] == "running"


def test_samples_validate_and_figures_are_consistent() -> None:
    rep = build_report(gpu_run(), per=10000, unit="samples", now=0)
    _validate(rep)
    assert rep["generated_utc"] == "1970-01-01T00:00:00Z"
    gpu = next(c for c in rep["components"] if c["component"] == "gpu")
    assert gpu["mean_power_w"] == pytest.approx(530.0)  # 318 kJ over 600 s
    assert gpu["peak_power_w"] == pytest.approx(662.0)
    assert rep["hardware"]["gpus"] == ["NVIDIA H100 80GB HBM3"]
    assert rep["totals"]["facility_energy_j"] == pytest.approx(rep["totals"]["energy_j"] * 1.2)
    assert rep["sci"]["sci_g_per_unit"] == pytest.approx(rep["emissions"]["location_based_g"] / 10000)
    assert rep["attribution"]["share_of_machine"] == pytest.approx(0.9)
    assert rep["baseline"]["idle_power_w"] == pytest.approx(104.0)  # psys (not summed) left out
    eval_group = next(g for g in rep["window_groups"] if g["name"] == "eval")
    assert eval_group["calls"] == 2
    car = next(e for e in rep["equivalents"] if e["key"] == "car_km")
    assert car["value"] == pytest.approx(rep["emissions"]["location_based_g"] / (400 / 1.609344))

    rep2 = build_report(cpu_fallback_run())
    _validate(rep2)
    assert rep2["intensity"]["fallback"] is True
    assert rep2["sci"] is None and rep2["attribution"] is None and rep2["baseline"] is None
    assert rep2["boundary"]["modelled"] == ["ram"]
    assert any("FALLBACK" in m for m in rep2["methodology"])
    assert any("Market-based emissions: not reported" in m for m in rep2["methodology"])


def test_absent_parts_are_absent_not_invented() -> None:
    d = cpu_fallback_run()
    for key in ("intensity", "timeline", "windows", "sensors", "faults"):
        d.pop(key)
    d["emissions_g"] = None
    rep = build_report(d)
    _validate(rep)
    assert rep["intensity"] is None
    assert rep["emissions"]["location_based_g"] is None
    assert rep["totals"]["peak_power_w"] is None
    assert [e["key"] for e in rep["equivalents"]] == ["smartphone_charges", "home_hours"]  # energy-based only
    assert rep["coverage"]["intervals"] == 0


@pytest.mark.parametrize(
    ("kw", "needle"),
    [
        ({"per": 0}, "--per"),
        ({"per": -3}, "--per"),
        ({"per": float("nan")}, "--per"),
        ({"embodied_g": -1, "per": 1}, "--embodied-g"),
        ({"unit": "samples"}, "--unit needs --per"),
    ],
)
def test_bad_functional_unit_is_a_clear_error(kw: dict, needle: str) -> None:
    with pytest.raises(ReportError, match=re.escape(needle)):
        build_report(gpu_run(), **kw)


def test_every_schema_field_is_documented() -> None:
    text = DOCS.read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `([^`]+)` \|", text, flags=re.M))
    fields = set(schema_fields())
    missing = sorted(fields - documented)
    stale = sorted(documented - fields)
    assert not missing, f"fields missing from docs/report-schema.md: {missing}"
    assert not stale, f"docs/report-schema.md documents fields the schema lacks: {stale}"
    assert f"`{SCHEMA_VERSION}`" in text


def test_kwh_fields_match_joules() -> None:
    rep = build_report(gpu_run())
    assert rep["totals"]["energy_kwh"] == pytest.approx(rep["totals"]["energy_j"] / J_PER_KWH)
    for c in rep["channels"]:
        assert c["energy_kwh"] == pytest.approx(c["energy_j"] / J_PER_KWH)
