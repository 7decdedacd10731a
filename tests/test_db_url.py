"""``db`` as a URL: ``postgresql://`` names a PostgreSQL store, any other URL is refused in one line.

Taken as a path, ``postgresql://u:pw@host/db`` once created directories named
``postgresql:`` in the working directory. Flag, environment and config file
all go through the one check in settings.py; the CLI is a real subprocess. A
URL may hold a password: it is never shown back, not even in an error.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from fake_rapl import make_tree
from settings_for import settings_for, write_toml
from wattprint.errors import ConfigError
from wattprint.store.open import open_store

SRC = str(Path(__file__).resolve().parents[1] / "src")
SECRET = "s3cret"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens there once the socket is closed


def _wp(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    e = dict(os.environ, PYTHONPATH=SRC, **env)
    return subprocess.run([sys.executable, "-m", "wattprint.cli.main", *args], capture_output=True, text=True,
                          env=e, cwd=cwd, timeout=60)


def _refused(source: str, command: str, url: str, tmp_path: Path) -> tuple[str, Path]:
    """``command`` with ``url`` as its db from ``source``: it must fail (exit 2) before doing
    anything (no file made, the command not started) and never show the password. Returns
    stderr and the working directory."""
    work = tmp_path / "work"
    work.mkdir()
    marker = tmp_path / "ran"
    args = [command]
    if command == "run":
        args += ["--rapl-root", str(make_tree(tmp_path / "pc", packages=1))]
    env = {"WATTPRINT_DB": url} if source == "env" else {}
    if source == "flag":
        args += ["--db", url]
    if source == "file":
        write_toml(work / "wattprint.toml", {"db": url})
        env["WATTPRINT_DB"] = ""  # unset (the tests' own database would win over the file)
    if command == "run":
        args += ["--", sys.executable, "-c", f"open({str(marker)!r}, 'w')"]
    r = _wp(args, work, env)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert SECRET not in r.stdout + r.stderr  # a URL may hold a password: never shown back
    assert sorted(p.name for p in work.iterdir()) == (["wattprint.toml"] if source == "file" else [])
    assert not marker.exists()  # refused before the command started
    return r.stderr, work


@pytest.mark.parametrize("source", ["flag", "env", "file"])
@pytest.mark.parametrize("command", ["run", "runs"])
def test_a_url_of_another_kind_is_refused_in_one_line_from_every_source(source: str, command: str,
                                                                         tmp_path: Path) -> None:
    err, work = _refused(source, command, f"mysql://ann:{SECRET}@db.example:3306/runs", tmp_path)
    label = {"flag": "--db", "env": "WATTPRINT_DB", "file": f"{work / 'wattprint.toml'}:1"}[source]
    assert err.strip() == (f"wattprint: error: {label}: db is a URL (mysql://...) of a kind wattprint "
                           "cannot store in; give a file path or a postgresql:// URL")


@pytest.mark.parametrize("source", ["flag", "env", "file"])
@pytest.mark.parametrize("command", ["run", "runs"])
def test_an_unreachable_postgresql_store_is_one_line_without_the_password(source: str, command: str,
                                                                          tmp_path: Path) -> None:
    err, _ = _refused(source, command, f"postgresql://ann:{SECRET}@127.0.0.1:{_closed_port()}/runs", tmp_path)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("wattprint: error: cannot use database postgresql://***@127.0.0.1:")


@pytest.mark.parametrize("url, scheme", [
    ("sqlite:///runs.db", "sqlite"),
    ("file://runs.db", "file"),
    ("MySQL://h/db", "mysql"),
])
def test_any_other_url_is_refused_from_the_api_too(url: str, scheme: str) -> None:
    for kwargs in ({"env": {"WATTPRINT_DB": url}}, {"db": url}, {"store": url}, {"project": {"db": url}}):
        with pytest.raises(ConfigError, match=f"db is a URL \\({scheme}://...\\) of a kind wattprint cannot store"):
            settings_for(**kwargs)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="of a kind wattprint cannot store in"):
        open_store(url)
    assert list(Path.cwd().glob("*:*")) == []


@pytest.mark.parametrize("url", ["postgresql://h/db", "postgres://ann:pw@h:5433/db?sslmode=require",
                                 "PostgreSQL://h/db"])
def test_postgresql_urls_are_kept_as_given(url: str) -> None:
    for kwargs in ({"env": {"WATTPRINT_DB": url}}, {"db": url}, {"store": url}, {"project": {"db": url}}):
        assert settings_for(**kwargs).get("db") == url  # type: ignore[arg-type]
    assert list(Path.cwd().glob("*:*")) == []  # never a directory named after the scheme


@pytest.mark.parametrize("path", ["runs.db", "dir/a:b.db", "./postgresql://x.db", "x/postgresql://y.db"])
def test_paths_that_are_not_urls_are_kept(path: str) -> None:
    s = settings_for(env={"WATTPRINT_DB": path})
    assert s.get("db") == path


def test_without_psycopg_a_postgresql_url_says_which_extra_to_install(tmp_path: Path) -> None:
    blocked = tmp_path / "blocked"
    (blocked / "psycopg").mkdir(parents=True)
    (blocked / "psycopg" / "__init__.py").write_text("raise ImportError('psycopg is not installed')\n")
    e = dict(os.environ, PYTHONPATH=f"{blocked}{os.pathsep}{SRC}", WATTPRINT_DB=f"postgresql://ann:{SECRET}@h/db")
    r = subprocess.run([sys.executable, "-m", "wattprint.cli.main", "runs"], capture_output=True, text=True,
                       env=e, cwd=tmp_path, timeout=60)
    assert r.returncode == 2
    assert r.stderr.strip() == ("wattprint: error: a PostgreSQL store needs psycopg: "
                                "pip install 'wattprint[postgres]'")
