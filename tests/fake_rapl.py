"""A powercap tree under a temp dir, laid out like the kernel's, for the lead's tests."""

from __future__ import annotations

from pathlib import Path

RANGE_UJ = 262143328850


def make_tree(root: Path, packages: int = 1, dram: bool = True, psys: bool = False) -> Path:
    """Create ``intel-rapl:N`` zones (+ dram sub-zones, + psys) with zeroed counters."""
    root.mkdir(parents=True, exist_ok=True)
    for n in range(packages):
        z = root / f"intel-rapl:{n}"
        z.mkdir()
        (z / "name").write_text(f"package-{n}\n")
        (z / "energy_uj").write_text("0\n")
        (z / "max_energy_range_uj").write_text(f"{RANGE_UJ}\n")
        if dram:
            d = z / f"intel-rapl:{n}:0"
            d.mkdir()
            (d / "name").write_text("dram\n")
            (d / "energy_uj").write_text("0\n")
            (d / "max_energy_range_uj").write_text(f"{RANGE_UJ}\n")
    if psys:
        z = root / f"intel-rapl:{packages}"
        z.mkdir()
        (z / "name").write_text("psys\n")
        (z / "energy_uj").write_text("0\n")
        (z / "max_energy_range_uj").write_text(f"{RANGE_UJ}\n")
    return root


def set_uj(root: Path, zone: str, value_uj: int) -> None:
    """Overwrite one zone's counter (zone like ``intel-rapl:0`` or ``intel-rapl:0:0``)."""
    parts = zone.split(":")
    path = root / zone if len(parts) == 2 else root / ":".join(parts[:2]) / zone
    # Written in place without truncating, as a reader may pread() it concurrently; counters
    # only grow in these tests, so the new text is never shorter than the old.
    with open(path / "energy_uj", "r+", encoding="ascii") as fh:
        fh.write(f"{value_uj}\n")
