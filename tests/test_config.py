"""Config files: where they are, and one-line errors naming file and line.

What the keys mean, their bounds and how a file ranks against flags and the
environment is tests/test_settings.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from wattprint.config import config_paths, read_file, user_config_path
from wattprint.errors import ConfigError


def test_user_path_precedence(tmp_path: Path) -> None:
    assert user_config_path({"WATTPRINT_CONFIG": str(tmp_path / "x.toml")}) == tmp_path / "x.toml"
    assert user_config_path({"XDG_CONFIG_HOME": str(tmp_path)}) == \
        tmp_path / "wattprint" / "config.toml"
    assert user_config_path({"HOME": str(tmp_path)}) == \
        tmp_path / ".config" / "wattprint" / "config.toml"
    paths = config_paths({"XDG_CONFIG_HOME": str(tmp_path)}, cwd=tmp_path / "proj")
    assert paths == [("project", tmp_path / "proj" / "wattprint.toml"),
                     ("user", tmp_path / "wattprint" / "config.toml")]


def test_read_file_gives_data_and_the_line_of_each_top_level_key(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text('# comment\ncountry = "FR"\n\n"pue" = 1.2\n[other]\ncountry = 1\n')
    data, lines = read_file(f)
    assert data == {"country": "FR", "pue": 1.2, "other": {"country": 1}}
    assert lines == {"country": 2, "pue": 4}  # a table's own keys are not top-level keys


def test_bad_toml_names_file_and_line(tmp_path: Path) -> None:
    f = tmp_path / "wattprint.toml"
    f.write_text('country = "FR"\n\npue = = 1.2\n')
    with pytest.raises(ConfigError) as ei:
        read_file(f)
    msg = str(ei.value)
    assert msg.startswith(f"{f}:3: invalid TOML") and "\n" not in msg


@pytest.mark.parametrize("opening, closing", [("[", "]"), ("{a = ", "}")])
def test_a_deeply_nested_file_is_one_line_not_a_traceback(tmp_path: Path, opening: str, closing: str) -> None:
    f = tmp_path / "deep.toml"
    f.write_text("x = " + opening * 5000 + "1" + closing * 5000 + "\n")
    with pytest.raises(ConfigError) as ei:
        read_file(f)
    assert str(ei.value) == f"{f}: config file nests too deeply to read (fix the file or remove it)"


def test_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    f = tmp_path / "latin.toml"
    f.write_bytes(b'country = "\xe9"\n')
    with pytest.raises(ConfigError, match="UTF-8"):
        read_file(f)
    with pytest.raises(ConfigError, match="cannot read"):
        read_file(tmp_path / "missing.toml")
