"""The dependency rule of docs/architecture.md, checked on the real imports.

Every module of ``src/wattprint`` belongs to a layer; an import (at module
level or inside a function, but not one under ``if TYPE_CHECKING``) may only
go to the same layer or a lower one. This is the diagram in the architecture
page: if this test fails, either the import runs back up or the page is wrong.
"""

from __future__ import annotations

import ast
from pathlib import Path

import wattprint

ROOT = Path(wattprint.__file__).parent

# lowest first; a module takes the layer of its longest matching prefix
LAYERS: list[tuple[int, tuple[str, ...]]] = [
    (0, ("_record", "_threads", "_forkgate", "errors", "units", "version", "host", "privacy", "config", "settings_keys",
         "settings", "report.escape", "embodied")),  # escape: stdlib only, used by a span's repr (tracking.display)
    (1, ("sensors", "intensity")),
    (2, ("tracking.sampler", "tracking.measure", "tracking.record", "tracking.run",
         "tracking.attribution", "tracking.baseline", "tracking.budget", "tracking.predict", "tracking.hostreg",
         "tracking.shared",
         "tracking")),
    (3, ("store", "sinks.base")),
    (4, ("report", "sinks", "sinks.budget", "report.foresight")),
    (5, ("tracking.pool", "tracking.endings", "tracking.tracker", "tracking.track", "tracking.ranks", "tracking.slurm",
         # the communicators of a distributed job: the tracker's start and stop use them
         "integrations.torch_distributed", "integrations.mpi")),
    (6, ("cli", "integrations", "dashboard", "__init__")),
]


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def layer_of(module: str) -> int:
    best = (-1, -1)
    for layer, prefixes in LAYERS:
        for prefix in prefixes:
            if module == prefix or module.startswith(prefix + "."):
                best = max(best, (len(prefix), layer))
    assert best[1] >= 0, f"module {module} has no layer in tests/test_layers.py"
    return best[1]


def runtime_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            typing_only.update(id(x) for x in ast.walk(node))
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("wattprint"):
            base = node.module.removeprefix("wattprint").lstrip(".")
            for alias in node.names:  # ``from wattprint import settings`` names a module
                sub = f"{base}.{alias.name}" if base else alias.name
                found.add(sub if (ROOT / sub.replace(".", "/")).with_suffix(".py").exists() else base)
        elif isinstance(node, ast.Import):
            found.update(a.name.removeprefix("wattprint.") for a in node.names if a.name.startswith("wattprint."))
    found.discard("")
    return found


def test_no_import_runs_back_up() -> None:
    wrong = []
    for path in sorted(ROOT.rglob("*.py")):
        module = module_name(path).removesuffix(".__init__")
        if module == "__init__":
            continue
        mine = layer_of(module)
        for target in runtime_imports(path):
            if layer_of(target) > mine:
                wrong.append(f"{module} (layer {mine}) imports {target} (layer {layer_of(target)})")
    assert not wrong, "\n".join(wrong)


def test_the_rule_can_fail() -> None:
    # the checker itself: a report module importing the CLI would be caught
    assert layer_of("report.markdown") < layer_of("cli.main")
    assert layer_of("tracking.run") < layer_of("sinks.store") < layer_of("tracking.tracker")
    assert layer_of("sensors.cpu.rapl") < layer_of("tracking.sampler")
