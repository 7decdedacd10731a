"""Live figures on an open run, units of work (steps, samples, tokens), and how a span shows itself.

On a fake powercap tree (hardware faked at the boundary), real SQLite, the real report.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

import wattprint
from fake_rapl import make_tree, set_uj
from wattprint.report.schema import build_report
from wattprint.store.sqlite import SqliteStore
from wattprint.units import J_PER_KWH


@pytest.fixture
def rapl(tmp_path: Path) -> Path:
    return make_tree(tmp_path / "powercap", packages=1, dram=True)  # measured DRAM: no modelled RAM


def _tracker(rapl: Path, **kw: object) -> wattprint.Tracker:
    kw.setdefault("country", "FR")
    kw.setdefault("store", False)
    return wattprint.Tracker("t", rapl_root=rapl, gpus="none", interval=60.0, **kw)  # type: ignore[arg-type]


def test_an_open_run_reads_fresh_figures_and_its_record_holds_closed_intervals(rapl: Path) -> None:
    t = _tracker(rapl)
    run = t.start()
    set_uj(rapl, "intel-rapl:0", 6_000_000)  # 6 J, long before the first 60 s interval closes
    assert run.energy_j == pytest.approx(6.0)
    assert run.channels["cpu:package-0"].energy_j == pytest.approx(6.0)
    g, pue = run.intensity.g_per_kwh, run.intensity.pue
    assert run.emissions_g == pytest.approx(6.0 / J_PER_KWH * g * pue)
    assert run.duration_s > 0 and run.power_w > 0  # each property reads the clock anew
    m = run.current()  # one read for all figures
    assert m.energy_j == pytest.approx(6.0) and m.power_w > 0 and m.power_w == pytest.approx(6.0 / m.duration_s)
    assert run.to_dict()["energy_j"] == 0.0  # the record: closed intervals only (none yet)
    set_uj(rapl, "intel-rapl:0", 10_000_000)
    assert run.energy_j == pytest.approx(10.0)
    run = t.stop()
    assert run.energy_j == pytest.approx(10.0) and run.to_dict()["energy_j"] == pytest.approx(10.0)
    assert run.emissions_g == pytest.approx(10.0 / J_PER_KWH * g * pue)


def test_emissions_of_an_open_run_are_nan_until_the_intensity_is_known(rapl: Path) -> None:
    t = _tracker(rapl, country="FR")
    run = t.start()
    run.intensity = None  # as before the background lookup answers
    set_uj(rapl, "intel-rapl:0", 1_000_000)
    assert math.isnan(run.emissions_g)
    assert "pending" in repr(run)
    t.stop()


def test_steps_count_in_the_run_and_every_window_open_then(rapl: Path) -> None:
    t = _tracker(rapl)
    run = t.start()
    run.step(samples=4, tokens=40)
    with run.window("epoch") as epoch:
        for _ in range(3):
            run.step(samples=8, tokens=80)
        with run.window("eval") as ev:
            ev.step(2, samples=2)  # a window's step is the run's
        set_uj(rapl, "intel-rapl:0", 14_000_000)
    run = t.stop()
    assert (run.steps, run.samples, run.tokens) == (6, 30, 280)
    assert (epoch.steps, epoch.samples, epoch.tokens) == (5, 26, 240)
    assert (ev.steps, ev.samples, ev.tokens) == (2, 2, 0)
    per = run.per("token")
    assert per is not None and per.count == 280 and per.energy_j == pytest.approx(14.0 / 280)
    assert per.emissions_g == pytest.approx(run.emissions_g / 280)
    assert run.per("samples").energy_j == pytest.approx(14.0 / 30)  # plural names work too
    assert ev.per("token") is None  # none counted: no figure, not a zero
    assert run.to_dict()["progress"] == {"steps": 6, "samples": 30, "tokens": 280}
    assert epoch.to_dict()["progress"] == {"steps": 5, "samples": 26, "tokens": 240}


@pytest.mark.parametrize("bad", [-1, 2.5, "x", None])
def test_a_count_that_is_not_a_whole_number_is_one_clear_error(rapl: Path, bad: object) -> None:
    t = _tracker(rapl)
    run = t.start()
    try:
        with pytest.raises(wattprint.ConfigError, match="whole number"):
            run.step(samples=bad) if bad is not None else run.step(bad)  # type: ignore[arg-type]
        with pytest.raises(wattprint.ConfigError, match="unknown unit"):
            run.per("epoch")
    finally:
        t.stop()
    assert run.steps == 0  # a refused step counts nothing


def test_counts_are_stored_and_reported_and_give_sci_its_functional_unit(rapl: Path, tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    t = _tracker(rapl, store=db)
    run = t.start()
    with run.window("epoch"):
        run.step(10, samples=100, tokens=5000)
        set_uj(rapl, "intel-rapl:0", 50_000_000)
    run = t.stop()
    store = SqliteStore.open(db)
    try:
        stored = store.get_run(run.id)
        assert store.list_runs()[0]["progress"] == {"steps": 10, "samples": 100, "tokens": 5000}
    finally:
        store.close()
    assert stored["progress"] == {"steps": 10, "samples": 100, "tokens": 5000}
    assert stored["windows"][0]["progress"] == {"steps": 10, "samples": 100, "tokens": 5000}
    report = build_report(stored, unit="tokens")
    assert report["sci"]["r"] == 5000 and report["sci"]["functional_unit"] == "tokens"
    e_kwh, i = report["sci"]["e_kwh"], report["sci"]["i_g_per_kwh"]
    assert report["sci"]["sci_g_per_unit"] == pytest.approx(e_kwh * i / 5000)
    per = {p["unit"]: p for p in report["per_unit"]}
    assert per["step"]["energy_j"] == pytest.approx(5.0) and per["sample"]["count"] == 100
    (window,) = report["windows"]
    assert [(p["unit"], p["count"]) for p in window["per_unit"]] == [("step", 10), ("sample", 100), ("token", 5000)]
    assert window["per_unit"][2]["energy_j"] == pytest.approx(window["energy_j"] / 5000)
    import jsonschema

    from wattprint.report.schema import SCHEMA

    jsonschema.validate(report, SCHEMA)
    assert per["token"]["emissions_g"] == pytest.approx(report["emissions"]["location_based_g"] / 5000)
    with pytest.raises(wattprint.ReportError, match="--per"):
        build_report({**stored, "progress": None}, unit="tokens")
    from wattprint.report import markdown, text

    assert "Per token (5,000 counted)" in markdown.render(report)
    assert "per token" in text.summary(stored) and "(5,000 tokens)" in text.summary(stored)


def test_repr_and_notebook_views_say_what_it_is_and_escape_names(rapl: Path) -> None:
    t = wattprint.Tracker("<b>x</b> | *y*\n# z", rapl_root=rapl, gpus="none", store=False, country="FR")
    run = t.start()
    run.step(tokens=100)
    set_uj(rapl, "intel-rapl:0", 3_000_000)
    r = repr(run)
    assert r.startswith("<wattprint run ") and "running" in r and "3 J" in r and "per token (100)" in r
    assert "\n" not in r
    html = run._repr_html_()
    assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html and "per token" in html
    md = run._repr_markdown_()
    assert "\n# z" not in md and "3 J" in md
    with run.window("w") as w:
        assert "wattprint window 'w' (open" in repr(w)
    assert "(closed" in repr(w)
    run = t.stop()
    assert "(finished" in repr(run)


def test_a_decorated_function_hands_over_its_numbers(rapl: Path) -> None:
    opts = dict(rapl_root=rapl, store=False, gpus="none", country="DE")

    @wattprint.track("work", **opts)
    def work(j: int) -> int:
        shown = repr(work.last)  # live while it runs: a running run, or an open window
        assert work.last is not None and ("(running" in shown or "(open" in shown)
        set_uj(rapl, "intel-rapl:0", j * 1_000_000)
        return j

    assert work.last is None
    assert work(2) == 2
    assert work.last.energy_j == pytest.approx(2.0) and work.last.status == "finished"
    with wattprint.track("outer", **opts) as outer:
        work(5)  # inside a run: a window of it, and .last is that window
    assert work.last in outer.windows and work.last.energy_j == pytest.approx(3.0)


def test_a_failing_integration_hook_is_a_fault_of_the_run_never_the_jobs_problem(rapl: Path) -> None:
    from wattprint.integrations._common import Session, log_figures

    session = Session("hooks", {"rapl_root": rapl, "gpus": "none", "store": False, "country": "FR"})
    with pytest.warns(wattprint.WattprintWarning, match="integration early: ZeroDivisionError"):
        assert session.guard("early", lambda: 1 / 0) is None  # before the run: a warning
    run = session.start("x", {"framework": "test"})
    session.open("epoch", "epoch-1")
    run.step(4, samples=8)
    set_uj(rapl, "intel-rapl:0", 2_000_000)
    assert session.guard("step", lambda: 1 / 0) is None
    window = session.close("epoch")
    figures = log_figures(window, "w/")
    assert figures["w/energy_j"] == pytest.approx(2.0) and figures["w/energy_per_step_j"] == pytest.approx(0.5)
    assert figures["w/emissions_per_sample_g"] == pytest.approx(figures["w/emissions_g"] / 8)
    with pytest.warns(wattprint.WattprintWarning, match="integration:step"):
        session.stop()
    assert [f["source"] for f in run.to_dict()["faults"]] == ["integration:step"]
    assert run.tags == {"framework": "test"} and run.status == "finished"


def test_a_jobs_record_adds_up_its_ranks_samples_and_tokens_and_takes_the_global_steps() -> None:
    import json

    from test_job import _part
    from wattprint.store.jobs import merge
    from wattprint.tracking.record import check_run_record

    def part(rank: int, restart: int, progress: dict[str, int] | None) -> dict[str, object]:
        p = _part(rank, "A", {"cpu:package-0": 10.0} if rank == 0 else {}, restart=restart)
        return {**p, "progress": progress} if progress else p

    # every rank counts the job's global steps (the same, or one behind when it stopped a step early)
    # and its own batches; the Trainer's token count is the job's, so one rank carries it
    parts = [part(0, 0, {"steps": 10, "samples": 40, "tokens": 5120}),
             part(1, 0, {"steps": 9, "samples": 36, "tokens": 0}),
             part(0, 1, {"steps": 5, "samples": 20, "tokens": 2560}),  # a restart: more steps, added
             part(1, 1, None)]  # a rank that counted nothing has no progress at all
    view = merge(parts)
    assert view["progress"] == {"steps": 10 + 5, "samples": 40 + 36 + 20, "tokens": 5120 + 2560}
    assert [p.get("progress") for p in view["job"]["parts"]] == [parts[0]["progress"], parts[1]["progress"],
                                                                 parts[2]["progress"], None]
    per = {p["unit"]: p for p in build_report(view)["per_unit"]}  # reports show the job's figures per unit
    assert per["sample"]["count"] == 96 and per["sample"]["energy_j"] == pytest.approx(20.0 / 96)
    assert check_run_record(json.loads(json.dumps(view))) is None
    assert "progress" not in merge([part(0, 0, None), part(1, 0, None)])  # nothing counted: no key
