"""The PostgreSQL store on a real server: many writers, concurrent first use, the CLI, db copy, secrets.

The server is Debian's PostgreSQL, started for the session by ``pg_server``
(tests/store_fixtures.py) with password authentication; every ``wattprint``
here is a real subprocess with ``WATTPRINT_DB=postgresql://…``.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from fake_rapl import make_tree
from store_fixtures import PASSWORD, PgServer, raw
from wattprint.store.open import open_store
from wattprint.store.postgres import mask_url, pg_dialect
from wattprint.store.schema import MIGRATIONS, SCHEMA_VERSION

SRC = str(Path(__file__).resolve().parents[1] / "src")
WRITERS = 8
# bumps the fake RAPL package counter of the tree given as argv[1] by argv[2] joules, then exits
BUMP = ("import sys, time; p = sys.argv[1] + '/intel-rapl:0/energy_uj'; v = int(open(p).read()); "
        "time.sleep(0.3); open(p, 'r+').write(str(v + int(float(sys.argv[2]) * 1e6)) + '\\n'); time.sleep(0.3)")


def wp(args: list[str], db: str, *, env: dict[str, str] | None = None, timeout: float = 120,
       ) -> subprocess.CompletedProcess[str]:
    e = dict(os.environ, PYTHONPATH=SRC, WATTPRINT_DB=db, **(env or {}))
    return subprocess.run([sys.executable, "-m", "wattprint.cli.main", *args], capture_output=True, text=True,
                          env=e, timeout=timeout)


def run_args(tree: Path, joules: float, name: str) -> list[str]:
    return ["run", "--rapl-root", str(tree), "--country", "FR", "--interval", "0.05", "--quiet", "--name", name,
            "--", sys.executable, "-c", BUMP, str(tree), str(joules)]


def dump(url: str) -> str:
    """Every row of every table of the store, as text."""
    tables = [r[0] for r in raw(url, "SELECT tablename FROM pg_tables WHERE schemaname='public'")]
    return "\n".join(repr(raw(url, f"SELECT * FROM {t}")) for t in tables)  # noqa: S608 - names from the catalog


def test_eight_writer_processes_at_once_store_every_run_exactly(pg_url: str, tmp_path: Path) -> None:
    procs = []
    for i in range(WRITERS):
        tree = make_tree(tmp_path / f"pc{i}", packages=1)
        e = dict(os.environ, PYTHONPATH=SRC, WATTPRINT_DB=pg_url, WATTPRINT_PROJECT=f"p{i % 2}")
        procs.append(subprocess.Popen([sys.executable, "-m", "wattprint.cli.main",
                                       *run_args(tree, i + 1, f"writer-{i}")],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=e))
    for p in procs:
        out, err = p.communicate(timeout=180)
        assert p.returncode == 0, err
        assert PASSWORD not in out + err
    store = open_store(pg_url)
    runs = {r["name"]: r for r in store.list_runs()}
    assert sorted(runs) == sorted(f"writer-{i}" for i in range(WRITERS))
    for i in range(WRITERS):
        r = runs[f"writer-{i}"]
        assert r["status"] == "finished"
        assert r["energy_j"] == pytest.approx(i + 1, abs=1e-9)  # exactly what its process used
        assert r["project"] == f"p{i % 2}"
        full = store.get_run(r["id"])
        assert sum(iv["energy_j"]["cpu:package-0"] for iv in full["timeline"]) == pytest.approx(i + 1, abs=1e-9)
    assert {r["name"] for r in store.list_runs(project="p1")} == {f"writer-{i}" for i in range(1, WRITERS, 2)}
    assert PASSWORD not in dump(pg_url)


def test_eight_processes_migrating_a_new_database_at_once(pg_url: str) -> None:
    start = time.time() + 1.5  # every process connects, then all open the store at this instant
    code = ("import sys, time; from wattprint.store.open import open_store; "
            f"time.sleep(max(0.0, {start} - time.time())); s = open_store(sys.argv[1]); "
            "print(len(s.list_runs())); s.close()")
    procs = [subprocess.Popen([sys.executable, "-c", code, pg_url], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=dict(os.environ, PYTHONPATH=SRC)) for _ in range(WRITERS)]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0 and out.strip() == "0", err
    assert raw(pg_url, "SELECT version FROM wattprint_schema") == [(SCHEMA_VERSION,)]
    assert raw(pg_url, "SELECT COUNT(*) FROM pg_indexes WHERE indexname='runs_project'") == [(1,)]


def test_an_older_postgresql_schema_is_upgraded_and_its_runs_read(pg_url: str) -> None:
    for script in MIGRATIONS[:5]:
        for statement in script.split(";"):
            if statement.strip():
                raw(pg_url, pg_dialect(statement))
    raw(pg_url, "CREATE TABLE wattprint_schema (version BIGINT NOT NULL)")
    raw(pg_url, "INSERT INTO wattprint_schema VALUES (5)")
    raw(pg_url, "INSERT INTO runs (id, name, status, start_utc, duration_s, energy_j) "
                "VALUES ('old1', 'old', 'finished', 1700000000.0, 60.0, 40.0)")
    got = open_store(pg_url).get_run("old1")
    assert got["energy_j"] == 40.0 and got["owner"] is None and got["project"] is None
    assert raw(pg_url, "SELECT version FROM wattprint_schema") == [(SCHEMA_VERSION,)]
    raw(pg_url, f"UPDATE wattprint_schema SET version={SCHEMA_VERSION + 1}")
    with pytest.raises(Exception, match="newer than this wattprint"):
        open_store(pg_url)


def test_types_are_translated_outside_string_literals() -> None:
    sql = "CREATE TABLE t (a REAL, b BLOB NOT NULL, c INTEGER, d TEXT DEFAULT 'REAL BLOB', realm TEXT)"
    assert pg_dialect(sql) == ("CREATE TABLE t (a DOUBLE PRECISION, b BYTEA NOT NULL, c BIGINT, "
                               "d TEXT DEFAULT 'REAL BLOB', realm TEXT)")
    assert "REAL" not in pg_dialect("\n".join(MIGRATIONS)).replace("'", "")


def test_a_broken_connection_is_opened_again_for_the_next_write(pg_server: PgServer, pg_url: str) -> None:
    store = open_store(pg_url)
    head: dict[str, Any] = {"id": "r1", "name": "n", "status": "running", "start_utc": 1.7e9, "duration_s": 0.0,
                            "energy_j": 0.0, "channels": {}}
    store.save_progress(head)
    with pg_server.admin() as admin:  # what a server restart does to every client
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name='wattprint'")
    store.save_final({**head, "status": "finished", "duration_s": 2.0})
    assert store.get_run("r1")["status"] == "finished"


def _runs_into(db: str, tmp_path: Path, n: int = 2) -> None:
    for i in range(n):
        tree = make_tree(tmp_path / f"t{i}", packages=1)
        r = wp(run_args(tree, 2.5 * (i + 1), "train"), db, env={"WATTPRINT_PROJECT": "llm"})
        assert r.returncode == 0, r.stderr


def _outputs(db: str, ids: list[str]) -> dict[str, str]:
    """What each reading command prints for the store ``db`` (the store's name left out)."""
    commands = {
        "runs": ["runs"], "runs-project": ["runs", "--project", "llm"], "show": ["show", ids[0]],
        "report": ["report", ids[0], "--format", "json"], "export-json": ["export", ids[0], "--format", "json"],
        "export-csv": ["export", ids[0], "--format", "csv"], "export-all": ["export", "--format", "csv"],
        "compare": ["compare", *ids, "--format", "json"],
        "whatif": ["whatif", ids[0], "--country", "SE", "--json"],
    }
    out = {}
    for key, args in commands.items():
        r = wp(args, db)
        assert r.returncode == 0, (key, r.stderr)
        out[key] = r.stdout
    return out


def _without_times(report: str) -> Any:
    data = json.loads(report)
    data.pop("generated_utc", None)
    return data


def test_reading_commands_print_the_same_from_postgresql_and_sqlite(pg_url: str, tmp_path: Path) -> None:
    _runs_into(pg_url, tmp_path)
    copy = str(tmp_path / "copy.db")
    r = wp(["db", "copy", pg_url, copy], pg_url)
    assert r.returncode == 0, r.stderr
    ids = [h["id"] for h in open_store(pg_url).list_runs()]
    from_pg, from_sqlite = _outputs(pg_url, ids), _outputs(copy, ids)
    assert set(from_pg) == set(from_sqlite)
    for key in from_pg:
        if key == "report":
            assert _without_times(from_pg[key]) == _without_times(from_sqlite[key])
        else:
            assert from_pg[key] == from_sqlite[key], key
    assert "llm" in from_pg["show"] and len(from_pg["runs"].splitlines()) >= 3
    for text in (*from_pg.values(), r.stdout, r.stderr):
        assert PASSWORD not in text


def test_db_copy_sqlite_to_postgresql_to_sqlite_is_lossless_and_copies_nothing_twice(
    pg_url: str, tmp_path: Path
) -> None:
    first, back = str(tmp_path / "first.db"), str(tmp_path / "back.db")
    _runs_into(first, tmp_path, n=3)
    base = wp(["baseline", "--duration", "0.2", "--rapl-root", str(make_tree(tmp_path / "b", packages=1))], first)
    assert base.returncode == 0, base.stderr
    for src, dst in ((first, pg_url), (pg_url, back)):
        r = wp(["db", "copy", src, dst], first)
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith("copied 3 runs (") and "and 1 baselines" in r.stdout
        assert "0 runs already there" in r.stdout
        assert PASSWORD not in r.stdout + r.stderr
        again = wp(["db", "copy", src, dst], first)
        assert again.returncode == 0 and again.stdout.startswith("copied 0 runs (0 timeline intervals) and 0 ")
        assert "3 runs already there" in again.stdout
    a, b = open_store(first), open_store(back)
    assert json.dumps(a.list_runs(), sort_keys=True) == json.dumps(b.list_runs(), sort_keys=True)
    for h in a.list_runs():
        assert json.dumps(a.get_run(h["id"]), sort_keys=True) == json.dumps(b.get_run(h["id"]), sort_keys=True)
    assert [x._asdict() for x in a.list_baselines()] == [x._asdict() for x in b.list_baselines()]
    assert raw(pg_url, "SELECT COUNT(*) FROM runs") == [(3,)]


def test_db_copy_replaces_a_run_that_changed_and_refuses_bad_places(pg_url: str, tmp_path: Path) -> None:
    src = str(tmp_path / "src.db")
    _runs_into(src, tmp_path, n=1)
    assert wp(["db", "copy", src, pg_url], src).returncode == 0
    (rid,) = [r[0] for r in raw(src, "SELECT id FROM runs")]
    raw(src, "UPDATE runs SET name='renamed' WHERE id=?", (rid,))
    r = wp(["db", "copy", src, pg_url], src)
    assert r.returncode == 0 and r.stdout.startswith("copied 1 runs")
    assert open_store(pg_url).get_run(rid)["name"] == "renamed"
    for args, message in (
        (["db", "copy", str(tmp_path / "none.db"), pg_url], "no database file at"),
        (["db", "copy", src, src], "SRC and DST are the same store"),
        (["db", "copy", src, "mysql://u:pw@h/db"], "of a kind wattprint cannot store in"),
    ):
        r = wp(args, src)
        assert r.returncode == 2 and message in r.stderr and len(r.stderr.splitlines()) == 1, r.stderr
    assert not (tmp_path / "none.db").exists()


def test_the_password_is_masked_in_the_store_name_and_errors(pg_server: PgServer, pg_url: str) -> None:
    store = open_store(pg_url)
    assert PASSWORD not in str(store.path) and str(store.path).startswith("postgresql://***@127.0.0.1:")
    assert mask_url(f"postgresql://h/db?password={PASSWORD}&sslmode=disable") == \
        "postgresql://h/db?password=***&sslmode=disable"
    wrong = pg_url.replace(PASSWORD, PASSWORD[::-1])
    r = wp(["runs"], wrong)
    assert r.returncode == 2 and "password authentication failed" in r.stderr
    assert PASSWORD[::-1] not in r.stderr and PASSWORD not in r.stderr
    r = wp(["runs"], pg_url)
    assert r.returncode == 0 and "no runs stored yet in postgresql://***@" in r.stderr


@pytest.mark.parametrize("kind", ["owner", "project"])
def test_runs_filters_by_owner_and_project_on_both_stores(kind: str, store_target: str, tmp_path: Path) -> None:
    env_name = f"WATTPRINT_{kind.upper()}"
    for i, value in enumerate(("ann", "bob", "ann")):
        tree = make_tree(tmp_path / f"t{i}", packages=1)
        r = wp(run_args(tree, 1.0, f"r{i}"), store_target, env={env_name: value})
        assert r.returncode == 0, r.stderr
    heads = open_store(store_target).list_runs(**{kind: "ann"})  # type: ignore[arg-type]
    assert sorted(h["name"] for h in heads) == ["r0", "r2"] and all(h[kind] == "ann" for h in heads)
    r = wp(["runs", f"--{kind}", "bob"], store_target)
    assert r.returncode == 0 and "r1" in r.stdout and "r0" not in r.stdout
    r = wp(["runs", f"--{kind}", "carol"], store_target)
    assert r.returncode == 0 and f"no runs of {kind} 'carol' stored yet" in r.stderr
    r = wp(["export", "--format", "csv", f"--{kind}", "ann"], store_target)
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert r.returncode == 0 and sorted(row["name"] for row in rows) == ["r0", "r2"]
    assert {row[kind] for row in rows} == {"ann"}
    r = wp(["export", "--format", "json", f"--{kind}", "bob"], store_target)
    assert [h["name"] for h in json.loads(r.stdout)] == ["r1"]
    if kind == "project":  # the owner is who ran it, unless set
        import getpass

        assert {h["owner"] for h in heads} == {getpass.getuser()}


def test_a_store_that_cannot_be_reached_is_a_fault_of_the_run_without_the_password(
    pg_server: PgServer, tmp_path: Path
) -> None:
    import wattprint

    wrong = pg_server.url("postgres", password=PASSWORD[::-1])  # the server refuses this password
    t = wattprint.Tracker("unstored", rapl_root=make_tree(tmp_path / "pc", packages=1), store=wrong, gpus="none",
                          country="FR")
    t.start()
    with pytest.warns(wattprint.WattprintWarning, match="not storing this run") as said:
        run = t.stop().to_dict()
    assert all(PASSWORD[::-1] not in str(w.message) for w in said)
    (fault,) = [f for f in run["faults"] if f["source"] == "store"]
    assert fault["message"].startswith("not storing this run: cannot use database postgresql://***@127.0.0.1:")
    assert "password authentication failed" in fault["message"]
    assert PASSWORD[::-1] not in json.dumps(run) and PASSWORD not in json.dumps(run)


def test_doctor_says_whether_the_postgresql_store_is_reachable_without_the_password(pg_url: str) -> None:
    r = wp(["doctor"], pg_url)
    assert r.returncode == 0, r.stderr
    assert "ok postgresql://***@127.0.0.1:" in r.stdout and "reachable" in r.stdout
    wrong = wp(["doctor"], pg_url.replace(PASSWORD, "nope"))
    assert "!! cannot use database postgresql://***@127.0.0.1:" in wrong.stdout
    assert PASSWORD not in r.stdout + r.stderr + wrong.stdout + wrong.stderr and "nope" not in wrong.stdout
