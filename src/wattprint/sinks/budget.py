"""The budget sink: watches a run's running totals against its budget, warns, then acts.

After each closed interval (sampler thread) :meth:`BudgetSink.interval` hands
the run's running ``energy_j`` and ``emissions_g`` to
:meth:`wattprint.tracking.budget.Budget.check`; each event is handled once:

- at ``budget_warn_at`` of a limit: one line (``say``: a
  :class:`~wattprint.errors.WattprintWarning` by default, a stderr line in
  ``wattprint run``);
- when the run's prediction (:mod:`wattprint.tracking.predict`, from
  ``run.progress``) says the total will go over, even at its low end: one line;
- at the limit: one line, then with ``budget_action="stop"`` the action. In
  ``wattprint run`` that is :func:`stop_command` (SIGTERM, SIGKILL after
  ``budget_grace_s``) on a thread of its own, so the sampler thread never waits;
  in the API, a :class:`~wattprint.errors.BudgetExceeded` left on the run, which
  raises it in the program's own thread at its next ``run.window()``,
  ``run.progress()`` or ``run.check_budget()`` (framework step callbacks check it too).
"""

from __future__ import annotations

import signal
import subprocess
import time
import warnings

from wattprint._threads import new_thread
from wattprint.errors import BudgetExceeded, WattprintWarning
from wattprint.sinks.base import Sink

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from wattprint.tracking.budget import Budget
    from wattprint.tracking.measure import Interval
    from wattprint.tracking.run import Run

PREDICT_EVERY_S = 10.0  # the prediction is worked out at most this often on the sampler thread


def _warn(line: str) -> None:
    warnings.warn(line, WattprintWarning, stacklevel=2)


class BudgetSink(Sink):
    """Checks ``budget`` after every interval; ``say`` tells the user, ``stop`` carries out a stop
    (None: the run raises :class:`~wattprint.errors.BudgetExceeded` in the program's thread)."""

    name = "budget"

    def __init__(self, budget: Budget, *, say: Callable[[str], None] | None = None,
                 stop: Callable[[Budget], None] | None = None) -> None:
        self.budget = budget
        self.say = say or _warn
        self.stop = stop
        self._predicted_at = float("-inf")

    def interval(self, run: Run, interval: Interval) -> None:
        b = self.budget
        m = run._closed()  # the closed intervals' figures: no counter read on the sampler thread
        event = b.check(m.duration_s, m.energy_j, m.emissions_g)
        if event == "warned":
            self.say(f"wattprint: budget: {b.warn_at:.0%} reached: {b.warned}")
        elif event == "exceeded":
            self._exceeded(run)
        elif run._forecast is not None and m.duration_s - self._predicted_at >= PREDICT_EVERY_S:
            self._predicted_at = m.duration_s
            self._check_prediction(run, m.duration_s)

    def _check_prediction(self, run: Run, at_s: float) -> None:
        p = run.prediction()
        if p is None:
            return
        line = self.budget.check_prediction(at_s, p.energy_j[0] if p.energy_j else None,
                                            p.emissions_g[0] if p.emissions_g else None)
        if line:
            self.say(f"wattprint: budget: {line} ({p.level:.0%} interval, at {p.done:g} of {p.total:g})")

    def _exceeded(self, run: Run) -> None:
        b = self.budget
        if b.action != "stop":
            self.say(f"wattprint: budget exceeded: {b.exceeded}; going on (budget action: warn)")
            return
        b.stopped = True
        if self.stop is None:
            self.say(f"wattprint: budget exceeded: {b.exceeded}; raising BudgetExceeded at the next step")
            run._budget_error = BudgetExceeded(f"run over its budget: {b.exceeded}", dict(b.to_dict()))
            return
        self.say(f"wattprint: budget exceeded: {b.exceeded}; stopping the command (SIGTERM, "
                 f"SIGKILL after {b.grace_s:g} s)")
        new_thread(self.stop, "wattprint-budget-stop", (b,)).start()  # never wait on the sampler thread


def stop_command(child: Callable[[], subprocess.Popen[bytes] | None], budget: Budget,
                 say: Callable[[str], None], poll_s: float = 0.05) -> None:
    """SIGTERM to the command, SIGKILL if it is still alive ``budget.grace_s`` later.

    ``child`` gives the command's process (None while it is being started: waited
    for, within the grace period). Runs on its own thread (see :class:`BudgetSink`).
    """
    deadline = time.monotonic() + budget.grace_s
    proc = child()
    while proc is None and time.monotonic() < deadline:
        time.sleep(poll_s)
        proc = child()
    if proc is None:
        return
    if proc.poll() is None:
        _signal(proc, signal.SIGTERM)
    try:
        proc.wait(timeout=max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        if proc.poll() is None:
            budget.killed = True
            say(f"wattprint: budget: the command outlived the {budget.grace_s:g} s grace period; SIGKILL")
            _signal(proc, signal.SIGKILL)


def _signal(proc: subprocess.Popen[bytes], signum: int) -> None:
    try:
        proc.send_signal(signum)
    except ProcessLookupError:  # it ended meanwhile
        pass
