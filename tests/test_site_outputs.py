"""The site, grid, basis and alternatives as users see them: the CLI, runs/compare, reports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fake_rapl import make_tree

SRC = str(Path(__file__).resolve().parents[1] / "src")


def wp(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wattprint.cli.main", *args], capture_output=True,
                          text=True, env=dict(os.environ, PYTHONPATH=SRC, **(env or {})), cwd=cwd,
                          timeout=120)


def _field(out: str, name: str) -> str:
    line = next(ln for ln in out.splitlines() if ln.startswith(name))
    return line[len(name):].strip()


@pytest.mark.parametrize(("args", "env", "toml", "site", "pue", "why"), [
    (["--country", "US", "--site", "aws"], {}, "", "aws", "1.15", "set by --site"),
    (["--country", "US"], {"WATTPRINT_SITE": "gcp"}, "", "gcp", "1.1", "set by WATTPRINT_SITE"),
    (["--country", "US"], {}, 'site = "datacentre"\n', "datacentre", "1.56", "wattprint.toml:1"),
    (["--cloud", "azure:westeurope"], {}, "", "azure", "1.18", "cloud region azure:westeurope"),
    (["--country", "US"], {"SLURM_JOB_ID": "7"}, "", "datacentre", "1.56", "a Slurm job"),
    (["--country", "US"], {}, "", "personal", "1", "assumed a personal machine"),
])
def test_intensity_shows_the_site_and_why(tmp_path: Path, args: list[str], env: dict[str, str],
                                          toml: str, site: str, pue: str, why: str) -> None:
    if toml:
        (tmp_path / "wattprint.toml").write_text(toml, encoding="utf-8")
    r = wp("intensity", *args, env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert _field(r.stdout, "site").split()[0] == site and why in _field(r.stdout, "site")
    assert _field(r.stdout, "PUE").split()[0] == pue
    data = json.loads(wp("intensity", "--json", *args, env=env, cwd=tmp_path).stdout)
    assert data["site"] == site and why in data["site_source"]


def test_intensity_names_the_alternative_figure_and_the_basis() -> None:
    r = wp("intensity", "--cloud", "aws:us-west-2")
    assert r.returncode == 0, r.stderr
    assert _field(r.stdout, "grid intensity").startswith("264.16 gCO2e/kWh  (US-NWPP, 2024)")
    assert _field(r.stdout, "place") == "aws:us-west-2 (US West (Oregon))"
    assert _field(r.stdout, "basis") == "direct CO2e, average, generation-based"
    alt = _field(r.stdout, "alternative")
    assert alt.startswith("gcp:us-west1") and "97.85 gCO2e/kWh" in alt and "region-carbon-info" in alt
    assert "-63%" in alt
    # within 20 %: no alternative line
    assert "alternative" not in wp("intensity", "--cloud", "aws:us-east-1").stdout


@pytest.mark.parametrize(("args", "needle"), [
    (["--region", "CA"], "region 'CA' is ambiguous: write --country CA for Canada or --region US-CA"),
    (["--region", "in"], "--country IN for India or --region US-IN for Indiana"),
    (["--site", "laptop"], "--site: site must be one of personal, datacentre, aws, gcp, azure"),
])
def test_bad_or_ambiguous_input_is_one_line(args: list[str], needle: str) -> None:
    r = wp("intensity", *args)
    assert r.returncode == 2 and needle in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_unambiguous_bare_region_and_subregion_codes_still_work() -> None:
    assert "(FR, 2025)" in wp("intensity", "--region", "FR").stdout
    r = wp("intensity", "--region", "US-SRVC")
    assert r.returncode == 0 and "290.56 gCO2e/kWh  (US-SRVC, 2024)" in r.stdout


def test_regions_shows_source_and_basis() -> None:
    r = wp("regions", "US-SRVC")
    assert r.returncode == 0, r.stderr
    row = next(ln for ln in r.stdout.splitlines() if ln.startswith("US-SRVC"))
    assert "direct CO2e, average, generation-based" in row and "eGRID2024" in row
    ca = next(ln for ln in wp("regions", "CA-QC").stdout.splitlines() if ln.startswith("CA-QC"))
    assert "lifecycle CO2e" in ca and "derived" in ca  # the derived Canadian rows say so
    g = next(ln for ln in wp("regions", "gcp:us-central1").stdout.splitlines()
             if ln.startswith("gcp:us-central1"))
    assert "consumption-based" in g and "Apache-2.0" in g


BUMP = ("import sys; p = sys.argv[1] + '/intel-rapl:0/energy_uj'; "
        "v = int(open(p).read()); open(p, 'r+').write(str(v + int(sys.argv[2])) + '\\n')")


def test_runs_and_compare_show_grid_fallback_and_caveats(tmp_path: Path) -> None:
    root = str(make_tree(tmp_path / "pc", packages=1, dram=True))
    db = str(tmp_path / "c.db")
    for loc in (["--country", "FR", "--market-g-per-kwh", "20", "--site", "aws"], []):
        r = wp("run", "--db", db, "--rapl-root", root, *loc, "--name", "job", "--",
               sys.executable, "-c", BUMP, root, "3000000")
        assert r.returncode == 0, r.stderr
        if loc:  # the summary's market-based line says the PUE it includes
            assert "gCO2e/kWh × PUE 1.15" in r.stderr + r.stdout
    runs = wp("runs", "--db", db)
    assert runs.returncode == 0, runs.stderr
    head, *lines = runs.stdout.splitlines()
    assert "GRID" in head.split()
    assert any(" FR " in ln for ln in lines) and any("WORLD (fallback)" in ln for ln in lines)
    cmp = wp("compare", "--db", db, "--name", "job")
    assert cmp.returncode == 0, cmp.stderr
    assert "different grids (FR, WORLD (fallback))" in cmp.stdout
    assert "used the world-average fallback" in cmp.stdout and "different PUEs (1, 1.15)" in cmp.stdout
    data = json.loads(wp("compare", "--db", db, "--name", "job", "--format", "json").stdout)
    assert len(data["caveats"]) == 3 and {r["site"] for r in data["runs"]} == {"aws", "personal"}


def test_model_card_names_the_place_and_keeps_tiny_emissions(tmp_path: Path) -> None:
    from wattprint.report.modelcard import _yaml_number, place

    assert _yaml_number(3.2e-9) == "0.0000000032" and float(_yaml_number(4.99e-7)) == 4.99e-7
    assert _yaml_number(6.80848) == "6.80848" and _yaml_number(0.0) == "0.0"
    assert place({"location": "US-NWPP", "chain": [
        "--cloud: cloud aws:us-west-2 (US West (Oregon)) -> grid US-NWPP",
        "grid US-NWPP (WECC Northwest (eGRID subregion NWPP)): 264.16 gCO2e/kWh, 2024"]}) \
        == "aws:us-west-2 (US West (Oregon))"
    assert place({"location": "FR", "chain": ["grid FR (France): 41.44 gCO2e/kWh, 2025"]}) == "France (FR)"
    assert place({"location": "FR", "chain": []}) == "FR"  # a run whose chain names neither

    root = str(make_tree(tmp_path / "pc", packages=1, dram=True))
    db = str(tmp_path / "m.db")
    r = wp("run", "--db", db, "--rapl-root", root, "--cloud", "gcp:europe-west9", "--",
           sys.executable, "-c", BUMP, root, "1")  # 1 µJ: about 4e-12 g
    assert r.returncode == 0, r.stderr
    card = wp("report", "--db", db, "--format", "modelcard")
    assert card.returncode == 0, card.stderr
    fields = dict(ln.strip().split(": ", 1) for ln in card.stdout.splitlines()[2:])
    assert json.loads(fields["geographical_location"]) == "gcp:europe-west9 (Paris, France)"
    assert 0 < float(fields["emissions"]) < 1e-6


def test_methodology_states_the_basis() -> None:
    from wattprint.report.methodology import _basis_sentence

    life = _basis_sentence({"scope": "lifecycle", "gas": "CO2e"}, [])
    assert "lifecycle" in life and "not a GHG Protocol Scope 2 figure" in life
    direct = _basis_sentence({"scope": "direct"}, [])
    assert "basis of the GHG Protocol Scope 2 location-based method" in direct
    # a run stored without a basis: its chain's grid step, else unknown
    assert _basis_sentence({}, ["grid FR (France): 41.44 gCO2e/kWh, 2025, lifecycle CO2e, "
                                "average, generation-based, Ember"]) == life
    assert "not recorded" in _basis_sentence({}, ["argument: --country FR"])


def test_laptop_gpu_gets_its_laptop_power() -> None:
    from wattprint.sensors.gpu.common import lookup_tdp

    laptop = lookup_tdp("NVIDIA GeForce RTX 4090 Laptop GPU")
    desktop = lookup_tdp("NVIDIA GeForce RTX 4090")
    assert laptop is not None and laptop.tdp_w == 150 and laptop.source == "nv-rtx4090-laptop"
    assert desktop is not None and desktop.tdp_w == 450


def test_run_summary_says_the_site_why_and_the_other_figure(tmp_path: Path) -> None:
    root = str(make_tree(tmp_path / "pc", packages=1, dram=True))
    r = wp("run", "--db", str(tmp_path / "s.db"), "--rapl-root", root, "--cloud", "aws:us-west-2",
           "--", sys.executable, "-c", BUMP, root, "5000000")
    assert r.returncode == 0, r.stderr
    out = r.stdout + r.stderr
    assert "× PUE 1.15 (US-NWPP 2024, direct CO2e;" in out and "site aws: cloud region aws:us-west-2 is on aws" in out
    assert "another figure for this site: gcp:us-west1 (" in out
