"""The CLI as a user meets it: a real subprocess each time."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fake_rapl import make_tree

SRC = str(Path(__file__).resolve().parents[1] / "src")


def wp(*args: str, env: dict[str, str] | None = None, **kw: object) -> subprocess.CompletedProcess[str]:
    e = dict(os.environ, PYTHONPATH=SRC, **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "wattprint.cli.main", *args],
        capture_output=True, text=True, env=e, timeout=60, **kw,  # type: ignore[arg-type]
    )


@pytest.fixture
def rapl(tmp_path: Path) -> str:
    return str(make_tree(tmp_path / "pc", packages=1))


def test_run_passes_output_and_exit_code_through(rapl: str) -> None:
    r = wp("run", "--rapl-root", rapl, "--country", "FR", "--",
           sys.executable, "-c", "print('hello'); raise SystemExit(3)")
    assert r.returncode == 3
    assert r.stdout == "hello\n"  # child's stdout untouched, summary on stderr
    assert "cpu:package-0" in r.stderr and "counter" in r.stderr
    assert "kWh" in r.stderr and "CO2e" in r.stderr and "FR" in r.stderr


def test_run_without_rapl_is_labelled_modelled(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()  # a powercap tree with no RAPL zone in it
    r = wp("run", "--rapl-root", str(tmp_path / "empty"), "--",
           sys.executable, "-c", "sum(range(10**6))")
    assert r.returncode == 0, r.stderr
    assert "modelled" in r.stderr
    assert "FALLBACK" in r.stderr  # no location given: said plainly


def test_run_is_stored_and_listed_shown_exported(rapl: str, tmp_path: Path) -> None:
    db = str(tmp_path / "r.db")
    r = wp("run", "--db", db, "--rapl-root", rapl, "--country", "DE", "--name", "job",
           "--", sys.executable, "-c", "pass")
    assert r.returncode == 0, r.stderr
    runs = wp("runs", "--db", db)
    assert runs.returncode == 0 and "job" in runs.stdout
    run_id = runs.stdout.splitlines()[1].split()[0]
    show = wp("show", run_id[:5], "--db", db)
    assert show.returncode == 0 and run_id in show.stdout
    out = tmp_path / "x.json"
    exp = wp("export", run_id, "--format", "json", "-o", str(out), "--db", db)
    assert exp.returncode == 0, exp.stderr
    data = json.loads(out.read_text())
    assert data["id"] == run_id and data["intensity"]["location"] == "DE"
    csv = wp("export", run_id, "--format", "csv", "--db", db)
    assert csv.stdout.splitlines()[0].startswith("run_id,interval,t0_s")
    all_csv = wp("export", "--format", "csv", "--db", db)
    assert run_id in all_csv.stdout
    assert "market_emissions_g" in all_csv.stdout.splitlines()[0]


@pytest.mark.parametrize(
    "args, needle",
    [
        (["run", "--interval", "abc", "--", "true"], "invalid float"),
        (["run", "--interval", "0.001", "--", "true"], "--interval: interval must be a number at least 0.01"),
        (["run", "--country", "XX", "--", "true"], "XX"),
        (["run", "--cloud", "nocolon", "--", "true"], "PROVIDER:REGION"),
        (["run"], "no command"),
        (["show", "doesnotexist"], "no run with id"),
        (["export", "--format", "xml"], "invalid choice"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_input_is_one_line_exit_2(args: list[str], needle: str) -> None:
    r = wp(*args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], r.stderr
    assert "Traceback" not in r.stderr


def test_unwritable_db_is_one_line_exit_2(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    r = wp("run", "--db", str(tmp_path / "f" / "x.db"), "--", "true")
    assert r.returncode == 2 and "cannot use database" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_sigterm_is_forwarded_and_the_run_still_summarised(rapl: str, tmp_path: Path) -> None:
    marker = tmp_path / "got-term"
    child = (
        "import signal, sys, time, pathlib\n"
        f"def h(*a):\n    pathlib.Path({str(marker)!r}).write_text('x'); sys.exit(7)\n"
        "signal.signal(signal.SIGTERM, h)\n"
        "print('ready', flush=True)\n"
        "time.sleep(30)\n"
    )
    e = dict(os.environ, PYTHONPATH=SRC)
    p = subprocess.Popen(
        [sys.executable, "-m", "wattprint.cli.main", "run", "--rapl-root", rapl, "--country", "FR",
         "--", sys.executable, "-c", child],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=e,
    )
    assert p.stdout is not None
    assert p.stdout.readline() == "ready\n"
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=30)
    assert p.returncode == 7
    assert marker.exists()
    assert "wattprint: run" in err


def test_sigint_is_forwarded_when_not_from_a_terminal(rapl: str) -> None:
    child = (
        "import time\nprint('ready', flush=True)\n"
        "try:\n time.sleep(30)\nexcept KeyboardInterrupt:\n raise SystemExit(5)\n"
    )
    e = dict(os.environ, PYTHONPATH=SRC)
    p = subprocess.Popen(
        [sys.executable, "-m", "wattprint.cli.main", "run", "--rapl-root", rapl, "--country", "FR",
         "--", sys.executable, "-c", child],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=e,
    )
    assert p.stdout is not None
    assert p.stdout.readline() == "ready\n"
    time.sleep(0.1)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=30)
    assert p.returncode == 5, err


def test_missing_command_exit_127(rapl: str) -> None:
    r = wp("run", "--rapl-root", rapl, "--", "no-such-program-xyz")
    assert r.returncode == 127 and "cannot run" in r.stderr


def test_doctor_reports_sensors_and_location(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    r = wp("doctor", "--rapl-root", str(tmp_path / "empty"), "--country", "FR")
    assert r.returncode == 0, r.stderr
    assert "modelled" in r.stdout and "FR" in r.stdout


def test_doctor_says_whether_the_database_is_private(tmp_path: Path, rapl: str) -> None:
    db = tmp_path / "team.db"
    assert wp("run", "--rapl-root", rapl, "--db", str(db), "--country", "FR", "--", "true").returncode == 0
    r = wp("doctor", "--rapl-root", rapl, "--country", "FR", "--db", str(db))
    assert r.returncode == 0, r.stderr
    assert f"ok {db}: mode 0600" in r.stdout, r.stdout
    db.chmod(0o644)  # as an older wattprint or a copy left it
    r = wp("doctor", "--rapl-root", rapl, "--country", "FR", "--db", str(db))
    assert f"!! {db}: mode 0644; other users can read it" in r.stdout and f"chmod 600 {db}" in r.stdout


def test_broken_config_file_is_one_line_exit_2(tmp_path: Path) -> None:
    (tmp_path / "wattprint.toml").write_text("country = \n")
    r = wp("run", "--", "true", cwd=str(tmp_path))
    assert r.returncode == 2 and "wattprint.toml" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_gpus_naming_no_gpu_is_one_line_exit_2(rapl: str) -> None:
    r = wp("run", "--rapl-root", rapl, "--gpus", "GPU-doesnotexist", "--", "true")
    assert r.returncode == 2, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_bad_country_in_the_environment_is_one_line_exit_2() -> None:
    r = wp("run", "--", "true", env={"WATTPRINT_COUNTRY": "ZZ"})
    assert r.returncode == 2 and "ZZ" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
