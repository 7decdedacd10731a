"""What the dashboard tests share: a store filled by real ``wattprint run`` runs, a real server.

The runs are real: ``wattprint run`` as a subprocess on a fake powercap tree
(the hardware boundary), whose counters the tracked command itself drives at
a known power, so the stored timeline has real, varying energy. The server is
``wattprint dashboard`` as a subprocess on a free port (``--port 0``; the URL is
read from its first line on stderr). No test lives here.
"""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fake_rapl import make_tree

SRC = str(Path(__file__).resolve().parents[1] / "src")
HOSTILE = '</td><script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">"\'&'
ARTIFACTS = Path(os.environ.get("WATTPRINT_TEST_ARTIFACTS", Path(__file__).resolve().parents[1] / "test-artifacts"))

# Raises the package and DRAM counters of a fake powercap tree at ``watts`` for ``seconds``,
# with a step up half-way, so the timeline is not flat: the tracked command of a CLI run,
# the tracked block of an API run.
DRIVE = """
import time
def drive(root, watts, seconds):
    zones = [(root + "/intel-rapl:0/energy_uj", 1.0), (root + "/intel-rapl:0/intel-rapl:0:0/energy_uj", 0.2)]
    t0 = last = time.monotonic()
    uj = [0.0, 0.0]
    while time.monotonic() - t0 < seconds:
        now = time.monotonic()
        w = watts if now - t0 < seconds / 2 else 2 * watts
        for i, (path, share) in enumerate(zones):
            uj[i] += w * share * (now - last) * 1e6
            with open(path, "r+", encoding="ascii") as fh:
                fh.write(f"{int(uj[i])}\\n")
        last = now
        time.sleep(0.01)
"""
CLI_CHILD = DRIVE + "import sys\ndrive(sys.argv[1], float(sys.argv[2]), 1.2)\n"
API_RUN = DRIVE + """
import json, sys, wattprint
root, db, name, tags, watts = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4]), float(sys.argv[5])
with wattprint.track(name=name, tags=tags, rapl_root=root, db=db, country="DE", interval=0.1):
    drive(root, watts, 1.2)
"""


def env(tmp: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": SRC, "WATTPRINT_NO_CLOUD_PROBE": "1", "XDG_CONFIG_HOME": str(tmp / "cfg"),
            "XDG_DATA_HOME": str(tmp / "data"), "XDG_CACHE_HOME": str(tmp / "cache")}


def _tree(tmp: Path) -> Path:
    root = tmp / f"pc-{len(list(tmp.glob('pc-*')))}"
    return make_tree(root, packages=1)


def _python(tmp: Path, *args: str) -> None:
    r = subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env(tmp), timeout=60)
    assert r.returncode == 0, r.stderr[-2000:]


def cli_run(tmp: Path, db: Path, name: str, watts: float, *, country: str | None = "FR") -> None:
    """One real ``wattprint run`` on its own fake powercap tree, stored in ``db``."""
    root = _tree(tmp)
    args = ["run", "--db", str(db), "--rapl-root", str(root), "--name", name, "--interval", "0.1",
            "--no-live", "--progress-every", "0", *(["--country", country] if country else [])]
    _python(tmp, "-m", "wattprint.cli.main", *args, "--", sys.executable, "-c", CLI_CHILD, str(root), str(watts))


def api_run(tmp: Path, db: Path, name: str, watts: float, tags: dict[str, str]) -> None:
    """One real ``wattprint.track()`` block in a fresh process (tags come only through the API)."""
    _python(tmp, "-c", API_RUN, str(_tree(tmp)), str(db), name, json.dumps(tags), str(watts))


def fill_store(tmp: Path) -> Path:
    """Two repeats of ``train`` and an ``eval`` without a location (CLI), a tagged API run, and
    an API run whose name and tag are hostile HTML."""
    db = tmp / "runs.db"
    cli_run(tmp, db, "train", 20.0)
    cli_run(tmp, db, "train", 24.0)
    cli_run(tmp, db, "eval", 10.0, country=None)
    api_run(tmp, db, "api-job", 15.0, {"team": "vision"})
    api_run(tmp, db, HOSTILE, 5.0, {"k": HOSTILE})
    return db


class Server:
    """``wattprint dashboard`` as a subprocess; ``url`` as it printed it (token included)."""

    def __init__(self, tmp: Path, db: Path, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "wattprint.cli.main", "dashboard", "--db", str(db), "--port", "0", *args],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env(tmp))
        self.url = self._first_line().split("wattprint dashboard: ", 1)[1].split()[0]
        self.base = self.url.split("?")[0].rstrip("/")

    def _first_line(self) -> str:
        assert self.proc.stderr is not None
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stderr, selectors.EVENT_READ)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if sel.select(timeout=0.5):
                line = self.proc.stderr.readline()
                if "wattprint dashboard: " in line:
                    return line
                if not line and self.proc.poll() is not None:
                    break
        self.stop()
        raise AssertionError(f"the dashboard did not start: {self.proc.stderr.read()[-2000:]}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
            raise AssertionError("the dashboard did not stop on SIGTERM within 15 s") from None


@contextmanager
def server(tmp: Path, db: Path, *args: str) -> Iterator[Server]:
    s = Server(tmp, db, *args)
    try:
        yield s
    finally:
        s.stop()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kw: Any) -> None:
        return None


def fetch(url: str, *, method: str = "GET", headers: dict[str, str] | None = None,
          follow: bool = True) -> tuple[int, dict[str, str], bytes]:
    """(status, headers with lower-case names, body) of one request; HTTP errors are answers too."""
    req = urllib.request.Request(url, method=method, headers=headers or {})
    opener = urllib.request.build_opener(*(() if follow else (NoRedirect(),)))
    try:
        with opener.open(req, timeout=30) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()


def fetch_json(url: str) -> Any:
    status, _, body = fetch(url)
    assert status == 200, body[:500]
    return json.loads(body)


def dashboard_store(tmp: Path) -> Path:
    """A store filled by :func:`fill_store` in ``tmp``, once the dashboard extra is known to be here
    (it fails in CI, skips with the install line elsewhere: tests/realparts.py)."""
    need_dashboard()
    return fill_store(tmp)


def need_dashboard() -> None:
    """The dashboard extra: present, or a skip with its install line (a failure in CI)."""
    from realparts import need_module

    for module in ("starlette", "uvicorn"):
        need_module(module, "the dashboard extra: pip install 'wattprint[dashboard]' (the test extra has it)")


def job_and_prediction_store(tmp: Path) -> tuple[Path, dict[str, str]]:
    """A store with a distributed job of two ranks on one host (their partial runs and the merged
    view, as ``wattprint`` makes them in one process: rank 0 owns the host's packages, rank 1's
    measurement of them is a duplicate), a finished run that reported its progress (its
    prediction checked against the actual), and a copy of it still running, with only its
    latest prediction; and a second job whose ranks both measured the host (its partials' duplicates).
    Returns the store and the ids by role: view, rank0, rank1, dup-view, dup-rank0, dup-rank1,
    finished, running."""
    import pytest

    need_dashboard()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WATTPRINT_NO_CLOUD_PROBE", "1")  # no metadata server asked, as env() says for subprocesses
        return _job_and_prediction_store(tmp)


def _job_and_prediction_store(tmp: Path) -> tuple[Path, dict[str, str]]:
    import pytest

    import wattprint
    from fake_rapl import set_uj
    from wattprint.store.jobs import merged_id
    from wattprint.store.sqlite import SqliteStore

    db = tmp / "sections.db"
    ids: dict[str, str] = {}
    for job_name, tag, dup in (("dash", "", False), ("dup", "dup-", True)):
        root = make_tree(tmp / f"job-pc-{job_name}", packages=2)
        with pytest.MonkeyPatch.context() as mp:
            trackers = []
            for rank in (0, 1):
                # "dup": both ranks say they are local rank 0, so both measure the host (no communicator
                # to elect over): the merge must count its packages once, from rank 0
                say = {"RANK": rank, "LOCAL_RANK": 0 if dup else rank, "WORLD_SIZE": 2,
                       "TORCHELASTIC_RUN_ID": job_name}
                for k, v in say.items():
                    mp.setenv(k, str(v))
                trackers.append(wattprint.Tracker("fit", rapl_root=str(root), store=str(db), country="FR",
                                                  sensors="rapl"))
                trackers[-1].start()
            set_uj(root, "intel-rapl:0", 3_000_000)
            set_uj(root, "intel-rapl:1:0", 500_000)
            for rank, t in enumerate(trackers):
                ids[f"{tag}rank{rank}"] = t.stop().id
        ids[f"{tag}view"] = merged_id(f"torchelastic:{job_name}")
    prog = make_tree(tmp / "prog-pc", packages=1, dram=False)
    t = wattprint.Tracker("predicted", rapl_root=str(prog), store=str(db), interval=0.02, country="FR",
                          sensors="rapl")
    run = t.start()
    for i in range(61):
        run.progress(i, total=60)
        set_uj(prog, "intel-rapl:0", 500_000 * i)
        time.sleep(0.02)
    ids["finished"] = t.stop().id
    store = SqliteStore.open(db)
    try:
        header = dict(store.get_run(ids["finished"], timeline=False, windows=False))
        pred = header["prediction"]
        assert pred and pred["latest"] and pred["actual"] and pred["checkpoints"], pred
        ids["running"] = "running-" + ids["finished"][:6]
        # what it predicted half-way, as the latest of a run at that point
        half = next(c for c in pred["checkpoints"] if c["fraction"] == 0.5)
        latest = {k: v for k, v in half.items() if k not in ("fraction", "error")}
        store.save_progress({**header, "id": ids["running"], "status": "running", "pid": os.getpid(),
                             "name": "still-going", "prediction": {**pred, "done": half["done"], "latest": latest,
                                                                   "actual": None, "checkpoints": []}})
    finally:
        store.close()
    return db, ids
