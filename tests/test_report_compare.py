"""``compare``: the t table against a numerical t distribution, and the CLI on stored runs."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fake_rapl import make_tree
from wattprint.report.compare import T975, CompareError, compare, mean_ci, t975

SRC = str(Path(__file__).resolve().parents[1] / "src")


def _t_cdf(x: float, df: float, steps: int = 20000) -> float:
    """P(T <= x) for Student's t, x >= 0, by Simpson's rule on the density (independent of the table)."""
    logc = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)

    def pdf(t: float) -> float:
        return math.exp(logc - (df + 1) / 2 * math.log1p(t * t / df))

    h = x / steps
    s = pdf(0) + pdf(x) + sum((4 if i % 2 else 2) * pdf(i * h) for i in range(1, steps))
    return 0.5 + s * h / 3


def _t_quantile(df: float) -> float:
    lo, hi = 0.0, 20.0
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if _t_cdf(mid, df, 4000) < 0.975 else (lo, mid)
    return (lo + hi) / 2


@pytest.mark.parametrize("df", [*range(1, len(T975) + 1), 40, 60, 120])
def test_t_table_gives_the_975_quantile(df: int) -> None:
    assert _t_cdf(t975(df), df) == pytest.approx(0.975, abs=2e-5)


@pytest.mark.parametrize("df", [35, 50, 90, 500])
def test_t_interpolation_between_rows(df: int) -> None:
    assert t975(df) == pytest.approx(_t_quantile(df), abs=1e-3)


def test_mean_ci_by_hand() -> None:
    s = mean_ci([1.0, 2.0, 3.0, 4.0])
    sd = math.sqrt(5 / 3)
    assert s["mean"] == 2.5 and s["sd"] == pytest.approx(sd)
    assert s["half_width"] == pytest.approx(3.1824 * sd / 2)
    assert (s["low"], s["high"]) == pytest.approx((2.5 - s["half_width"], 2.5 + s["half_width"]))
    with pytest.raises(CompareError):
        mean_ci([1.0])


def test_compare_needs_two_runs() -> None:
    from report_sample import gpu_run

    with pytest.raises(CompareError, match="at least two runs"):
        compare([gpu_run()])


# -- the CLI on stored runs -------------------------------------------------------------------


def wp(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wattprint.cli.main", *args],
        capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=SRC), timeout=120,
    )


BUMP = (
    "import sys; p = sys.argv[1] + '/intel-rapl:0/energy_uj'; "
    "v = int(open(p).read()); open(p, 'r+').write(str(v + int(sys.argv[2])) + '\\n')"
)


@pytest.fixture
def stored(tmp_path: Path) -> tuple[str, list[str]]:
    """Three stored runs named 'job' using 2, 3 and 4 J, and one 'other' run using 8 J."""
    root = str(make_tree(tmp_path / "pc", packages=1, dram=True))  # measured DRAM: no modelled RAM
    db = str(tmp_path / "c.db")
    ids = []
    for name, uj in (("job", 2_000_000), ("job", 3_000_000), ("job", 4_000_000), ("other", 8_000_000)):
        r = wp("run", "--db", db, "--rapl-root", root, "--country", "FR", "--name", name, "--quiet",
               "--", sys.executable, "-c", BUMP, root, str(uj))
        assert r.returncode == 0, r.stderr
        ids.append(wp("runs", "--db", db, "-n", "1").stdout.splitlines()[1].split()[0])
    return db, ids


def test_compare_groups_repeats_with_a_t_interval(stored: tuple[str, list[str]]) -> None:
    db, ids = stored
    r = wp("compare", "--db", db, "--name", "job", "--name", "other", "--format", "json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert [x["id"] for x in data["runs"]] == ids  # the 'job' runs oldest first, then the extra one
    energies_j = [x["energy_kwh"] * 3.6e6 for x in data["runs"]]
    assert energies_j == pytest.approx([2.0, 3.0, 4.0, 8.0], abs=1e-6)
    (group,) = data["groups"]
    assert group["name"] == "job" and group["n"] == 3
    e = group["stats"]["energy_kwh"]
    assert e["mean"] * 3.6e6 == pytest.approx(3.0, abs=1e-6)
    assert e["half_width"] * 3.6e6 == pytest.approx(4.3027 * 1.0 / math.sqrt(3), rel=1e-4)
    diffs = {d["id"]: d["energy_kwh"]["rel"] for d in data["differences"]}
    assert diffs[ids[1]] == pytest.approx(0.5, rel=1e-6) and diffs[ids[3]] == pytest.approx(3.0, rel=1e-6)

    text = wp("compare", "--db", db, "--name", "job")
    assert text.returncode == 0, text.stderr
    assert "'job': 3 runs, mean ± 95 % CI (Student t, 2 df)" in text.stdout
    assert "+50.0 %" in text.stdout and "baseline" in text.stdout

    md = wp("compare", "--db", db, *ids[:2], "--format", "md")
    assert md.returncode == 0 and md.stdout.startswith("| ") and "| Energy vs first | baseline | +50.0 % |" in md.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["compare", "last"], "at least two runs"),
        (["compare", "nosuchid", "last"], "no run with id 'nosuchid'"),
        (["compare", "--name", "nobody"], "no stored run is named 'nobody'"),
    ],
)
def test_compare_bad_input_is_one_line(stored: tuple[str, list[str]], args: list[str], needle: str) -> None:
    db, _ = stored
    r = wp(*args, "--db", db)
    assert r.returncode == 2
    assert needle in r.stderr and len(r.stderr.strip().splitlines()) == 1
