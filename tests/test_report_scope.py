"""``--scope process``: the SCI's E and the model card count the run's process-tree share of the
machine (its recorded attribution), never silently the whole machine, and never a share the run
did not record."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import jsonschema
import pytest
import yaml

from report_sample import gpu_run
from test_report_cli import wp
from wattprint.report import modelcard
from wattprint.report.schema import SCHEMA, ReportError, build_report

NOW = 1764003600.0


def _card(report: dict, scope: str) -> dict:
    return yaml.safe_load(modelcard.render(report, scope=scope))["co2_eq_emissions"]


def test_process_scope_takes_the_recorded_share_for_sci_and_model_card() -> None:
    run = gpu_run()
    share = run["attribution"]["energy_j"] / run["attribution"]["machine_energy_j"]  # 0.9 in the sample
    machine = build_report(run, per=10000, unit="samples", now=NOW)
    process = build_report(run, per=10000, unit="samples", now=NOW, scope="process")
    for r in (machine, process):
        jsonschema.Draft202012Validator(SCHEMA).validate(r)
    assert machine["sci"]["scope"] == "machine" and process["sci"]["scope"] == "process"
    assert math.isclose(process["sci"]["e_kwh"], machine["sci"]["e_kwh"] * share, rel_tol=1e-12)
    i = machine["sci"]["i_g_per_kwh"]
    assert math.isclose(process["sci"]["sci_g_per_unit"], process["sci"]["e_kwh"] * i / 10000, rel_tol=1e-12)
    assert any("process tree's share" in m for m in process["methodology"])
    assert not any("process tree's share" in m for m in machine["methodology"])

    whole, part = _card(machine, "machine"), _card(process, "process")
    assert math.isclose(part["emissions"], whole["emissions"] * share, rel_tol=1e-5)
    assert "share 90.0 % of the machine" in part["source"] and "share" not in whole["source"]


@pytest.mark.parametrize("attribution", [None, {"energy_j": 0.0, "machine_energy_j": 0.0}])
def test_process_scope_without_a_recorded_share_is_a_clear_error(attribution: object) -> None:
    run = copy.deepcopy(gpu_run())
    run["attribution"] = attribution
    with pytest.raises(ReportError, match="--scope process needs the run's process share"):
        build_report(run, per=10, now=NOW, scope="process")
    with pytest.raises(ReportError, match="--scope process needs"):
        modelcard.render(build_report(run, now=NOW), scope="process")
    with pytest.raises(ReportError, match="--scope must be one of machine, process"):
        build_report(run, now=NOW, scope="node")


def test_cli_scope(tmp_path: Path) -> None:
    run = gpu_run()
    with_share, without = tmp_path / "a.json", tmp_path / "b.json"
    with_share.write_text(json.dumps(run))
    without.write_text(json.dumps({**run, "attribution": None}))
    whole = wp("report", str(with_share), "--format", "modelcard")
    part = wp("report", str(with_share), "--format", "modelcard", "--scope", "process")
    assert whole.returncode == 0 and part.returncode == 0, whole.stderr + part.stderr
    machine_g = yaml.safe_load(whole.stdout)["co2_eq_emissions"]["emissions"]
    card = yaml.safe_load(part.stdout)["co2_eq_emissions"]
    assert math.isclose(card["emissions"], machine_g * 0.9, rel_tol=1e-5) and "of the machine" in card["source"]
    sci = json.loads(wp("report", str(with_share), "--format", "json", "--per", "10", "--scope", "process").stdout)
    assert sci["sci"]["scope"] == "process"
    none = wp("report", str(without), "--format", "modelcard", "--scope", "process")
    assert none.returncode == 2 and none.stdout == ""
    assert none.stderr.count("\n") == 1 and "--scope process needs" in none.stderr
    bad = wp("report", str(with_share), "--scope", "everything")
    assert bad.returncode == 2 and "invalid choice" in bad.stderr
