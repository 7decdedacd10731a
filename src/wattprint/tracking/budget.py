"""A run's energy and emissions budget: its limits and what happened to it.

:class:`Budget` holds the limits (``budget_kwh``, ``budget_g``), the warning
fraction and the action; :meth:`Budget.check` is called with the run's
running totals after each closed interval (by :class:`wattprint.sinks.budget.BudgetSink`
on the sampler thread) and says which event, if any, is new: a warning at the
fraction, the limit crossed, or a prediction that the run will go over. Each
event happens at most once per run. This module only decides and records; the
sink tells the user and acts (stops the child of ``wattprint run``, or leaves a
:class:`~wattprint.errors.BudgetExceeded` that the run raises in the user's
thread at its next ``window()``, ``progress()`` or ``check_budget()``).
"""

from __future__ import annotations

from wattprint.units import fmt_energy, fmt_mass

TYPE_CHECKING = False  # not from typing: see tracker.py
if TYPE_CHECKING:
    from wattprint.settings import Settings
    from wattprint.tracking.record import BudgetRecord

KWH_J = 3.6e6
ACTIONS = ("warn", "stop")


class Budget:
    """Limits in joules and grams (None: no such limit) and the run's budget events so far.

    Times (``*_at_s``) are seconds from the run's start. Thread-safety: only the
    sampler thread calls :meth:`check`; readers see each field change once.
    """

    def __init__(self, energy_j: float | None, emissions_g: float | None, *, warn_at: float = 0.8,
                 action: str = "stop", grace_s: float = 10.0) -> None:
        self.energy_j = energy_j
        self.emissions_g = emissions_g
        self.warn_at = warn_at
        self.action = action
        self.grace_s = grace_s
        self.warned_at_s: float | None = None
        self.warned: str | None = None  # the line said at the warning
        self.predicted_at_s: float | None = None
        self.predicted: str | None = None
        self.exceeded_at_s: float | None = None
        self.exceeded: str | None = None
        self.stopped = False  # the action was taken: the child signalled, or the API error raised
        self.killed = False  # the child outlived the grace period and was sent SIGKILL

    @classmethod
    def from_settings(cls, settings: Settings) -> Budget | None:
        """The budget the settings ask for (``budget_kwh`` / ``budget_g``), or None."""
        kwh, grams = settings.get("budget_kwh"), settings.get("budget_g")
        if kwh is None and grams is None:
            return None
        return cls(None if kwh is None else kwh * KWH_J, grams, warn_at=settings.get("budget_warn_at"),
                   action=settings.get("budget_action"), grace_s=settings.get("budget_grace_s"))

    def _used(self, energy_j: float, emissions_g: float) -> list[tuple[float, str]]:
        """(fraction used, 'what of what') per limit; emissions only once they are known."""
        out = []
        if self.energy_j is not None:
            out.append((energy_j / self.energy_j,
                        f"{fmt_energy(energy_j)} of the {fmt_energy(self.energy_j)} energy budget"))
        if self.emissions_g is not None and emissions_g == emissions_g:  # NaN: intensity not known yet
            out.append((emissions_g / self.emissions_g,
                        f"{fmt_mass(emissions_g)} of the {fmt_mass(self.emissions_g)} CO2e budget"))
        return out

    def check(self, at_s: float, energy_j: float, emissions_g: float) -> str | None:
        """The new event after a closed interval: ``'exceeded'``, ``'warned'`` or None.

        A run that crosses both marks in one interval is only 'exceeded' (the
        warning would say less, later than the action).
        """
        if self.exceeded_at_s is not None:
            return None
        used = self._used(energy_j, emissions_g)
        over = [text for frac, text in used if frac >= 1.0]
        if over:
            self.exceeded_at_s, self.exceeded = at_s, "; ".join(over)
            return "exceeded"
        near = [text for frac, text in used if frac >= self.warn_at]
        if near and self.warned_at_s is None:
            self.warned_at_s, self.warned = at_s, "; ".join(near)
            return "warned"
        return None

    def check_prediction(self, at_s: float, energy_j: float | None, emissions_g: float | None) -> str | None:
        """A warning (once) when the predicted total goes over a limit; the line to say, or None.

        ``energy_j``/``emissions_g`` are the predicted totals' lower bounds: the
        warning comes only when going over is likely, not merely possible.
        """
        if self.predicted_at_s is not None or self.exceeded_at_s is not None:
            return None
        over = []
        if self.energy_j is not None and energy_j is not None and energy_j > self.energy_j:
            over.append(f"at least {fmt_energy(energy_j)} against the {fmt_energy(self.energy_j)} energy budget")
        if self.emissions_g is not None and emissions_g is not None and emissions_g > self.emissions_g:
            over.append(f"at least {fmt_mass(emissions_g)} against the {fmt_mass(self.emissions_g)} CO2e budget")
        if not over:
            return None
        self.predicted_at_s = at_s
        self.predicted = "predicted total " + "; ".join(over)
        return self.predicted

    def to_dict(self) -> BudgetRecord:
        """The budget and its events, as the run record keeps them."""
        return {
            "energy_j": self.energy_j,
            "emissions_g": self.emissions_g,
            "warn_at": self.warn_at,
            "action": self.action,
            "grace_s": self.grace_s,
            "warned_at_s": self.warned_at_s,
            "warned": self.warned,
            "predicted_at_s": self.predicted_at_s,
            "predicted": self.predicted,
            "exceeded_at_s": self.exceeded_at_s,
            "exceeded": self.exceeded,
            "stopped": self.stopped,
            "killed": self.killed,
        }
