"""Build fake powercap trees laid out exactly as the kernel does, for the RAPL tests.

The kernel's real layout is a device tree under
``/sys/devices/virtual/powercap/intel-rapl/`` with sub-zones nested inside
their package (``intel-rapl:0/intel-rapl:0:2``), and ``/sys/class/powercap``
holding one symlink per zone *and* per sub-zone. :class:`Tree` builds the
nested form directly in ``root``; ``class_links=True`` builds the device tree
beside it and fills ``root`` with symlinks, like ``/sys/class/powercap``.
"""

from __future__ import annotations

from pathlib import Path

RANGE_UJ = 262_143_328_850  # a typical Intel max_energy_range_uj (~262 kJ)


class Tree:
    """A fake powercap tree; zones are addressed by their directory name (``intel-rapl:0:2``)."""

    def __init__(self, root: Path, *, class_links: bool = False) -> None:
        self.root = root
        self.class_links = class_links
        self.devices = root.parent / (root.name + "-devices") if class_links else root
        self.devices.mkdir(parents=True, exist_ok=True)
        root.mkdir(parents=True, exist_ok=True)
        self.dirs: dict[str, Path] = {}

    def zone(
        self,
        zone: str,
        name: str,
        *,
        energy_uj: int = 0,
        range_uj: int = RANGE_UJ,
        max_power_uw: int | None = None,
    ) -> Path:
        """Add zone ``intel-rapl:N`` or sub-zone ``intel-rapl:N:M`` (parent must exist)."""
        parts = zone.split(":")
        if len(parts) == 3:
            parent = self.dirs[":".join(parts[:2])]
            d = parent / zone
        else:
            d = self.devices / zone
        d.mkdir()
        (d / "name").write_text(f"{name}\n")
        (d / "energy_uj").write_text(f"{energy_uj}\n")
        (d / "max_energy_range_uj").write_text(f"{range_uj}\n")
        (d / "enabled").write_text("1\n")
        if max_power_uw is not None:
            (d / "constraint_0_name").write_text("long_term\n")
            (d / "constraint_0_max_power_uw").write_text(f"{max_power_uw}\n")
        if self.class_links:
            (self.root / zone).symlink_to(d)
        self.dirs[zone] = d
        return d

    def set(self, zone: str, energy_uj: int) -> None:
        """Rewrite a zone's counter in place (same inode: an open fd sees the new value)."""
        with open(self.dirs[zone] / "energy_uj", "w", encoding="ascii") as fh:
            fh.write(f"{energy_uj}\n")


def two_socket_server(root: Path, *, class_links: bool = False) -> Tree:
    """Two packages, each with core, uncore and dram; psys; an MMIO duplicate of package-0."""
    t = Tree(root, class_links=class_links)
    for n in (0, 1):
        t.zone(f"intel-rapl:{n}", f"package-{n}")
        t.zone(f"intel-rapl:{n}:0", "core")
        t.zone(f"intel-rapl:{n}:1", "uncore")
        t.zone(f"intel-rapl:{n}:2", "dram")
    t.zone("intel-rapl:2", "psys")
    t.zone("intel-rapl-mmio:0", "package-0")
    (t.root / "intel-rapl").mkdir(exist_ok=True)  # the control-type directory, not a zone
    return t
