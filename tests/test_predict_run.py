"""run.progress() on a real run: the live view's words, the stored checkpoints against the actual."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

import pytest

import wattprint
from fake_rapl import make_tree, set_uj
from wattprint.report.live import LiveView
from wattprint.report.text import summary
from wattprint.store.sqlite import SqliteStore

pytestmark = pytest.mark.timeout(120)


def test_a_run_with_progress_keeps_what_was_predicted_and_the_error(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "pc", packages=1, dram=False)
    t = wattprint.Tracker("p", rapl_root=str(root), interval=0.02, country="FR", sensors="rapl")
    run = t.start()
    view = LiveView(run, stream=io.StringIO())
    assert run.prediction() is None and view.sample().prediction is None
    for i in range(61):
        run.progress(i, total=60)
        set_uj(root, "intel-rapl:0", 500_000 * i)  # 0.5 J a step, 0.02 s a step: 25 W
        time.sleep(0.02)
        if i == 40:
            live = view.line(view.sample())
            p = run.prediction()
            assert p is not None and p.energy_j is not None
            assert p.energy_j[0] <= p.energy_j[1] <= p.energy_j[2]
            assert p.energy_j[1] == pytest.approx(30.0, rel=0.15)  # 60 steps of 0.5 J
            assert "| total " in live and "from 40 of 60 done" in live
    t.stop()
    d = run.to_dict()
    pred = d["prediction"]
    assert pred is not None and pred["total"] == 60 and pred["done"] == 60
    actual = pred["actual"]
    assert actual is not None and actual["energy_j"] == pytest.approx(30.0, abs=0.6)
    assert 0 < actual["duration_s"] <= d["duration_s"]
    fractions = [c["fraction"] for c in pred["checkpoints"]]
    assert fractions[-3:] == [0.5, 0.75, 0.9]  # the earliest may have had too few steps
    last = pred["checkpoints"][-1]
    assert last["done"] >= 54 and last["energy_j"] is not None
    err = last["error"]["energy_j"]
    assert err is not None and abs(err["relative"]) < 0.1
    assert err["relative"] == pytest.approx((last["energy_j"][1] - actual["energy_j"]) / actual["energy_j"])
    text = summary(d)
    assert "predicted" in text and "vs actual" in text and "at 90%" in text
    stored = SqliteStore.open(os.environ["WATTPRINT_DB"])
    try:
        assert stored.get_run(run.id, timeline=False)["prediction"] == pred
    finally:
        stored.close()


def test_progress_rejects_nonsense_in_the_callers_thread(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "pc", packages=1, dram=False)
    with wattprint.track("p", rapl_root=str(root), store=False, country="FR") as run:
        with pytest.raises(wattprint.ConfigError, match="give the total"):
            run.progress(3)
        with pytest.raises(wattprint.ConfigError, match="done must be"):
            run.progress(float("nan"), total=10)
        run.progress(1, total=10)
    assert run.status == "finished" and run.to_dict()["prediction"] is not None
