"""Predict a run's total duration, energy and emissions from its progress, with an interval.

Pure functions over progress points ``(t_s, done)`` (seconds from the run's
start, units of work done: steps, samples, epochs) and, where known, the
run's cumulative energy at the same instants; no threads, no clock, so the
tests drive it with synthetic runs whose totals are known.

The model. The work left, ``total - done``, is a sum of per-unit costs (seconds,
joules). Between two progress points ``k-1`` and ``k`` the run did ``n_k``
units in ``y_k`` seconds (or joules); the per-unit cost may drift linearly
over the run (a ramp: longer sequences, a growing cache), and its noise is
independent between units, so ``Var(y_k) = sigma^2 n_k``::

    y_k = a n_k + b m_k + e_k,   m_k = n_k x (the midpoint of the units, as a fraction of total)

fitted by weighted least squares (weights ``1/n_k``). The remaining cost is the
same sum over the units left; its prediction interval adds the fit's
uncertainty to the noise of the units still to come, with Student's t
(``level``, 95 % by default). So the interval narrows as the run goes: fewer
units left, more seen.

Steady or drifting: both models are fitted (``b = 0``, and ``b`` free) and averaged
with weights proportional to their likelihoods; the interval takes the weighted
variances plus the models' spread about the averaged value. Choosing one model by a
test first (a drift kept at 3 standard errors, before) made early intervals on a
drifting run far too narrow: at a quarter of a run whose step cost rises by a
quarter the drift stands ~2 standard errors out, is dropped, and the total
extrapolated from the early, cheaper steps (95 % intervals held the truth in 8-67 %
of synthetic runs). A drift's extra parameter is deliberately not penalised (no
AIC's 2k): leaving out a drift that is there costs coverage, fitting one that is not
costs only width.

Burn-in (compilation, data loading, warm caches: the first units slower) is
found against the steady cost of the later half of what has been seen: the
cumulative excess over that cost (a CUSUM) peaks where the slow start ends; a
peak beyond 3 standard deviations of the steps up to it is cut off, and only
what follows is fitted (the time and energy already spent are kept as spent).
Emissions are the energy at the run's running g/J (the intensity's own
uncertainty is not in the interval).
"""

from __future__ import annotations

import math
from statistics import NormalDist

from wattprint.errors import ConfigError

TYPE_CHECKING = False  # not from typing: run.progress() is on the tracked program's path
if TYPE_CHECKING:
    from wattprint.tracking.measure import Interval
    from wattprint.tracking.record import (
        PredictionCheckpoint,
        PredictionError,
        PredictionPoint,
        PredictionRecord,
    )
    from wattprint.tracking.run import Run

LEVEL = 0.95
MIN_INCREMENTS = 5  # steady increments needed before anything is predicted
MAX_INCREMENTS = 512  # coarser beyond this: adjacent increments summed (exact in this model)
CUSUM_Z = 3.0
TRIM_Z = 2.0


def t_quantile(p: float, dof: int) -> float:
    """Student's t quantile (Cornish-Fisher series in 1/dof; within 0.2 % of the tables from dof 3)."""
    z = NormalDist().inv_cdf(p)
    if dof <= 0:
        return math.inf
    if dof >= 1000:
        return z
    v = float(dof)
    z3, z5, z7, z9 = z**3, z**5, z**7, z**9
    return (z + (z3 + z) / (4 * v) + (5 * z5 + 16 * z3 + 3 * z) / (96 * v**2)
            + (3 * z7 + 19 * z5 + 17 * z3 - 15 * z) / (384 * v**3)
            + (79 * z9 + 776 * z7 + 1482 * z5 - 1920 * z3 - 945 * z) / (92160 * v**4))


class Increment:
    """Units done (``n``), their cost (``y``) and their midpoint (fraction of the total)."""

    __slots__ = ("mid", "n", "y")

    def __init__(self, n: float, y: float, mid: float) -> None:
        self.n, self.y, self.mid = n, y, mid


def increments(done: list[float], cost: list[float], total: float) -> list[Increment]:
    """Increments between consecutive points whose ``done`` went up (a point where it did not
    is skipped: its cost joins the next increment)."""
    out: list[Increment] = []
    d0, c0 = done[0], cost[0]
    for d, c in zip(done[1:], cost[1:]):
        if d > d0:
            out.append(Increment(d - d0, c - c0, (d0 + d) / 2 / total))
            d0, c0 = d, c
    return out


def coarsen(incs: list[Increment], limit: int = MAX_INCREMENTS) -> list[Increment]:
    """At most ``limit`` increments, adjacent ones summed."""
    if len(incs) <= limit:
        return incs
    k = math.ceil(len(incs) / limit)
    out = []
    for i in range(0, len(incs), k):
        group = incs[i : i + k]
        n = sum(g.n for g in group)
        out.append(Increment(n, sum(g.y for g in group), sum(g.mid * g.n for g in group) / n))
    return out


def burn_in(incs: list[Increment]) -> int:
    """How many leading increments are a slower start (0: none found)."""
    m = len(incs)
    if m < 2 * MIN_INCREMENTS:
        return 0
    late = incs[m // 2 :]
    n_late = sum(i.n for i in late)
    rate = sum(i.y for i in late) / n_late
    var = sum((i.y - rate * i.n) ** 2 / i.n for i in late) / max(1, len(late) - 1)
    var = max(var, (rate * 1e-6) ** 2)
    path = [(0.0, 0.0)]  # (excess over the steady cost, units) after each leading increment
    for inc in incs[: m // 2]:
        path.append((path[-1][0] + inc.y - rate * inc.n, path[-1][1] + inc.n))
    best_k = max(range(len(path)), key=lambda k: path[k][0])
    best, best_n = path[best_k]
    if best_k == 0 or best <= CUSUM_Z * math.sqrt(var * best_n):
        return 0
    # the peak of a random walk lies past the burn-in's end: cut only as far as the excess is
    # still significant (the earliest point from which the rest up to the peak is noise)
    return next(k for k in range(1, best_k + 1)
                if best - path[k][0] <= TRIM_Z * math.sqrt(var * (best_n - path[k][1])))


class Fit:
    """Remaining cost of ``left`` units from ``at`` (fraction done) to 1: value and its variance."""

    __slots__ = ("dof", "value", "variance")

    def __init__(self, value: float, variance: float, dof: int) -> None:
        self.value, self.variance, self.dof = value, variance, dof


def _solve(incs: list[Increment], trend: bool) -> tuple[list[float], list[list[float]], float, int]:
    """WLS coefficients, their unscaled covariance, sigma^2 and the degrees of freedom."""
    rows = [((i.n, i.n * i.mid) if trend else (i.n,), i.y, 1.0 / i.n) for i in incs]
    p = 2 if trend else 1
    xtx = [[sum(w * x[r] * x[c] for x, _, w in rows) for c in range(p)] for r in range(p)]
    xty = [sum(w * x[r] * y for x, y, w in rows) for r in range(p)]
    if p == 1:
        inv = [[1.0 / xtx[0][0]]]
    else:
        det = xtx[0][0] * xtx[1][1] - xtx[0][1] * xtx[1][0]
        if det <= 1e-12 * xtx[0][0] * xtx[1][1]:
            return _solve(incs, False)
        inv = [[xtx[1][1] / det, -xtx[0][1] / det], [-xtx[1][0] / det, xtx[0][0] / det]]
    beta = [sum(inv[r][c] * xty[c] for c in range(p)) for r in range(p)]
    dof = len(rows) - p
    res = [w * (y - sum(b * xv for b, xv in zip(beta, x))) ** 2 for x, y, w in rows]
    # the steps to come are noisy like the recent ones: a run whose noise grows is not understated
    recent = res[len(res) // 2 :]
    s2 = max(sum(res) / max(1, dof), sum(recent) / max(1, len(recent) - p / 2))
    return beta, inv, s2, dof


def _remaining(incs: list[Increment], done: float, total: float, trend: bool
               ) -> tuple[float, float, float, int] | None:
    """One model's remaining cost, its variance, its log-likelihood (up to a constant shared by
    the models) and degrees of freedom; None for a drift that would make a unit cost nothing."""
    beta, inv, s2, dof = _solve(incs, trend)
    if trend and (len(beta) < 2 or beta[0] + beta[1] <= 0 or beta[0] + beta[1] * done / total <= 0):
        return None
    left = total - done
    x = [left, left * (done + total) / 2 / total][: len(beta)]
    value = sum(b * xv for b, xv in zip(beta, x))
    fit_var = sum(x[r] * inv[r][c] * x[c] for r in range(len(x)) for c in range(len(x)))
    rss = sum((i.y - beta[0] * i.n - (beta[1] * i.n * i.mid if len(beta) == 2 else 0.0)) ** 2 / i.n
              for i in incs)
    loglik = -len(incs) / 2 * math.log(max(rss, 1e-300) / len(incs))
    return value, s2 * (fit_var + left), loglik, dof


def fit_remaining(incs: list[Increment], done: float, total: float) -> Fit | None:
    """The cost of the units from ``done`` to ``total`` (None: too few increments to say).

    Both models (steady, drifting) are fitted and averaged with weights proportional to their
    likelihoods; the variance is the weighted models' variance plus their spread about the mean.
    """
    if len(incs) < MIN_INCREMENTS:
        return None
    fits = [f for f in (_remaining(incs, done, total, False), _remaining(incs, done, total, True))
            if f is not None]
    top = max(f[2] for f in fits)
    weights = [math.exp(f[2] - top) for f in fits]
    norm = sum(weights)
    mean = sum(w * f[0] for w, f in zip(weights, fits)) / norm
    var = sum(w * (f[1] + (f[0] - mean) ** 2) for w, f in zip(weights, fits)) / norm
    return Fit(mean, var, min(f[3] for f in fits))


class Prediction:
    """Predicted totals at ``at_s`` (seconds from the start), each as (low, expected, high)."""

    __slots__ = ("at_s", "burn_in", "done", "duration_s", "emissions_g", "energy_j", "level", "total")

    def __init__(self, at_s: float, done: float, total: float, burn_in: float, level: float,
                 duration_s: tuple[float, float, float],
                 energy_j: tuple[float, float, float] | None,
                 emissions_g: tuple[float, float, float] | None) -> None:
        self.at_s, self.done, self.total, self.burn_in, self.level = at_s, done, total, burn_in, level
        self.duration_s, self.energy_j, self.emissions_g = duration_s, energy_j, emissions_g

    def to_dict(self) -> PredictionPoint:
        return {"at_s": self.at_s, "done": self.done, "total": self.total, "burn_in": self.burn_in,
                "level": self.level, "duration_s": list(self.duration_s),
                "energy_j": list(self.energy_j) if self.energy_j else None,
                "emissions_g": list(self.emissions_g) if self.emissions_g else None}


def _band(spent: float, fit: Fit, level: float) -> tuple[float, float, float]:
    q = t_quantile(0.5 + level / 2, fit.dof)
    half = q * math.sqrt(max(0.0, fit.variance))
    mid = spent + max(0.0, fit.value)
    return (max(spent, mid - half), mid, mid + half)


def _steady(points: list[tuple[float, float]], total: float, after: float | None
            ) -> tuple[list[Increment], float] | None:
    """Increments of ``(done, cost)`` points from the end of the burn-in (found here when ``after``
    is None) and the done at which the burn-in ended."""
    if after is None:
        incs = coarsen(increments([d for d, _ in points], [c for _, c in points], total))
        cut = burn_in(incs)
        after = points[0][0] + sum(i.n for i in incs[:cut])
    kept = [(d, c) for d, c in points if d >= after]
    if len(kept) <= MIN_INCREMENTS:
        return None
    steady = coarsen(increments([d for d, _ in kept], [c for _, c in kept], total))
    return (steady, after) if len(steady) >= MIN_INCREMENTS else None


def predict(times: list[float], done: list[float], total: float, *, energy: list[float] | None = None,
            g_per_j: float | None = None, level: float = LEVEL) -> Prediction | None:
    """Predicted totals from progress points, or None while too few steady increments are seen.

    ``times`` are seconds from the run's start (rising), ``done`` the work done
    at each; ``energy`` the cumulative joules at each (NaN where not known yet:
    those points are left out of the energy fit); ``g_per_j`` the running
    emissions per joule (None or NaN: no emissions figure).
    """
    if not times or total <= 0 or len(times) != len(done):
        return None
    pts = [(d, t) for d, t in zip(done, times) if d <= total]
    timed = _steady(pts, total, None)
    fit = fit_remaining(timed[0], pts[-1][0], total) if timed else None
    if timed is None or fit is None:
        return None
    after = timed[1]
    duration = _band(pts[-1][1], fit, level)
    energy_band = emissions = None
    if energy is not None:
        known = [(d, e) for d, e in zip(done, energy) if e == e and d <= total]
        joules = _steady(known, total, after) if known else None
        efit = fit_remaining(joules[0], known[-1][0], total) if joules else None
        if efit is not None:
            energy_band = _band(known[-1][1], efit, level)
            if g_per_j is not None and g_per_j == g_per_j:
                emissions = (energy_band[0] * g_per_j, energy_band[1] * g_per_j, energy_band[2] * g_per_j)
    return Prediction(times[-1], done[-1], total, after - pts[0][0], level, duration, energy_band, emissions)


# -- a run's progress ---------------------------------------------------------------------

MAX_POINTS = 4096  # beyond this, every other point is dropped (increments merge: no information lost
#                    for the totals, only resolution of the early steps)
FIT_POINTS = 1024  # a prediction reads at most this many of them (~2.5 ms)
FRACTIONS = (0.1, 0.25, 0.5, 0.75, 0.9)  # where the stored record says what was predicted


def energy_at(times: list[float], rows: list[Interval], counted: set[str]) -> list[float]:
    """Cumulative joules of the ``counted`` channels at each of ``times`` (rising), linear
    inside a timeline row; NaN past the last row (not measured yet)."""
    out: list[float] = []
    i, before = 0, 0.0
    for t in times:
        while i < len(rows) and rows[i].t1_s < t:
            before += sum(e for n, e in rows[i].energy_j.items() if n in counted)
            i += 1
        if i == len(rows):
            out.append(before if rows and t <= rows[-1].t1_s else math.nan)
            continue
        row = rows[i]
        span = row.t1_s - row.t0_s
        frac = min(1.0, max(0.0, (t - row.t0_s) / span)) if span > 0 else 1.0
        out.append(before + frac * sum(e for n, e in row.energy_j.items() if n in counted))
    return out


def _error(band: list[float] | None, actual: float | None) -> PredictionError | None:
    if not band or not actual or actual != actual:
        return None
    return {"relative": (band[1] - actual) / actual, "covered": band[0] <= actual <= band[2]}


class ProgressLog:
    """``run.progress(done, total)`` points, kept cheaply: at most one per ``min_gap_s``
    (the latest call is always held), at most :data:`MAX_POINTS`."""

    def __init__(self, min_gap_s: float) -> None:
        self.min_gap_s = min_gap_s
        self.points: list[tuple[float, float]] = []  # (seconds from the run's start, done)
        self.latest: tuple[float, float] | None = None
        self.total: float | None = None
        self._final: PredictionRecord | None = None

    def add(self, t_s: float, done: float, total: float | None) -> None:
        """One call of ``run.progress``; bad numbers raise :class:`~wattprint.errors.ConfigError`."""
        if total is not None:
            if not _number(total) or total <= 0:
                raise ConfigError(f"run.progress(): total must be a finite number more than 0, got {total!r}")
            self.total = float(total)
        if not _number(done) or done < 0:
            raise ConfigError(f"run.progress(): done must be a finite number 0 or more, got {done!r}")
        if self.total is None:
            raise ConfigError("run.progress(): give the total once, e.g. run.progress(0, total=1000)")
        pts, point = self.points, (t_s, float(done))
        self.latest = point
        if pts and t_s - pts[-1][0] < self.min_gap_s and done < self.total:
            return
        pts.append(point)
        if len(pts) > MAX_POINTS:
            self.points = [pts[0], *pts[2:-1:2], pts[-1]]

    def _all(self) -> list[tuple[float, float]]:
        pts, latest = list(self.points), self.latest
        if latest is not None and (not pts or latest[0] > pts[-1][0]):
            pts.append(latest)
        return pts

    def predict(self, run: Run, upto: int | None = None, g_per_j: float | None = None) -> Prediction | None:
        """The prediction from the points so far (the first ``upto`` of them), with the run's
        energy from its timeline rows and emissions at its running g/J."""
        if self.total is None:
            return None
        pts = self._all()[:upto]
        if not pts:
            return None
        if len(pts) > FIT_POINTS:  # every k-th point: the increments between them merge exactly
            k = math.ceil(len(pts) / FIT_POINTS)
            pts = pts[::k] if (len(pts) - 1) % k == 0 else [*pts[::k], pts[-1]]
        rows = list(run.timeline)
        if upto is not None:  # as it was then: only the rows closed by that point
            rows = [r for r in rows if r.t1_s <= pts[-1][0]]
        closed = run._closed()  # the closed intervals: no counter read (this may be the sampler thread)
        counted = {n for n, c in closed.channels.items() if c.in_total}
        times = [t for t, _ in pts]
        if g_per_j is None:
            g_per_j = closed.emissions_g / closed.energy_j if closed.energy_j > 0 else math.nan
        return predict(times, [d for _, d in pts], self.total, energy=energy_at(times, rows, counted),
                       g_per_j=g_per_j)

    def record(self, run: Run) -> PredictionRecord:
        """What the run keeps: the latest prediction, and once it ended, what was predicted at each
        of :data:`FRACTIONS` of the work against the actual totals when the work was done."""
        if self._final is not None:
            return self._final
        pts, total = self._all(), self.total or 0.0
        latest = self.predict(run)
        out: PredictionRecord = {"total": total, "done": pts[-1][1] if pts else 0.0, "level": LEVEL,
                                 "latest": latest.to_dict() if latest else None, "checkpoints": [],
                                 "actual": None}
        if run.status == "running":
            return out
        closed = run._closed()
        g = closed.emissions_g / closed.energy_j if closed.energy_j > 0 else math.nan
        done_at = next((i for i, (_, d) in enumerate(pts) if d >= total), None)
        if done_at is not None:
            t = pts[done_at][0]
            (e,) = energy_at([t], list(run.timeline), {n for n, c in closed.channels.items() if c.in_total})
            out["actual"] = {"duration_s": t, "energy_j": e, "emissions_g": e * g if g == g else None}
        for f in FRACTIONS:
            i = next((i for i, (_, d) in enumerate(pts) if d >= f * total), None)
            p = self.predict(run, i + 1, g) if i is not None and i + 1 < len(pts) else None
            if p is None:
                continue
            point: PredictionCheckpoint = {"fraction": f, **p.to_dict()}
            if out["actual"] is not None:
                actual = out["actual"]
                point["error"] = {"duration_s": _error(point["duration_s"], actual["duration_s"]),
                                  "energy_j": _error(point["energy_j"], actual["energy_j"]),
                                  "emissions_g": _error(point["emissions_g"], actual["emissions_g"])}
            out["checkpoints"].append(point)
        self._final = out
        return out


def _number(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
