"""The resolver: chain order, errors people can act on, PUE and market factor, the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from settings_for import settings_for
from wattprint.errors import ConfigError
from wattprint.intensity.base import LocationError
from wattprint.intensity.resolve import resolve
from wattprint.intensity.static import world_average
from wattprint.settings import load

ROOT = Path(__file__).resolve().parents[1]


def r(env: dict | None = None, project: dict | None = None, user: dict | None = None, **kw):
    """Resolve with this environment and these config files only (no cloud probe)."""
    kw.setdefault("probe_cloud", False)
    return resolve(settings=settings_for(env, project, user), **kw)


def test_argument_beats_env_beats_project_file_beats_user_file() -> None:
    env = {"WATTPRINT_COUNTRY": "FR"}
    assert r(country="DE", env=env, project={"country": "PL"}).location == "DE"
    it = r(env=env, project={"country": "PL"})
    assert it.location == "FR" and it.chain[0] == "argument: no location set"
    assert it.chain[1] == "WATTPRINT_COUNTRY: country FR"
    it = r(project={"country": "PL"}, user={"country": "ES"})
    assert it.location == "PL"
    assert f"{Path.cwd() / 'wattprint.toml'}:1: country PL" in it.chain
    it = r(user={"region": "US-OR"})
    assert it.chain[:3] == ["argument: no location set", "env: no location set",
                            "project file: no location set"]
    assert it.chain[3] == f"{Path.cwd() / 'user-config.toml'}:1: region US-OR"


def test_location_is_taken_whole_from_the_best_source() -> None:
    # a country given as an argument is not overridden by a more specific region from a file
    it = r(country="DE", project={"region": "US-CA"})
    assert it.location == "DE"


def test_most_specific_setting_within_a_step() -> None:
    it = r(country="US", region="US-TX", cloud_provider="aws", cloud_region="us-west-2")
    assert it.location == "US-TX"
    assert it.pue == pytest.approx(1.15)  # region gives the grid, the provider the PUE
    assert r(country="US", cloud_provider="gcp", cloud_region="us-central1").location == "gcp:us-central1"


def test_env_cloud_pair_and_provider_prefix_forms() -> None:
    env = {"WATTPRINT_CLOUD_PROVIDER": "azure", "WATTPRINT_CLOUD_REGION": "westeurope"}
    it = r(env)
    assert it.location == "NL" and it.pue == pytest.approx(1.18)
    assert r(cloud_region="gcp:europe-west9").location == "gcp:europe-west9"
    assert r(region="aws:eu-north-1").location == "SE"


@pytest.mark.parametrize("kw, bad", [
    ({"country": "XX"}, "XX"),
    ({"region": "US-ZZ"}, "US-ZZ"),
    ({"region": "Narnia"}, "Narnia"),
    ({"cloud_provider": "aws", "cloud_region": "mars-north-1"}, "mars-north-1"),
    ({"cloud_provider": "oci", "cloud_region": "eu-frankfurt-1"}, "oci"),
])
def test_unknown_codes_raise_one_line_with_hint(kw: dict, bad: str) -> None:
    with pytest.raises(LocationError) as ei:
        r(**kw)
    msg = str(ei.value)
    assert bad in msg and "\n" not in msg and "wattprint regions" in msg


def test_cloud_region_without_provider_is_an_error() -> None:
    with pytest.raises(LocationError, match="aws:eu-west-3"):
        r(cloud_region="eu-west-3")


def test_valid_subdivision_without_data_uses_country_with_warning() -> None:
    it = r(region="DE-BY")
    assert it.location == "DE" and not it.fallback
    assert any("DE-BY" in w and "Germany" in w for w in it.warnings)
    it = r(region="CN-XZ")
    assert it.location == "CN" and any("Tibet" in w for w in it.warnings)


def test_canadian_province_has_its_own_figure() -> None:
    it = r(region="CA-QC")
    assert it.location == "CA-QC" and not it.fallback and not it.warnings
    assert it.g_per_kwh == pytest.approx(27.5) and it.year == 2023
    assert r(cloud_provider="aws", cloud_region="ca-west-1").location == "CA-AB"
    # Canada now has a provincial table: a code outside it is an error, not the national figure.
    with pytest.raises(LocationError, match="CA-ZZ"):
        r(region="CA-ZZ")


def test_iso3_and_case_are_accepted() -> None:
    assert r(country="fra").location == "FR"
    assert r(region="au-nsw").g_per_kwh == pytest.approx(660.0)


def test_fallback_is_flagged_and_visible() -> None:
    it = r()
    assert it.fallback and it.location == "WORLD" and it.year == 2024
    assert it.g_per_kwh == pytest.approx(472.94)
    assert it.warnings and "world average" in it.warnings[0]
    assert any(c.startswith("fallback: world average") for c in it.chain)
    w = world_average("resolver failed")
    assert w.fallback and w.warnings and w.location == "WORLD"


def test_pue_chain() -> None:
    assert r(country="FR").pue == 1.0
    it = r(cloud_provider="gcp", cloud_region="europe-west1")
    assert it.pue == pytest.approx(1.10) and "gcp" in it.pue_source
    assert r(cloud_provider="gcp", cloud_region="europe-west1", pue=1.3).pue == 1.3
    it = r(country="FR", env={"WATTPRINT_PUE": "1.4"})
    assert it.pue == 1.4 and it.pue_source == "set by WATTPRINT_PUE"
    it = r(country="FR", project={"pue": 1.2})
    assert it.pue == 1.2 and it.pue_source == f"set by {Path.cwd() / 'wattprint.toml'}:1"
    # Provider only (no region): its PUE applies, the location comes from elsewhere.
    it = r(country="FR", project={"cloud_provider": "aws"})
    assert it.location == "FR"
    it = r(env={"WATTPRINT_CLOUD_PROVIDER": "aws"}, user={"country": "IE"})
    assert it.location == "IE" and it.pue == pytest.approx(1.15)


@pytest.mark.parametrize("bad", [0.5, 9.0, "abc", "nan", "inf", -1])
def test_bad_pue_is_refused_not_replaced_by_a_default(bad: object) -> None:
    with pytest.raises(ConfigError, match="^WATTPRINT_PUE: pue must be"):
        r(country="FR", env={"WATTPRINT_PUE": str(bad)})
    with pytest.raises(ConfigError, match="^argument pue: pue must be"):
        r(country="FR", pue=float(bad) if bad != "abc" else bad)


def test_market_factor_recorded_with_source() -> None:
    it = r(country="DE", env={"WATTPRINT_MARKET_G_PER_KWH": "25"})
    assert it.market_g_per_kwh == 25.0 and "WATTPRINT_MARKET_G_PER_KWH" in it.market_source
    assert r(country="DE").market_g_per_kwh is None
    with pytest.raises(ConfigError):
        r(country="DE", market_g_per_kwh=-3)


def test_settings_found_by_load_reach_the_resolver(tmp_path: Path) -> None:
    user = tmp_path / "user.toml"
    user.write_text('country = "ES"\npue = 1.25\n')
    (tmp_path / "wattprint.toml").write_text('region = "US-OR"\n')
    it = resolve(settings=load(env={"WATTPRINT_CONFIG": str(user)}), probe_cloud=False)
    assert it.location == "US-OR" and it.pue == 1.25  # the project file gives the location
    assert any("wattprint.toml:1: region US-OR" in c for c in it.chain)
    assert it.pue_source == f"set by {user}:2"


def test_without_settings_only_explicit_arguments_count(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATTPRINT_COUNTRY", "FR")
    (Path.cwd() / "wattprint.toml").write_text('pue = 2.0\n')
    it = resolve(probe_cloud=False)  # reads neither the environment nor the files
    assert it.fallback and it.pue == 1.0


def test_intensity_round_trips_through_dict() -> None:
    it = r(cloud_provider="aws", cloud_region="eu-west-3", market_g_per_kwh=10)
    from wattprint.intensity.base import Intensity

    assert Intensity.from_dict(json.loads(json.dumps(it.to_dict()))) == it


# ------------------------------------------------------------------- CLI, as a subprocess


def cli(*args: str, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("WATTPRINT_", "WATTTIME_", "ELECTRICITYMAPS_"))}
    env["WATTPRINT_CONFIG"] = os.devnull  # no user config file
    env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    env["WATTPRINT_NO_CLOUD_PROBE"] = "1"
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "wattprint.cli.main", *args], env=env,
                          capture_output=True, text=True, timeout=60)


def test_cli_intensity_shows_source_vintage_and_chain() -> None:
    p = cli("intensity", "--cloud", "aws:us-west-1", "--market-g-per-kwh", "20")
    assert p.returncode == 0, p.stderr
    assert "183.75 gCO2e/kWh" in p.stdout and "US-CAMX, 2024" in p.stdout
    assert "eGRID2024" in p.stdout and "PUE             1.15" in p.stdout
    assert "market-based    20" in p.stdout and "chain:" in p.stdout


def test_cli_intensity_fallback_warns() -> None:
    p = cli("intensity")
    assert p.returncode == 0 and "FALLBACK" in p.stdout and "warning:" in p.stdout


def test_cli_intensity_json() -> None:
    p = cli("intensity", "--country", "FR", "--json")
    d = json.loads(p.stdout)
    assert d["location"] == "FR" and d["g_per_kwh"] == pytest.approx(41.44) and d["year"]


@pytest.mark.parametrize("args", [("intensity", "--country", "XX"),
                                  ("intensity", "--cloud", "aws"),
                                  ("intensity", "--cloud", "aws:nowhere-1")])
def test_cli_intensity_bad_input_one_line_exit_2(args: tuple[str, ...]) -> None:
    p = cli(*args)
    assert p.returncode == 2
    assert p.stderr.count("\n") == 1 and "Traceback" not in p.stderr


def test_cli_bad_config_file_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "c.toml"
    bad.write_text('country = "FR"\npue = [\n')
    p = cli("intensity", env_extra={"WATTPRINT_CONFIG": str(bad)})
    assert p.returncode == 2 and str(bad) in p.stderr and "Traceback" not in p.stderr


def test_cli_regions_filters_on_code_and_name() -> None:
    p = cli("regions", "france")
    assert p.returncode == 0
    assert "FR " in p.stdout and "gcp:europe-west9" in p.stdout and "\nDE " not in p.stdout
    p = cli("regions", "us-c")
    assert "US-CA" in p.stdout and "US-CO" in p.stdout and "\nUS-TX" not in p.stdout
    p = cli("regions", "AWS:")
    assert "aws:eu-west-3" in p.stdout and "azure:" not in p.stdout
    p = cli("regions")
    assert p.returncode == 0 and p.stdout.count("\n") > 300


def test_cli_regions_no_match() -> None:
    p = cli("regions", "zzzz-no-such")
    assert p.returncode == 1 and "zzzz-no-such" in p.stderr


def test_cli_intensity_names_the_live_provider_without_fetching() -> None:
    p = cli("intensity", "--country", "GB", env_extra={"WATTPRINT_UK_CARBON_INTENSITY": "1",
                                                       "WATTPRINT_UK_CARBON_INTENSITY_URL":
                                                       "http://127.0.0.1:9"})
    assert p.returncode == 0 and "live            UK Carbon Intensity" in p.stdout
    p = cli("intensity", "--country", "FR")
    assert "live            none configured" in p.stdout
