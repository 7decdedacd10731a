"""Shorthands over :mod:`powercap_tree` for tests that just need a small machine."""

from __future__ import annotations

from pathlib import Path

from powercap_tree import RANGE_UJ, Tree

__all__ = ["RANGE_UJ", "make_tree", "set_uj"]


def make_tree(root: Path, packages: int = 1, dram: bool = True, psys: bool = False) -> Path:
    """``intel-rapl:N`` packages (+ a dram sub-zone each, + psys) with zeroed counters."""
    t = Tree(root)
    for n in range(packages):
        t.zone(f"intel-rapl:{n}", f"package-{n}")
        if dram:
            t.zone(f"intel-rapl:{n}:0", "dram")
    if psys:
        t.zone(f"intel-rapl:{packages}", "psys")
    return root


def set_uj(root: Path, zone: str, value_uj: int) -> None:
    """Overwrite one zone's counter (``intel-rapl:0`` or ``intel-rapl:0:0``) while it may be read.

    Written in place without truncating, as the sampler may pread() it at the
    same moment; counters only grow in these tests, so the new text is never
    shorter than the old.
    """
    parts = zone.split(":")
    path = root / zone if len(parts) == 2 else root / ":".join(parts[:2]) / zone
    with open(path / "energy_uj", "r+", encoding="ascii") as fh:
        fh.write(f"{value_uj}\n")
