"""The one settings path: every key, from every source, with its precedence, bounds and label.

Sources, best first: argument (API keyword or CLI flag), environment, ./wattprint.toml,
the user config file, the default. Files are real files; the CLI is a real subprocess.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import wattprint
from fake_rapl import make_tree
from settings_for import settings_for, write_toml
from wattprint.errors import ConfigError, WattprintWarning
from wattprint.settings import KEY, KEYS, LEVELS, Settings, check_keywords, load

SRC = str(Path(__file__).resolve().parents[1] / "src")
SENSORS = [object()]

# name → two alternatives, each (argument, env text, file value, value read); None = that
# source cannot express it (e.g. tags have no environment variable).
SAMPLES: dict[str, tuple[tuple[object, ...], tuple[object, ...]]] = {
    "name": (("train", "train", "train", "train"), ("eval", "eval", "eval", "eval")),
    "interval": ((0.5, "0.5", 0.5, 0.5), (2, " 2 ", 2, 2.0)),
    "country": (("FR", "FR", "FR", "FR"), ("DE", "DE", "DE", "DE")),
    "region": (("US-CA", "US-CA", "US-CA", "US-CA"), ("US-OR", "US-OR", "US-OR", "US-OR")),
    "cloud_provider": (("aws", "aws", "aws", "aws"), ("gcp", "gcp", "gcp", "gcp")),
    "cloud_region": (("eu-west-3", "eu-west-3", "eu-west-3", "eu-west-3"),
                     ("us-east-1", "us-east-1", "us-east-1", "us-east-1")),
    "pue": ((1.2, "1.2", 1.2, 1.2), (1.5, "1.5", 1.5, 1.5)),
    "market_g_per_kwh": ((25, "25", 25, 25.0), (0, "0", 0.0, 0.0)),
    "probe_cloud": ((False, "1", False, False), (True, None, True, True)),
    "gpus": (("0,1", "0,1", "0,1", "0,1"), ([2, 3], "2,3", "2,3", "2,3")),
    "rapl_root": (("<dir-a>", "<dir-a>", "<dir-a>", "<dir-a>"), ("<dir-b>", "<dir-b>", "<dir-b>", "<dir-b>")),
    "sensors": ((SENSORS, None, None, SENSORS), ([], None, None, [])),
    "sinks": ((SENSORS, None, None, SENSORS), ([], None, None, [])),
    "store": ((False, None, None, False), (True, None, None, True)),
    "db": (("a.db", "a.db", "a.db", "a.db"), ("b.db", "b.db", "b.db", "b.db")),
    "flush_every_s": ((5, "5", 5, 5.0), (0, "0", 0, 0.0)),
    "baseline": (("stored", "stored", "stored", "stored"), (3, "3", 3, 3.0)),
    "baseline_max_age_s": ((60, "60", 60, 60.0), (7200.5, "7200.5", 7200.5, 7200.5)),
    "command": ((["python", "x.py"], None, None, ["python", "x.py"]), (("a",), None, None, ["a"])),
    "tags": (({"n": 1}, None, None, {"n": "1"}), ({"model": "bert"}, None, None, {"model": "bert"})),
    "process": (("self", None, None, os.getpid()), (1, None, None, 1)),
    "live_provider": (("UK", "uk", "Uk", "uk"), ("off", "OFF", "off", "off")),
    "electricitymaps_api_key": (("k1", "k1", "k1", "k1"), ("k2", "k2", "k2", "k2")),
    "electricitymaps_zone": (("FR", "FR", "FR", "FR"), ("DE", "DE", "DE", "DE")),
    "electricitymaps_url": (("http://a", "http://a", "http://a", "http://a"),
                            ("http://b", "http://b", "http://b", "http://b")),
    "uk_carbon_intensity": ((True, "yes", True, True), (False, "0", False, False)),
    "uk_carbon_intensity_url": (("http://a", "http://a", "http://a", "http://a"),
                                ("http://b", "http://b", "http://b", "http://b")),
    "watttime_username": (("ann", "ann", "ann", "ann"), ("bob", "bob", "bob", "bob")),
    "watttime_password": (("s1", "s1", "s1", "s1"), ("s2", "s2", "s2", "s2")),
    "watttime_region": (("CAISO_NORTH", "CAISO_NORTH", "CAISO_NORTH", "CAISO_NORTH"),
                        ("PJM", "PJM", "PJM", "PJM")),
    "watttime_url": (("http://a", "http://a", "http://a", "http://a"),
                     ("http://b", "http://b", "http://b", "http://b")),
    "cache_dir": (("c1", "c1", "c1", "c1"), ("c2", "c2", "c2", "c2")),
    "live_fetch_every_s": ((600, "600", 600, 600.0), (0.5, "0.5", 0.5, 0.5)),
    "prometheus_port": ((9100, "9100", 9100, 9100), (0, " 0 ", 0, 0)),
    "prometheus_address": (("::1", "::1", "::1", "::1"), ("0.0.0.0", "0.0.0.0", "0.0.0.0", "0.0.0.0")),
    "prometheus_pushgateway": (("http://gw:9091", "http://gw:9091", "http://gw:9091", "http://gw:9091"),
                               ("https://g", "https://g", "https://g", "https://g")),
    "pushgateway_job": (("train", "train", "train", "train"), ("eval", "eval", "eval", "eval")),
    "pushgateway_keep": ((True, "yes", True, True), (False, "0", False, False)),
    "otlp_endpoint": (("http://c:4318", "http://c:4318", "http://c:4318", "http://c:4318"),
                      ("https://c/otlp", "https://c/otlp", "https://c/otlp", "https://c/otlp")),
    "otlp_service_name": (("trainer", "trainer", "trainer", "trainer"), ("svc", "svc", "svc", "svc")),
    "exporter_timeout_s": ((0.5, "0.5", 0.5, 0.5), (10, "10", 10, 10.0)),
    "owner": (("ann", "ann", "ann", "ann"), ("bob", " bob ", "bob", "bob")),
    "project": (("llm", "llm", "llm", "llm"), ("vision", "vision", "vision", "vision")),
    "site": (("AWS", "aws", "Aws", "aws"), ("datacentre", "DATACENTRE", "datacentre", "datacentre")),
    "hwmon_root": (("<dir-a>", "<dir-a>", "<dir-a>", "<dir-a>"), ("<dir-b>", "<dir-b>", "<dir-b>", "<dir-b>")),
    "ipmi": (("on", "ON", "On", "on"), ("off", "off", "off", "off")),
    "redfish_url": (("https://a", "https://a", "https://a", "https://a"),
                    ("https://b", "https://b", "https://b", "https://b")),
    "redfish_username": (("ann", "ann", "ann", "ann"), ("bob", "bob", "bob", "bob")),
    "redfish_password": (("s1", "s1", "s1", "s1"), ("s2", "s2", "s2", "s2")),
    "redfish_ca_bundle": (("ca1", "ca1", "ca1", "ca1"), ("ca2", "ca2", "ca2", "ca2")),
    "redfish_chassis": (("1", "1", "1", "1"), ("Self", "Self", "Self", "Self")),
    "platform_model": (("on", "ON", "on", "on"), ("auto", "auto", "Auto", "auto")),
    "platform_model_psu": (("gold", "Gold", "gold", "gold"), ("titanium", "titanium", "titanium", "titanium")),
    "platform_model_psu_w": ((800.0, "800", 800, 800.0), (1600, "1600", 1600.0, 1600.0)),
    "platform_model_other_w": ((20.0, "20", 20, 20.0), (0, "0", 0.0, 0.0)),
    "job": (("exp-1", "exp-1", "exp-1", "exp-1"), ("off", "off", "off", "off")),
    "job_timeout_s": ((5, "5", 5, 5.0), (0.5, "0.5", 0.5, 0.5)),
    "boot_id_file": (("b1", "b1", "b1", "b1"), ("b2", "b2", "b2", "b2")),
    "slurm_signal": (("usr2", "USR2", "Usr2", "usr2"), ("off", "OFF", "off", "off")),
    "host_registry_dir": (("r1", "r1", "r1", "r1"), ("r2", "r2", "r2", "r2")),
    "budget_kwh": ((2.5, "2.5", 2.5, 2.5), (0.01, "0.01", 0.01, 0.01)),
    "budget_g": ((100, "100", 100, 100.0), (5.5, "5.5", 5.5, 5.5)),
    "budget_warn_at": ((0.5, "0.5", 0.5, 0.5), (1, "1", 1, 1.0)),
    "budget_action": (("warn", "WARN", "Warn", "warn"), ("stop", "stop", "stop", "stop")),
    "budget_grace_s": ((0, "0", 0, 0.0), (30, "30", 30, 30.0)),
    # a TOML table in a file (tests/test_embodied.py); the flat sample files cannot spell one
    "embodied_devices": (({"host": {"kg": 1, "years": 2}}, None, None,
                  {"host": {"kg": 1.0, "years": 2.0, "source": "user-given"}}),
                 ({"A100": {"kg": 150.5, "years": 4, "source": "vendor"}}, None, None,
                  {"A100": {"kg": 150.5, "years": 4.0, "source": "vendor"}})),
}


@pytest.fixture
def dirs(tmp_path: Path) -> dict[str, str]:
    out = {}
    for tag in ("a", "b"):
        (tmp_path / f"dir-{tag}").mkdir()
        out[f"<dir-{tag}>"] = str(tmp_path / f"dir-{tag}")
    return out


def sample(name: str, alt: int, source: int, dirs: dict[str, str]) -> object:
    value = SAMPLES[name][alt][source]
    return dirs.get(value, value) if isinstance(value, str) else value


def source_of(level: str, key_name: str, value: object) -> dict[str, object]:
    """settings_for() keywords that put ``value`` at one level."""
    key = KEY[key_name]
    if level == "argument":
        return {"arguments": {key_name: value}}
    if level == "env":
        return {"env": {key.env: value}}
    return {level: {key.file: value}}


def test_every_key_has_samples_and_every_sample_is_a_key() -> None:
    assert set(SAMPLES) == {k.name for k in KEYS}


@pytest.mark.parametrize("name", [k.name for k in KEYS])
def test_every_key_from_every_source_with_its_label(name: str, dirs: dict[str, str]) -> None:
    key = KEY[name]
    for level, column in zip(LEVELS, (0, 1, 2, 2)):
        for alt in (0, 1):
            raw, expected = sample(name, alt, column, dirs), sample(name, alt, 3, dirs)
            readable = {"argument": True, "env": key.env is not None, "project": key.file is not None,
                        "user": key.file is not None}[level]
            if raw is None or not readable:
                continue
            s = settings_for(**source_of(level, name, raw))  # type: ignore[arg-type]
            assert s.get(name) == expected, (level, alt)
            label = {"argument": f"argument {name}", "env": key.env,
                     "project": f"{Path.cwd() / 'wattprint.toml'}:1",
                     "user": f"{Path.cwd() / 'user-config.toml'}:1"}[level]
            assert s.source(name) == label
            assert s.layers(name) == [(expected, label, level)]


@pytest.mark.parametrize("name", [k.name for k in KEYS])
def test_sources_that_a_key_does_not_have_are_not_read(name: str, dirs: dict[str, str]) -> None:
    key = KEY[name]
    if key.env is None:
        env_names = {f"WATTPRINT_{name.upper()}": "x"}
        assert not settings_for(env_names).is_set(name)
    if key.file is None:
        assert not settings_for(project={name: "x"}).is_set(name)


@pytest.mark.parametrize("name", [k.name for k in KEYS])
def test_default_when_no_source_sets_it(name: str) -> None:
    s = settings_for()
    assert s.get(name) == KEY[name].default and not s.is_set(name)
    assert s.source(name) == ("default" if KEY[name].default is not None else "unset")
    assert Settings().get(name) == KEY[name].default


@pytest.mark.parametrize("name", [k.name for k in KEYS])
def test_precedence_argument_env_project_user(name: str, dirs: dict[str, str]) -> None:
    levels = [lv for lv, ok in zip(LEVELS, (True, KEY[name].env is not None, KEY[name].file is not None,
                                            KEY[name].file is not None)) if ok]
    for better, worse in zip(levels, levels[1:]):
        col = {"argument": 0, "env": 1, "project": 2, "user": 2}
        hi, lo = sample(name, 0, col[better], dirs), sample(name, 1, col[worse], dirs)
        if hi is None or lo is None:
            hi, lo = sample(name, 1, col[better], dirs), sample(name, 0, col[worse], dirs)
            want = sample(name, 1, 3, dirs)
        else:
            want = sample(name, 0, 3, dirs)
        if hi is None or lo is None:
            continue
        kw: dict[str, object] = {}
        for level, value in ((better, hi), (worse, lo)):
            for k, v in source_of(level, name, value).items():
                kw[k] = {**kw[k], **v} if isinstance(v, dict) and k in kw else v  # type: ignore[dict-item]
        s = settings_for(**kw)  # type: ignore[arg-type]
        assert s.get(name) == want, (better, worse)
        assert [lv for _, _, lv in s.layers(name)] == [better, worse]


# -- bounds: the same rule whatever the source ---------------------------------------------------


def _bad_numbers(name: str) -> list[tuple[object, str, str]]:
    """(argument, env text, TOML literal) values that must be refused for a numeric key."""
    lo, hi, lo_open = KEY[name].bounds
    below = lo if lo_open else lo - max(abs(lo) * 0.01, 0.001)
    above = hi * 1.01 + 1
    return [(math.nan, "nan", "nan"), (math.inf, "inf", "inf"), (-math.inf, "-inf", "-inf"),
            (below, repr(below), repr(below)), (above, repr(above), repr(above)),
            ("abc", "abc", '"abc"'), (True, "true", "true")]


@pytest.mark.parametrize("name", [k.name for k in KEYS if k.kind == "float"])
def test_numbers_must_be_finite_and_in_range_from_every_source(name: str) -> None:
    key = KEY[name]
    for arg, env_text, literal in _bad_numbers(name):
        with pytest.raises(ConfigError, match=f"^argument {name}: {name} must be a number"):
            load({name: arg}, env={}, files=[])
        if not isinstance(arg, bool):
            with pytest.raises(ConfigError, match=f"^{key.env}: {name} must be a number .*fix or unset"):
                load(env={key.env: env_text}, files=[])
        f = Path.cwd() / "wattprint.toml"
        f.write_text(f"# a comment\n{key.file} = {literal}\n")
        with pytest.raises(ConfigError) as ei:
            load(env={}, files=[("project", f)])
        assert str(ei.value).startswith(f"{f}:2: {name} must be a number") and "\n" not in str(ei.value)


def test_bound_words_say_the_range() -> None:
    with pytest.raises(ConfigError) as ei:
        load({"interval": 0.001}, env={}, files=[])
    assert str(ei.value) == ("argument interval: interval must be a number at least 0.01 and at most "
                             "3600 (seconds between samples), got 0.001")


@pytest.mark.parametrize("name", [k.name for k in KEYS if k.kind in ("str", "path", "dir", "choice")])
def test_empty_text_is_refused_but_an_empty_env_var_means_unset(name: str) -> None:
    key = KEY[name]
    for empty in ("", "   "):
        with pytest.raises(ConfigError, match=f"^argument {name}: {name} must be non-empty text"):
            load({name: empty}, env={}, files=[])
        with pytest.raises(ConfigError, match="must be non-empty text"):
            settings_for(project={key.file: empty})
        assert not load(env={key.env: empty}, files=[]).is_set(name)  # VAR= cmd unsets it
    with pytest.raises(ConfigError, match="must be non-empty text"):
        settings_for(project={key.file: 3})


def test_other_kinds_refuse_the_wrong_type(tmp_path: Path) -> None:
    bad = {"rapl_root": str(tmp_path / "nowhere"), "live_provider": "nope", "baseline": "later",
           "command": "python x.py", "tags": ["a"], "process": -5, "store": 3, "probe_cloud": "maybe",
           "uk_carbon_intensity": 2}
    for name, value in bad.items():
        with pytest.raises(ConfigError, match=f"^argument {name}: {name} must be"):
            load({name: value}, env={}, files=[])
    with pytest.raises(ConfigError, match="must be an existing directory"):
        settings_for({"WATTPRINT_RAPL_ROOT": str(tmp_path / "nowhere")})
    with pytest.raises(ConfigError, match=r":1: uk_carbon_intensity must be true or false"):
        settings_for(project={"uk_carbon_intensity": "yes"})  # a file has real booleans
    with pytest.raises(ConfigError) as ei:
        load({"tags": ["x" * 10_000]}, env={}, files=[])
    assert len(str(ei.value)) < 250  # a huge bad value is shown cut, the message stays one line
    for text in ("inf", "nan", "0", "-1", "86401"):
        with pytest.raises(ConfigError, match="^WATTPRINT_BASELINE: baseline must be 'stored' or a number"):
            settings_for({"WATTPRINT_BASELINE": text})


def test_no_cloud_probe_env_var_turns_probing_off_and_zero_leaves_it_automatic() -> None:
    assert settings_for({"WATTPRINT_NO_CLOUD_PROBE": "1"}).get("probe_cloud") is False
    assert not settings_for({"WATTPRINT_NO_CLOUD_PROBE": "0"}).is_set("probe_cloud")
    assert settings_for(project={"cloud_probe": False}).get("probe_cloud") is False


def test_store_path_names_the_database() -> None:
    s = load({"store": Path("runs.db")}, env={"WATTPRINT_DB": "other.db"}, files=[])
    assert s.get("store") is True and s.get("db") == "runs.db" and s.source("db") == "argument store"
    assert load({"store": False}, env={}, files=[]).get("store") is False


def test_with_arguments_puts_new_values_first_and_checks_them() -> None:
    s = settings_for({"WATTPRINT_PUE": "1.3"})
    t = s.with_arguments({"pue": 1.1}, {"pue": "--pue"})
    assert t.get("pue") == 1.1 and t.source("pue") == "--pue" and s.get("pue") == 1.3
    assert [lv for _, _, lv in t.layers("pue")] == ["argument", "env"]
    with pytest.raises(ConfigError, match="^--pue: pue must be"):
        s.with_arguments({"pue": math.nan}, {"pue": "--pue"})
    assert "pue=1.3 (WATTPRINT_PUE)" in repr(s)


def test_missing_user_config_named_by_env_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="^WATTPRINT_CONFIG: no such file"):
        load(env={"WATTPRINT_CONFIG": str(tmp_path / "nope.toml")})


def test_load_finds_the_user_file_and_the_project_file(tmp_path: Path) -> None:
    user = write_toml(tmp_path / "u.toml", {"pue": 1.4, "country": "ES"})
    project = write_toml(Path.cwd() / "wattprint.toml", {"country": "PT"})
    s = load(env={"WATTPRINT_CONFIG": str(user)})
    assert s.get("country") == "PT" and s.source("country") == f"{project}:1"
    assert s.get("pue") == 1.4 and s.source("pue") == f"{user}:1"
    assert [lv for _, _, lv in s.layers("country")] == ["project", "user"]


def test_a_near_miss_key_in_a_file_is_named_and_other_unknown_keys_are_kept_quiet() -> None:
    with pytest.warns(WattprintWarning, match=r"wattprint.toml:1: unknown key 'contry' ignored; did you mean "
                                              r"'country'\?"):
        s = settings_for(project={"contry": "FR"})
    assert not s.is_set("country")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        settings_for(project={"some_future_key": 1})  # a newer wattprint's key: no noise
        (Path.cwd() / "wattprint.toml").write_text('[other_tool]\ncontry = "FR"\n')
        load(env={}, files=[("project", Path.cwd() / "wattprint.toml")])


def test_a_bad_value_in_a_file_that_is_overridden_is_still_refused() -> None:
    with pytest.raises(ConfigError, match="pue must be"):
        settings_for(project={"pue": -1.0}, pue=1.2)


# -- keywords: typos and CodeCarbon ----------------------------------------------------------------


def test_typo_guard_names_the_nearest_setting() -> None:
    with pytest.raises(ConfigError) as ei:
        wattprint.track(countyr="FR")
    msg = str(ei.value)
    assert msg.startswith("track(): unknown keyword 'countyr'; did you mean 'country'?")
    assert "tags={...}" in msg and "\n" not in msg
    with pytest.raises(ConfigError, match="unknown keyword 'intervall'; did you mean 'interval'"):
        wattprint.Tracker(intervall=1)
    with pytest.raises(ConfigError, match=r"unknown keyword 'model' \(labels go in tags="):
        wattprint.track("x", model="bert")  # a tag must be explicit


@pytest.mark.parametrize("theirs, value, ours, read", [
    ("country_iso_code", "FRA", "country", "FRA"),
    ("measure_power_secs", 2, "interval", 2),
    ("gpu_ids", [0, 1], "gpus", [0, 1]),
    ("co2_signal_api_key", "k", "electricitymaps_api_key", "k"),
])
def test_codecarbon_spellings_are_read_as_ours_with_a_warning(theirs: str, value: object, ours: str,
                                                              read: object) -> None:
    with pytest.warns(WattprintWarning, match=f"'{theirs}' is CodeCarbon's name; read as '{ours}'"):
        assert check_keywords({theirs: value}) == {ours: read}


def test_codecarbon_country_reaches_the_run(tmp_path: Path) -> None:
    rapl = make_tree(tmp_path / "pc", packages=1)
    with pytest.warns(WattprintWarning, match="country_iso_code") as rec:
        t = wattprint.Tracker(country_iso_code="FRA", rapl_root=rapl, store=False, gpus="none")
    assert rec[0].filename == __file__  # the warning points at the caller's line, not at wattprint
    assert t.settings.get("country") == "FRA" and t._intensity is not None
    assert t._intensity.location == "FR"  # not the world average
    with pytest.warns(WattprintWarning, match="project_name") as rec:
        tracked = wattprint.track(project_name="exp-1", rapl_root=rapl, store=False, gpus="none")
    assert rec[0].filename == __file__
    assert tracked.name == "exp-1"


@pytest.mark.parametrize("theirs, hint", [
    ("save_to_file", "store=False"), ("output_dir", "store="), ("log_level", "WattprintWarning"),
    ("tracking_mode", "process='self'"),
])
def test_codecarbon_options_without_an_equivalent_are_refused_naming_ours(theirs: str, hint: str) -> None:
    with pytest.raises(ConfigError) as ei:
        wattprint.track(**{theirs: True})
    assert f"'{theirs}' is a CodeCarbon option" in str(ei.value) and hint in str(ei.value)


# -- the tracker consumes the settings ---------------------------------------------------------------


def test_tracker_refuses_bad_numbers_before_anything_starts(tmp_path: Path) -> None:
    rapl = make_tree(tmp_path / "pc", packages=1)
    for kw in ({"interval": math.inf}, {"pue": math.nan}, {"baseline": math.inf},
               {"flush_every_s": -1}, {"rapl_root": tmp_path / "nowhere"}, {"country": ""}):
        with pytest.raises(ConfigError):
            wattprint.Tracker(**{"rapl_root": rapl, "store": False, **kw})  # type: ignore[arg-type]


def test_tracker_uses_settings_given_and_reads_nothing_again(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    rapl = make_tree(tmp_path / "pc", packages=1)
    monkeypatch.setenv("WATTPRINT_PUE", "1.3")
    s = load({"rapl_root": rapl, "store": False, "gpus": "none", "country": "FR", "interval": 0.5})
    (Path.cwd() / "wattprint.toml").write_text("pue = [\n")  # broken after the settings were read
    monkeypatch.setenv("WATTPRINT_PUE", "nan")
    t = wattprint.Tracker(settings=s)
    assert t.interval == 0.5 and t._store_arg is False
    run = t.start()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = t.stop()
    assert run.intensity is not None and run.intensity.pue == 1.3
    assert run.intensity.pue_source == "set by WATTPRINT_PUE"


def test_tracker_arguments_beat_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rapl = make_tree(tmp_path / "pc", packages=1)
    monkeypatch.setenv("WATTPRINT_INTERVAL", "0.2")
    monkeypatch.setenv("WATTPRINT_NAME", "from-env")
    t = wattprint.Tracker(rapl_root=rapl, store=False)
    assert t.interval == 0.2 and t.name == "from-env"
    t = wattprint.Tracker("mine", interval=0.3, rapl_root=rapl, store=False)
    assert t.interval == 0.3 and t.name == "mine" and t.settings.source("interval") == "argument interval"


# -- the CLI: one line and exit 2 for every bad input, from every source ---------------------------


def wp(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    e = dict(os.environ, PYTHONPATH=SRC, **(env or {}))
    return subprocess.run([sys.executable, "-m", "wattprint.cli.main", *args], capture_output=True,
                          text=True, env=e, timeout=60, cwd=cwd)


@pytest.fixture
def rapl(tmp_path: Path) -> str:
    return str(make_tree(tmp_path / "pc", packages=1))


@pytest.mark.parametrize("args, env, needle", [
    (["run", "--interval", "inf"], {}, "--interval: interval must be a number"),
    (["run", "--interval", "nan"], {}, "--interval: interval must be a number"),
    (["run", "--baseline", "inf"], {}, "--baseline: baseline must be 'stored' or a number"),
    (["run", "--baseline-max-age", "inf"], {}, "--baseline-max-age must be more than 0"),
    (["run", "--country", ""], {}, "--country: country must be non-empty text"),
    (["run", "--json", ""], {}, "argument --json: wants a file name"),
    (["run", "--rapl-root", "/nonexistent/powercap"], {}, "--rapl-root: rapl_root must be an existing directory"),
    (["run", "--db", ""], {}, "--db: db must be non-empty text"),
    (["run", "--progress-every", "inf"], {}, "argument --progress-every: must be 0 or more seconds"),
    (["run"], {"WATTPRINT_PUE": "-1"}, "WATTPRINT_PUE: pue must be a number"),
    (["run"], {"WATTPRINT_PUE": "nan"}, "WATTPRINT_PUE: pue must be a number"),
    (["run"], {"WATTPRINT_INTERVAL": "inf"}, "WATTPRINT_INTERVAL: interval must be a number"),
    (["watch", "--duration", "inf"], {}, "argument --duration: must be more than 0 seconds"),
    (["watch", "--interval", "inf"], {}, "--interval: interval must be a number"),
    (["baseline", "--duration", "inf"], {}, "argument --duration: must be more than 0 seconds"),
    (["baseline", "--duration", "0"], {}, "argument --duration: must be more than 0 seconds"),
    (["report", "-o", ""], {}, "argument -o/--output: wants a file name"),
    (["compare", "last", "-o", ""], {}, "argument -o/--output: wants a file name"),
    (["intensity", "--pue", "inf"], {}, "--pue: pue must be a number"),
    (["doctor", "--market-g-per-kwh", "-5"], {}, "--market-g-per-kwh: market_g_per_kwh must be a number"),
])
def test_cli_bad_input_is_one_line_exit_2(args: list[str], env: dict[str, str], needle: str,
                                          tmp_path: Path, rapl: str) -> None:
    marker = tmp_path / "ran"
    cmd = ["--", sys.executable, "-c", f"open({str(marker)!r}, 'w')"] if args[0] == "run" else []
    extra = ["--rapl-root", rapl] if args[0] in ("run", "watch", "baseline") and "--rapl-root" not in args else []
    r = wp(*args, *extra, *cmd, env=env)
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("wattprint: error: ") and needle in lines[0], r.stderr
    assert not marker.exists()  # refused before the command started


@pytest.mark.parametrize("literal", ["nan", "-1.0", "inf"])
def test_cli_config_file_pue_out_of_range_is_refused(literal: str, tmp_path: Path, rapl: str) -> None:
    (tmp_path / "wattprint.toml").write_text(f'country = "FR"\npue = {literal}\n')
    r = wp("run", "--rapl-root", rapl, "--", "true", cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.strip() == (f"wattprint: error: {tmp_path / 'wattprint.toml'}:2: pue must be a number "
                                f"at least 1 and at most 3 (data-centre overhead factor), got {float(literal)!r}; "
                                "fix the file")


def test_cli_deeply_nested_config_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "wattprint.toml").write_text("x = " + "[" * 5000 + "]" * 5000 + "\n")
    r = wp("intensity", cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip() == (f"wattprint: error: {tmp_path / 'wattprint.toml'}: config file nests too "
                                "deeply to read (fix the file or remove it)")


def test_cli_says_where_each_value_came_from(tmp_path: Path) -> None:
    (tmp_path / "wattprint.toml").write_text('country = "DE"\npue = 1.1\n')
    r = wp("intensity", cwd=tmp_path)
    assert f"PUE             1.1  (set by {tmp_path / 'wattprint.toml'}:2)" in r.stdout
    assert f"{tmp_path / 'wattprint.toml'}:1: country DE" in r.stdout
    r = wp("intensity", env={"WATTPRINT_PUE": "1.2"}, cwd=tmp_path)
    assert "PUE             1.2  (set by WATTPRINT_PUE)" in r.stdout
    r = wp("intensity", "--pue", "1.3", "--country", "FR", env={"WATTPRINT_PUE": "1.2"}, cwd=tmp_path)
    assert "PUE             1.3  (set by --pue)" in r.stdout and "--country: country FR" in r.stdout


def test_cli_run_takes_interval_and_name_from_env_and_config(rapl: str, tmp_path: Path) -> None:
    (tmp_path / "wattprint.toml").write_text('name = "from-file"\ncountry = "FR"\n')
    out = tmp_path / "run.json"
    r = wp("run", "--rapl-root", rapl, "--no-store", "--json", str(out), "--", "true",
           env={"WATTPRINT_INTERVAL": "0.25"}, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    import json

    data = json.loads(out.read_text())
    assert data["name"] == "from-file" and data["interval_s"] == 0.25


def test_doctor_lists_the_settings_given_and_where_from_masking_secrets(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "wattprint.toml").write_text('country = "DE"\nwatttime_password = "hunter2"\n')
    r = wp("doctor", "--rapl-root", str(tmp_path / "empty"), "--pue", "1.2", cwd=tmp_path,
           env={"WATTPRINT_MARKET_G_PER_KWH": "20"})
    assert r.returncode == 0, r.stderr
    assert "  pue = 1.2  (--pue)" in r.stdout
    assert "  market_g_per_kwh = 20.0  (WATTPRINT_MARKET_G_PER_KWH)" in r.stdout
    assert f"  country = 'DE'  ({tmp_path / 'wattprint.toml'}:1)" in r.stdout
    assert f"  watttime_password = ***  ({tmp_path / 'wattprint.toml'}:2)" in r.stdout
    assert "hunter2" not in r.stdout + r.stderr
