"""A database URL given as ``db`` is refused in one line, never taken as a file path.

Taken as a path, ``postgresql://u:pw@host/db`` created directories named
``postgresql:`` in the working directory. Flag, environment and config file
all go through the one check in settings.py; the CLI is a real subprocess.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fake_rapl import make_tree
from settings_for import settings_for, write_toml
from wattprint.errors import ConfigError

SRC = str(Path(__file__).resolve().parents[1] / "src")
PG = "postgresql://ann:s3cret@db.example:5432/runs"


def _wp(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    e = dict(os.environ, PYTHONPATH=SRC, **env)
    return subprocess.run([sys.executable, "-m", "wattprint.cli.main", *args], capture_output=True, text=True,
                          env=e, cwd=cwd, timeout=60)


@pytest.mark.parametrize("source", ["flag", "env", "file"])
@pytest.mark.parametrize("command", ["run", "runs"])
def test_a_postgresql_url_is_refused_in_one_line_from_every_source(source: str, command: str,
                                                                   tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    marker = tmp_path / "ran"
    args = [command]
    if command == "run":
        args += ["--rapl-root", str(make_tree(tmp_path / "pc", packages=1))]
    env = {"WATTPRINT_DB": PG} if source == "env" else {}
    if source == "flag":
        args += ["--db", PG]
    if source == "file":
        write_toml(work / "wattprint.toml", {"db": PG})
        env["WATTPRINT_DB"] = ""  # unset (the tests' own database would win over the file)
    if command == "run":
        args += ["--", sys.executable, "-c", f"open({str(marker)!r}, 'w')"]
    r = _wp(args, work, env)
    assert r.returncode == 2, (r.stdout, r.stderr)
    label = {"flag": "--db", "env": "WATTPRINT_DB", "file": f"{work / 'wattprint.toml'}:1"}[source]
    assert r.stderr.strip() == (f"wattprint: error: {label}: db is a URL (postgresql://...): PostgreSQL "
                                "stores are not supported yet; set a file path")
    assert "s3cret" not in r.stdout + r.stderr  # a URL may hold a password: never shown back
    assert sorted(p.name for p in work.iterdir()) == (["wattprint.toml"] if source == "file" else [])
    assert not marker.exists()  # refused before the command started


@pytest.mark.parametrize("url, what", [
    ("postgres://h/db", "PostgreSQL stores"),
    ("PostgreSQL+psycopg://h/db", "PostgreSQL stores"),
    ("sqlite:///runs.db", "database URLs"),
    ("file://runs.db", "database URLs"),
])
def test_any_url_is_refused_from_the_api_too(url: str, what: str) -> None:
    for kwargs in ({"env": {"WATTPRINT_DB": url}}, {"db": url}, {"store": url}, {"project": {"db": url}}):
        with pytest.raises(ConfigError, match=f"db is a URL .*: {what} are not supported yet; set a file path"):
            settings_for(**kwargs)  # type: ignore[arg-type]
    assert list(Path.cwd().glob("*:*")) == []


@pytest.mark.parametrize("path", ["runs.db", "dir/a:b.db", "./postgresql://x.db", "x/postgresql://y.db"])
def test_paths_that_are_not_urls_are_kept(path: str) -> None:
    s = settings_for(env={"WATTPRINT_DB": path})
    assert s.get("db") == path
