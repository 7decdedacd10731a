"""The live view (library and CLI) and ``wattprint watch``."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import wattprint
from fake_rapl import make_tree, set_uj
from wattprint.report import live as live_mod
from wattprint.report.live import LiveState, LiveView, choose_mode

SRC = str(Path(__file__).resolve().parents[1] / "src")


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_choose_mode() -> None:
    assert choose_mode(None, False, _Tty(), 30) == "live"
    assert choose_mode(None, False, io.StringIO(), 30) == "plain"  # not a terminal: progress lines
    assert choose_mode(None, False, io.StringIO(), 0) == "off"
    assert choose_mode(True, False, io.StringIO(), 30) == "live"
    assert choose_mode(False, False, _Tty(), 30) == "plain"
    assert choose_mode(True, True, _Tty(), 30) == "off"  # --quiet wins


@pytest.fixture
def tracked(tmp_path: Path):  # type: ignore[no-untyped-def]
    root = make_tree(tmp_path / "pc", packages=1)
    t = wattprint.Tracker("live-test", rapl_root=root, store=False, gpus="none", country="FR", interval=0.05)
    t.start()
    yield t, root
    t.stop()


def test_power_is_energy_change_over_time(tracked) -> None:  # type: ignore[no-untyped-def]
    t, root = tracked
    view = LiveView(t.run, mode="off", intensity=lambda: t._intensity)
    first = view.sample()
    set_uj(root, "intel-rapl:0", 7_000_000)  # +7 J on the package
    set_uj(root, "intel-rapl:0:0", 1_000_000)  # +1 J on DRAM
    time.sleep(0.02)
    second = view.sample()
    dt = second.elapsed_s - first.elapsed_s
    assert dt > 0
    assert second.power_w["cpu"] * dt == pytest.approx(7.0, rel=1e-6)
    assert second.power_w["dram"] * dt == pytest.approx(1.0, rel=1e-6)
    assert second.energy_j == pytest.approx(8.0)
    g = t._intensity.g_per_kwh * t._intensity.pue
    assert second.emissions_g == pytest.approx(8.0 / 3.6e6 * g)
    assert second.location == "FR"


def test_plain_lines_from_the_thread(tracked) -> None:  # type: ignore[no-untyped-def]
    t, root = tracked
    out = io.StringIO()
    view = LiveView(t.run, mode="plain", stream=out, refresh_s=0.05, progress_every_s=0.05).start()
    try:
        set_uj(root, "intel-rapl:0", 2_000_000)
        deadline = time.monotonic() + 20
        while "| " not in out.getvalue() and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        view.stop()
    assert view.error is None
    line = out.getvalue().splitlines()[0]
    assert line.startswith("wattprint: ") and " cpu " in line and " W" in line and "| " in line


def test_rich_table_and_live_mode(tracked) -> None:  # type: ignore[no-untyped-def]
    from rich.console import Console

    state = LiveState(elapsed_s=90.0, energy_j=7200.0, emissions_g=0.4, power_w={"cpu": 80.0, "psys": 95.0},
                      energy_by_component_j={"cpu": 7200.0, "psys": 8000.0},
                      in_total={"cpu": True, "psys": False}, location="FR")
    buf = io.StringIO()
    Console(file=buf, width=100).print(LiveView.table(state))
    text = buf.getvalue()
    assert "cpu" in text and "80 W" in text and "psys (not summed)" in text and "2 Wh" in text
    assert "400 mg CO2e (FR)" in text
    assert state.total_power_w == 80.0  # psys overlaps the packages: not added

    t, _ = tracked
    out = io.StringIO()
    view = LiveView(t.run, mode="live", stream=out, refresh_s=0.05, force_terminal=True).start()
    try:
        deadline = time.monotonic() + 20
        while "component" not in out.getvalue() and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        view.stop()
    assert view.error is None and "component" in out.getvalue() and "\x1b[" in out.getvalue()


def test_without_rich_it_says_so_and_prints_lines(tracked, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(live_mod, "_rich_available", lambda: False)
    t, _ = tracked
    out = io.StringIO()
    view = LiveView(t.run, mode="live", stream=out, progress_every_s=10)
    assert view.mode == "plain"
    assert "pip install rich" in out.getvalue()


# -- CLI --------------------------------------------------------------------------------------


def _env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=SRC)


def wp(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wattprint.cli.main", *args], capture_output=True, text=True,
                          env=_env(), timeout=timeout)


@pytest.fixture
def rapl(tmp_path: Path) -> str:
    return str(make_tree(tmp_path / "pc", packages=1))


def test_run_live_keeps_the_childs_stdout_clean(rapl: str) -> None:
    r = wp("run", "--rapl-root", rapl, "--country", "FR", "--no-store", "--live", "--",
           sys.executable, "-c", "import time; print('out', flush=True); time.sleep(1.6); print('end')")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "out\nend\n"
    assert "component" in r.stderr  # the table was drawn on stderr
    assert "wattprint: run" in r.stderr  # and the summary replaced it


def test_run_progress_lines_and_quiet(rapl: str) -> None:
    r = wp("run", "--rapl-root", rapl, "--country", "FR", "--no-store", "--progress-every", "0.1", "--",
           sys.executable, "-c", "import time; time.sleep(2.5)")
    assert r.returncode == 0, r.stderr
    progress = [ln for ln in r.stderr.splitlines() if ln.startswith("wattprint: ") and "| " in ln]
    assert progress, r.stderr
    q = wp("run", "--rapl-root", rapl, "--country", "FR", "--no-store", "--quiet", "--progress-every", "0.1",
           "--", sys.executable, "-c", "import time; time.sleep(1.5)")
    assert q.returncode == 0 and q.stderr == ""
    bad = wp("run", "--rapl-root", rapl, "--no-store", "--progress-every", "-1", "--", "echo", "ran")
    assert bad.returncode == 2 and "--progress-every: must be 0 or more seconds" in bad.stderr
    assert bad.stdout == ""  # refused before the command started


def test_watch_for_a_duration_is_stored_as_a_run(rapl: str, tmp_path: Path) -> None:
    db = str(tmp_path / "w.db")
    out = tmp_path / "w.json"
    r = wp("watch", "--db", db, "--rapl-root", rapl, "--country", "DE", "--duration", "0.5", "--interval", "0.1",
           "--json", str(out))
    assert r.returncode == 0, r.stderr
    assert "watching the whole machine" in r.stderr and "wattprint: run" in r.stderr
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["command"] is None and data["name"] == "watch" and data["duration_s"] >= 0.5
    listed = wp("runs", "--db", db)
    assert data["id"] in listed.stdout
    rep = wp("report", "--db", db, "--format", "json")
    assert json.loads(rep.stdout)["run"]["id"] == data["id"]


def test_watch_stops_on_ctrl_c(rapl: str, tmp_path: Path) -> None:
    db = str(tmp_path / "w.db")
    p = subprocess.Popen([sys.executable, "-m", "wattprint.cli.main", "watch", "--db", db, "--rapl-root", rapl,
                          "--country", "FR", "--name", "idle-check"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=_env())
    assert p.stderr is not None
    first = p.stderr.readline()  # printed once the run has started
    assert "watching" in first
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    assert out == "" and "'idle-check' finished" in err
    assert "idle-check" in wp("runs", "--db", db).stdout


def test_a_command_sharing_the_terminal_gets_a_status_line_not_a_table(tracked) -> None:  # type: ignore[no-untyped-def]
    """On a real pty: the view pins one line at the bottom and gives the rest back on stop."""
    import fcntl
    import os
    import pty
    import struct
    import termios

    from wattprint.report.live import StatusLine

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    stream = os.fdopen(slave, "w", encoding="utf-8", closefd=False)
    try:
        # the command writes to the same terminal as the view: status mode
        assert choose_mode(None, False, stream, 30, output_fds=(slave,)) == "status"
        other_master, other_slave = pty.openpty()
        assert choose_mode(None, False, stream, 30, output_fds=(other_slave,)) == "live"
        os.close(other_master)
        os.close(other_slave)

        t, _ = tracked
        view = LiveView(t.run, mode="status", stream=stream, refresh_s=0.05).start()
        time.sleep(0.2)
        view.stop()
        import select

        out = b""
        while select.select([master], [], [], 0.5)[0]:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        text = out.decode()
        assert "\x1b[1;23r" in text  # rows 1..23 scroll, row 24 is the status line
        assert "\x1b[24;1H" in text and "wattprint:" in text
        assert text.rstrip().endswith("\x1b8") and "\x1b[r" in text  # region reset on stop
        assert StatusLine(stream).rows == 0
    finally:
        stream.close()
        os.close(slave)
        os.close(master)


def test_the_live_line_says_how_its_figures_are_known(tracked) -> None:  # type: ignore[no-untyped-def]
    t, _ = tracked
    view = LiveView(t.run, mode="plain", stream=io.StringIO())
    line = view.line(view.sample())
    assert line.endswith("[counter]")  # the fake RAPL tree: measured, and the line says so
