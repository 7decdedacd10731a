"""Slurm's side of a job: its warning signal before the end, and its own energy figure.

**The warning signal.** ``sbatch --signal=USR1@60`` (``--signal=B:USR1@60`` for the
batch shell only, or ``scancel --signal=USR1``) asks Slurm to send a signal some
seconds before the time limit or a preemption. Its default action ends the
process, which no one asking for it wants: a program asks for it to checkpoint.
While a rank of a Slurm job is tracked (``SLURM_JOB_ID`` set), and only where the
program left the signal's default action in place (a handler of its own is never
replaced), wattprint handles the ``slurm_signal`` setting's signal (``USR1`` by
default, ``USR2``, or ``off``): the handler marks the run (``job.slurm_signal``:
which signal, when), asks the sinks to flush at the next tick (so the store holds
the run as it was when the warning came) and the run goes on measuring until the
real end (Slurm's SIGTERM stores it as ``preempted``; a normal end as
``finished``). The handler does nothing that can block: two assignments and a
list append. The default action is put back when the last run stops.

**sacct's ConsumedEnergy.** With ``AcctGatherEnergyType`` set (RAPL, IPMI ...) and
accounting on, Slurm records the energy of each job step; on exclusive nodes it
is the node's. :func:`sacct_energy` reads it (``sacct -j JOB.STEP -n -P -o
ConsumedEnergyRaw``, at most :data:`SACCT_TIMEOUT_S`) for the merged view's
cross-check: ours beside Slurm's and their difference in percent, or one line
saying why Slurm's figure is not there.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time

from wattprint.tracking.sampler import Fault

TYPE_CHECKING = False  # not from typing: see tracker.py
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from wattprint.tracking.job import JobInfo
    from wattprint.tracking.record import RunRecord, SlurmEnergyRecord

SACCT_TIMEOUT_S = 2.0

_armed: list[Any] = []  # trackers whose run a Slurm warning signal marks (only while running)
_installed: dict[int, Any] = {}  # signal number -> our handler, while installed


def _on_warning(signum: int, frame: object) -> None:
    """The Slurm warning signal: mark every running run, flush soon, keep measuring (never blocks)."""
    name = signal.Signals(signum).name
    now = time.time()
    for tracker in list(_armed):
        run = getattr(tracker, "run", None)
        if run is None or run.status != "running" or run.job is None:
            continue
        run.job = {**run.job, "slurm_signal": {"signal": name, "wall": now}}  # one assignment
        run.faults.append(Fault(now, "slurm", f"{name} from Slurm: its time limit or a preemption is near; "
                                              "the run was flushed and is measured until it ends"))
        tracker.flush_soon()


def arm(tracker: Any, info: JobInfo, choice: str) -> str | None:
    """Handle Slurm's warning signal for ``tracker``'s run; returns the signal's name, or None when not
    handled (not under Slurm, ``off``, not the main thread, or the program has a handler of its own)."""
    if choice == "off" or not info.slurm.get("SLURM_JOB_ID"):
        return None
    signum = getattr(signal, f"SIG{choice.upper()}", None)
    if signum is None or threading.current_thread() is not threading.main_thread():
        return None
    try:
        current = signal.getsignal(signum)
        if current is signal.SIG_DFL:
            signal.signal(signum, _on_warning)
            _installed[signum] = _on_warning
        elif current is not _on_warning:
            return None  # the program's own: never stolen
    except (ValueError, OSError):
        return None
    _armed.append(tracker)
    return f"SIG{choice.upper()}"


def disarm(tracker: Any) -> None:
    """The run stopped: no more marks for it; the default action is back once no run is left."""
    if tracker in _armed:
        _armed.remove(tracker)
    if _armed or not _installed or threading.current_thread() is not threading.main_thread():
        return

    for signum, handler in list(_installed.items()):
        try:
            if signal.getsignal(signum) is handler:
                signal.signal(signum, signal.SIG_DFL)
        except (ValueError, OSError):
            pass
        del _installed[signum]


def sacct_target(slurm: Mapping[str, str]) -> str | None:
    """What sacct is asked about (from a job record's ``slurm`` fields): ``JOB.STEP`` for a step,
    ``JOB.batch`` for a batch script, None off Slurm."""
    job = slurm.get("SLURM_JOB_ID")
    if not job:
        return None
    return f"{job}.{slurm.get('SLURM_STEP_ID') or 'batch'}"


def cross_check(view: RunRecord) -> SlurmEnergyRecord | None:
    """For a merged job view of a Slurm job: Slurm's figure beside ours (the latest start's, as sacct
    reports the latest); None off Slurm. A sacct that hangs or cannot run is also a fault of the view
    (one that answers "no accounting here" or "nothing recorded" is not: that is a figure missing)."""
    job = view.get("job") or {}
    target = sacct_target(job.get("slurm") or {})
    if target is None:
        return None
    parts = job.get("parts") or []
    latest = max((p["restart"] for p in parts), default=0)
    got = sacct_energy(target, sum(p["energy_j"] for p in parts if p["restart"] == latest))
    if got["note"].startswith(("sacct did not answer", "sacct could not run")):
        view["faults"].append({"wall": time.time(), "source": "slurm", "message": got["note"]})
    return got


def parse_sacct(stdout: str) -> float | None:
    """Joules from ``sacct -n -P -o ConsumedEnergyRaw`` output (the first line; '' or 0: none recorded)."""
    lines = [ln.strip() for ln in stdout.splitlines() if ln.strip()]
    if not lines:
        return None
    try:
        value = float(lines[0].split("|")[0])
    except ValueError:
        return None
    return value if value > 0 else None


def sacct_energy(target: str, ours_j: float, timeout_s: float = SACCT_TIMEOUT_S) -> SlurmEnergyRecord:
    """Slurm's ConsumedEnergy for ``target`` beside ``ours_j``; ``note`` says why it is missing, if it is."""
    rec: SlurmEnergyRecord = {"target": target, "energy_j": None, "ours_j": ours_j, "difference_pct": None,
                              "note": ""}
    try:
        from wattprint.sensors.platform.ipmi import _run  # the bounded run ipmitool gets: the group killed

        code, out, err = _run(["sacct", "-j", target, "-n", "-P", "-o", "ConsumedEnergyRaw"], timeout_s)
    except FileNotFoundError:
        rec["note"] = "sacct is not installed here"
        return rec
    except subprocess.TimeoutExpired:
        rec["note"] = f"sacct did not answer within {timeout_s:g} s"
        return rec
    except OSError as exc:
        rec["note"] = f"sacct could not run: {exc.strerror or exc}"
        return rec
    stdout, stderr = out.decode(errors="replace"), err.decode(errors="replace")
    if code != 0:
        said = next((ln.strip() for ln in (stderr or stdout).splitlines() if ln.strip()), "")
        rec["note"] = f"sacct failed ({code}): {said[:200]}" if said else f"sacct failed ({code})"
        return rec
    theirs = parse_sacct(stdout)
    if theirs is None:
        rec["note"] = "Slurm recorded no energy for it (no AcctGatherEnergyType, or the step is not in accounting)"
        return rec
    rec["energy_j"] = theirs
    rec["difference_pct"] = (ours_j - theirs) / theirs * 100.0
    return rec
