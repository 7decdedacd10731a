"""Budgets: warn at a fraction, act at the limit, once each; stop a real command or raise in the API.

Energy comes from a fake powercap tree whose counter the test (or the child
command itself) raises; the command is a real subprocess and its signals are real.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import wattprint
from fake_rapl import make_tree, set_uj
from wattprint.tracking.budget import Budget

SRC = str(Path(__file__).resolve().parents[1] / "src")
J = 1 / 3.6e6  # one joule in kWh

pytestmark = pytest.mark.timeout(120)


def wait_for(cond: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


@pytest.fixture
def rapl(tmp_path: Path) -> Path:
    # a measured DRAM zone that stays at 0: no modelled RAM, whose joules would grow with the
    # machine's memory and the wall time, so every joule here is one the test wrote
    return make_tree(tmp_path / "pc", packages=1, dram=True)


# -- the decisions, without threads -------------------------------------------------------


def test_warn_once_then_exceed_once() -> None:
    b = Budget(100.0, None, warn_at=0.5)
    assert b.check(1.0, 10.0, float("nan")) is None
    assert b.check(2.0, 60.0, float("nan")) == "warned"
    assert b.check(3.0, 70.0, float("nan")) is None  # warned once
    assert b.check(4.0, 100.0, float("nan")) == "exceeded"
    assert b.check(5.0, 200.0, float("nan")) is None  # acted once
    assert (b.warned_at_s, b.exceeded_at_s) == (2.0, 4.0)
    assert "100 J" in (b.exceeded or "")


def test_emissions_limit_waits_for_the_intensity_and_a_jump_past_both_marks_is_only_exceeded() -> None:
    b = Budget(None, 5.0)
    assert b.check(1.0, 1e9, float("nan")) is None  # intensity not known yet: no emissions figure
    assert b.check(2.0, 1e9, 6.0) == "exceeded"
    assert b.warned_at_s is None and b.exceeded_at_s == 2.0


def test_prediction_warns_once_only_when_even_its_low_end_is_over() -> None:
    b = Budget(100.0, None)
    assert b.check_prediction(1.0, 90.0, None) is None
    line = b.check_prediction(2.0, 120.0, None)
    assert line is not None and "at least 120 J" in line and b.predicted_at_s == 2.0
    assert b.check_prediction(3.0, 150.0, None) is None


def test_settings_give_the_budget_in_joules_and_check_their_values() -> None:
    from wattprint.settings import load

    b = Budget.from_settings(load({"budget_kwh": 2.0, "budget_action": "warn", "budget_warn_at": 0.5}))
    assert b is not None and b.energy_j == pytest.approx(7.2e6) and b.action == "warn" and b.warn_at == 0.5
    assert Budget.from_settings(load({})) is None
    with pytest.raises(wattprint.ConfigError, match="budget_action"):
        load({"budget_action": "explode"})
    with pytest.raises(wattprint.ConfigError, match="budget_kwh"):
        load({"budget_kwh": -1})


# -- the API: raised in the program's thread, never from the sampler ----------------------


def test_api_raises_at_the_next_window_and_the_run_is_stopped(rapl: Path) -> None:
    said: list[str] = []
    t = wattprint.Tracker("b", rapl_root=str(rapl), interval=0.05, store=False, country="FR",
                          budget_kwh=10 * J, budget_warn_at=0.5)
    t.budget_say = said.append
    run = t.start()
    with run.window("fine"):
        set_uj(rapl, "intel-rapl:0", 6_000_000)  # 6 J: past the warning mark
    wait_for(lambda: run.budget is not None and run.budget.warned_at_s is not None)
    run.check_budget()  # a warning raises nothing
    before = (time.monotonic_ns() - run._start.t_ns) / 1e9
    set_uj(rapl, "intel-rapl:0", 12_000_000)  # 12 J: over
    crossed = (time.monotonic_ns() - run._start.t_ns) / 1e9
    wait_for(lambda: run._budget_error is not None)
    with pytest.raises(wattprint.BudgetExceeded, match="10 J energy budget") as caught:
        run.window("next")
    run.window("after")  # raised once: a program that chose to go on is not raised at again
    t.__exit__(wattprint.BudgetExceeded, caught.value, None)
    assert run.status == "stopped"
    b = run.to_dict()["budget"]
    assert b is not None and b["stopped"] and not b["killed"] and caught.value.record["exceeded"] == b["exceeded"]
    # acted on the first interval that closed after the crossing: within one interval
    first_after = min(iv.t1_s for iv in run.timeline if iv.t1_s >= crossed)
    assert before <= b["exceeded_at_s"] <= first_after
    assert said[0].startswith("wattprint: budget: 50% reached") and "exceeded" in said[1] and len(said) == 2


def test_api_progress_and_check_budget_raise_too_and_track_records_stopped(rapl: Path) -> None:
    with pytest.raises(wattprint.BudgetExceeded):
        with wattprint.track("b", rapl_root=str(rapl), interval=0.05, country="FR", budget_kwh=1 * J) as run:
            run.progress(0, total=10)
            set_uj(rapl, "intel-rapl:0", 2_000_000)
            with pytest.warns(wattprint.WattprintWarning, match="budget exceeded"):
                wait_for(lambda: run._budget_error is not None)
            run.progress(1)
    assert run.status == "stopped"
    stored = _stored(run.id)
    assert stored["status"] == "stopped" and stored["budget"]["stopped"]


def test_warn_action_never_raises(rapl: Path) -> None:
    said: list[str] = []
    t = wattprint.Tracker("b", rapl_root=str(rapl), interval=0.05, store=False, country="FR",
                          budget_kwh=1 * J, budget_action="warn")
    t.budget_say = said.append
    run = t.start()
    set_uj(rapl, "intel-rapl:0", 5_000_000)
    wait_for(lambda: run.budget is not None and run.budget.exceeded_at_s is not None)
    time.sleep(0.2)
    with run.window("still fine"):
        run.check_budget()
    t.stop()
    b = run.to_dict()["budget"]
    assert run.status == "finished" and b is not None and not b["stopped"] and b["exceeded"]
    assert len(said) == 1 and "going on" in said[0]


def _stored(run_id: str) -> Any:
    from wattprint.store.sqlite import SqliteStore

    store = SqliteStore.open(os.environ["WATTPRINT_DB"])
    try:
        return store.get_run(run_id, timeline=False)
    finally:
        store.close()


# -- wattprint run: a real command, stopped ------------------------------------------------

# The command raises the machine's energy counter itself once it is ready, so the crossing
# happens while it runs; what it does on SIGTERM is the case under test.
CHILD = """
import pathlib, signal, sys, time
root, mode, marks = sys.argv[1], sys.argv[2], pathlib.Path(sys.argv[3])
def on_term(*a):
    (marks / "term").write_text(repr(time.monotonic()))
    if mode == "exit":
        sys.exit(5)
signal.signal(signal.SIGTERM, on_term if mode == "exit" else signal.SIG_IGN)
if mode == "ignore":
    (marks / "term-ignored").write_text("")
p = root + "/intel-rapl:0/energy_uj"
(marks / "crossed").write_text(repr(time.monotonic()))
open(p, "r+").write("50000000\\n")  # 50 J
for _ in range(600):
    time.sleep(0.05)
(marks / "finished").write_text("")
"""


def wattprint_run(rapl: Path, tmp_path: Path, mode: str, *flags: str) -> tuple[subprocess.CompletedProcess[str], Any]:
    out = tmp_path / "run.json"
    marks = tmp_path / "marks"
    marks.mkdir(exist_ok=True)
    r = subprocess.run(
        [sys.executable, "-m", "wattprint.cli.main", "run", "--rapl-root", str(rapl), "--country", "FR",
         "--interval", "0.1", "--json", str(out), *flags, "--", sys.executable, "-c", CHILD, str(rapl), mode,
         str(marks)],
        capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=SRC), timeout=90,
    )
    return r, json.loads(out.read_text(encoding="utf-8"))


def test_run_stops_a_command_that_exits_on_sigterm_without_sigkill(rapl: Path, tmp_path: Path) -> None:
    r, run = wattprint_run(rapl, tmp_path, "exit", "--budget-kwh", str(10 * J), "--budget-grace", "20")
    assert r.returncode == 5, r.stderr  # the command's own exit, from its SIGTERM handler
    assert (tmp_path / "marks" / "term").exists() and not (tmp_path / "marks" / "finished").exists()
    b = run["budget"]
    assert run["status"] == "stopped" and b["stopped"] and not b["killed"]
    assert "budget exceeded" in r.stderr and "SIGKILL after 20 s" in r.stderr and "outlived" not in r.stderr
    assert run["duration_s"] < 20  # stopped long before the command would have finished (30 s)
    assert b["exceeded_at_s"] is not None and b["exceeded_at_s"] <= run["duration_s"]
    # acted on the first interval that saw the crossing: within one interval of it
    rows = run["timeline"]
    over = next(iv for iv in rows if sum(iv["energy_j"].values()) > 0)
    assert b["exceeded_at_s"] == pytest.approx(over["t1_s"])
    assert "' stopped in " in r.stderr  # the summary says so


def test_run_sigkills_a_command_that_ignores_sigterm_after_the_grace(rapl: Path, tmp_path: Path) -> None:
    grace = 1.5
    r, run = wattprint_run(rapl, tmp_path, "ignore", "--budget-kwh", str(10 * J), "--budget-grace", str(grace))
    assert r.returncode == 137, r.stderr  # 128 + SIGKILL
    b = run["budget"]
    assert run["status"] == "stopped" and b["stopped"] and b["killed"]
    assert "outlived the 1.5 s grace period" in r.stderr
    # the grace was honoured: the command lived at least that long after the budget acted
    assert run["duration_s"] - b["exceeded_at_s"] >= grace
    assert not (tmp_path / "marks" / "finished").exists()


def test_run_warn_action_lets_the_command_finish(rapl: Path, tmp_path: Path) -> None:
    fast = CHILD.replace("range(600)", "range(10)")
    out = tmp_path / "run.json"
    marks = tmp_path / "marks"
    marks.mkdir()
    r = subprocess.run(
        [sys.executable, "-m", "wattprint.cli.main", "run", "--rapl-root", str(rapl), "--country", "FR",
         "--interval", "0.1", "--json", str(out), "--budget-kwh", str(10 * J), "--budget-action", "warn",
         "--", sys.executable, "-c", fast, str(rapl), "exit", str(marks)],
        capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=SRC), timeout=90,
    )
    run = json.loads(out.read_text(encoding="utf-8"))
    assert r.returncode == 0 and (marks / "finished").exists() and not (marks / "term").exists()
    assert run["status"] == "finished" and run["budget"]["exceeded"] and not run["budget"]["stopped"]
    assert "going on (budget action: warn)" in r.stderr


@pytest.mark.parametrize(("flags", "needle"), [
    (["--budget-kwh", "0"], "--budget-kwh: budget_kwh must be a number more than 0"),
    (["--budget-g", "nan"], "--budget-g: budget_g must be"),
    (["--budget-warn-at", "1.5"], "--budget-warn-at: budget_warn_at must be"),
    (["--budget-grace", "-1"], "--budget-grace: budget_grace_s must be"),
])
def test_bad_budget_flags_are_one_line_exit_2(flags: list[str], needle: str) -> None:
    r = subprocess.run([sys.executable, "-m", "wattprint.cli.main", "run", *flags, "--", "true"],
                       capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=SRC), timeout=60)
    assert r.returncode == 2 and needle in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_a_prediction_over_the_budget_warns_early(rapl: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import wattprint.sinks.budget as sink

    monkeypatch.setattr(sink, "PREDICT_EVERY_S", 0.1)
    said: list[str] = []
    t = wattprint.Tracker("b", rapl_root=str(rapl), interval=0.05, store=False, country="FR",
                          budget_kwh=50 * J)
    t.budget_say = said.append
    run = t.start()
    step = 0
    deadline = time.monotonic() + 30
    while not said and time.monotonic() < deadline and step < 39:  # exactly 1 J a step, 1000 steps: 1000 J ahead
        step += 1
        set_uj(rapl, "intel-rapl:0", step * 1_000_000)
        time.sleep(0.06)
        run.progress(step, total=1000)
    t.stop()
    b = run.to_dict()["budget"]
    assert said and "predicted total at least" in said[0] and "50 J energy budget" in said[0]
    assert b is not None and b["predicted_at_s"] is not None and b["exceeded_at_s"] is None
    assert b["warned_at_s"] is None  # it came before the 80 % mark: that is the point of it


def test_a_framework_step_checks_the_budget_too(rapl: Path) -> None:
    t = wattprint.Tracker("b", rapl_root=str(rapl), interval=0.05, store=False, country="FR", budget_kwh=1 * J)
    t.budget_say = lambda line: None
    run = t.start()
    run.step()
    set_uj(rapl, "intel-rapl:0", 2_000_000)
    wait_for(lambda: run._budget_error is not None)
    with pytest.raises(wattprint.BudgetExceeded):
        run.step(samples=32)  # what the frameworks' callbacks call each step
    t.stop()
    assert run.counts()[0] == 2  # the step was counted before the budget was checked


def test_a_damaged_budget_in_a_json_file_is_refused() -> None:
    from wattprint.tracking.record import check_run_record

    ok: dict[str, Any] = {"name": "x", "start_utc": 1.7e9, "duration_s": 1.0, "channels": {},
                          "budget": Budget(10.0, None).to_dict()}
    assert check_run_record(ok) is None
    ok["budget"]["exceeded_at_s"] = "soon"
    assert check_run_record(ok) == "run.budget.exceeded_at_s must be a number"
    damaged = {**ok, "budget": None, "prediction": {"total": "all"}}
    assert check_run_record(damaged) == "run.prediction.total must be a number"
