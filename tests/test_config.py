"""Config files: where they are, which wins, and one-line errors naming file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from wattprint.config import ConfigError, config_paths, load_config, user_config_path


def test_user_path_precedence(tmp_path: Path) -> None:
    assert user_config_path({"WATTPRINT_CONFIG": str(tmp_path / "x.toml")}) == tmp_path / "x.toml"
    assert user_config_path({"XDG_CONFIG_HOME": str(tmp_path)}) == \
        tmp_path / "wattprint" / "config.toml"
    assert user_config_path({"HOME": str(tmp_path)}) == \
        tmp_path / ".config" / "wattprint" / "config.toml"
    paths = config_paths({"XDG_CONFIG_HOME": str(tmp_path)}, cwd=tmp_path / "proj")
    assert paths[-1] == tmp_path / "proj" / "wattprint.toml"


def test_no_files_gives_empty_config(tmp_path: Path) -> None:
    cfg = load_config({"XDG_CONFIG_HOME": str(tmp_path / "none")}, cwd=tmp_path)
    assert cfg == {"_sources": {}}


def test_cwd_file_wins_and_sources_recorded(tmp_path: Path) -> None:
    user = tmp_path / "cfg" / "wattprint" / "config.toml"
    user.parent.mkdir(parents=True)
    user.write_text('country = "FR"\npue = 1.2\nuk_carbon_intensity = true\n')
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "wattprint.toml").write_text('country = "DE"\n[other]\nkey = 1\n')
    cfg = load_config({"XDG_CONFIG_HOME": str(tmp_path / "cfg")}, cwd=proj)
    assert cfg["country"] == "DE" and cfg["pue"] == 1.2 and cfg["uk_carbon_intensity"] is True
    assert cfg["other"] == {"key": 1}  # other modules' keys are kept
    assert cfg["_sources"]["country"] == str(proj / "wattprint.toml")
    assert cfg["_sources"]["pue"] == str(user)


def test_bad_toml_names_file_and_line(tmp_path: Path) -> None:
    f = tmp_path / "wattprint.toml"
    f.write_text('country = "FR"\n\npue = = 1.2\n')
    with pytest.raises(ConfigError) as ei:
        load_config({"XDG_CONFIG_HOME": str(tmp_path / "none")}, cwd=tmp_path)
    msg = str(ei.value)
    assert msg.startswith(f"{f}:3: invalid TOML") and "\n" not in msg


@pytest.mark.parametrize("line, key", [('pue = "high"', "pue"), ("country = 33", "country"),
                                       ('uk_carbon_intensity = "yes"', "uk_carbon_intensity"),
                                       ("market_g_per_kwh = true", "market_g_per_kwh")])
def test_bad_value_type_names_key_and_line(tmp_path: Path, line: str, key: str) -> None:
    f = tmp_path / "c.toml"
    f.write_text(f"# comment\n{line}\n")
    with pytest.raises(ConfigError) as ei:
        load_config({"WATTPRINT_CONFIG": str(f)}, cwd=tmp_path / "nowhere")
    assert str(ei.value).startswith(f"{f}:2: '{key}' must be")


def test_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    d = tmp_path / "wattprint.toml"
    d.mkdir()  # a directory is not a file: skipped, not an error
    assert load_config({"XDG_CONFIG_HOME": str(tmp_path / "n")}, cwd=tmp_path)["_sources"] == {}
    f = tmp_path / "latin.toml"
    f.write_bytes(b'country = "\xe9"\n')
    with pytest.raises(ConfigError, match="UTF-8"):
        load_config({"WATTPRINT_CONFIG": str(f)}, cwd=tmp_path / "n")
