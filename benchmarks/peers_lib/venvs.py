"""Create one fresh virtual environment per tool and measure what installing it costs.

Why a venv per tool: install size and package count are only comparable when each tool
is installed alone, next to an empty venv built by the same interpreter, and the
timing children must not see each other's packages.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent.parent
REPO_ROOT = BENCH_DIR.parent
VENV_ROOT = BENCH_DIR / ".venvs"

#: What `pip install` gets for each tool; wattprint is installed from this checkout.
PIP_SPECS: dict[str, list[str]] = {
    "empty": [],
    "codecarbon": ["codecarbon"],
    "zeus": ["zeus"],
}


@dataclass
class VenvInfo:
    """One tool's venv and what installing it cost (sizes in bytes, time in seconds)."""

    tool: str
    path: str
    python: str
    version: str
    install_s: float
    site_bytes: int
    dists: list[str]

    def to_json(self) -> dict:
        return asdict(self)


def _site_packages(venv: Path) -> Path:
    found = sorted((venv / "lib").glob("python3*/site-packages"))
    if not found:
        raise RuntimeError(f"no site-packages under {venv}; delete it and rerun")
    return found[0]


def _tree_bytes(path: Path) -> int:
    """Sum of apparent file sizes below ``path`` (symlinks not followed)."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


def _dists(site: Path) -> list[str]:
    names = []
    for entry in site.iterdir():
        if entry.name.endswith(".dist-info"):
            names.append(entry.name[: -len(".dist-info")])
    return sorted(names)


def _pip(venv: Path, args: list[str]) -> None:
    cmd = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        raise RuntimeError(f"pip install {' '.join(args)} failed in {venv}:\n{tail}")


def _wattprint_source(source: str) -> Path:
    """Put the wattprint sources to build in a temp dir, so a build leaves no trace here.

    ``source="head"`` exports the last commit (``git archive HEAD``): reproducible, and
    free of other people's unfinished files. ``source="worktree"`` copies the working
    tree as it is now. A stub README is written when there is none, because the build
    backend refuses to build without the readme named in pyproject.toml.
    """
    tmp = Path(tempfile.mkdtemp(prefix="wattprint-src-"))
    if source == "head":
        archive = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "archive", "--format=tar", "HEAD", "pyproject.toml",
             "src", *[p for p in ("README.md", "LICENSE") if (REPO_ROOT / p).exists()]],
            capture_output=True,
            check=True,
        )
        subprocess.run(["tar", "-x", "-C", str(tmp)], input=archive.stdout, check=True)
    elif source == "worktree":
        shutil.copy2(REPO_ROOT / "pyproject.toml", tmp / "pyproject.toml")
        shutil.copytree(
            REPO_ROOT / "src", tmp / "src", ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
        )
        for extra in ("README.md", "LICENSE"):
            if (REPO_ROOT / extra).exists():
                shutil.copy2(REPO_ROOT / extra, tmp / extra)
    else:
        raise ValueError(f"wattprint source must be 'head' or 'worktree', got {source!r}")
    if not (tmp / "README.md").exists():
        (tmp / "README.md").write_text("wattprint\n")
    return tmp


def _version(venv: Path, tool: str) -> str:
    if tool == "empty":
        return sys.version.split()[0]
    code = f"import importlib.metadata as m; print(m.version({tool!r}))"
    proc = subprocess.run(
        [str(venv / "bin" / "python"), "-c", code], capture_output=True, text=True
    )
    return proc.stdout.strip() or "?"


def ensure_venv(
    tool: str, *, fresh: bool = False, wattprint_source: str = "head", log=print
) -> VenvInfo:
    """Return the venv for ``tool``, building it first when missing or ``fresh``.

    wattprint's venv is rebuilt on every call so that the figures are for the code in
    this checkout, not for a stale copy.
    """
    venv = VENV_ROOT / tool
    meta = venv / "bench-install.json"
    rebuild = fresh or tool == "wattprint" or not meta.exists()
    if not rebuild:
        return VenvInfo(**json.loads(meta.read_text()))
    if venv.exists():
        shutil.rmtree(venv)
    VENV_ROOT.mkdir(parents=True, exist_ok=True)
    log(f"  creating venv for {tool} ...")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    t0 = time.perf_counter()
    if tool == "wattprint":
        src = _wattprint_source(wattprint_source)
        try:
            _pip(venv, [str(src)])
        finally:
            shutil.rmtree(src, ignore_errors=True)
    elif PIP_SPECS.get(tool):
        _pip(venv, PIP_SPECS[tool])
    install_s = time.perf_counter() - t0
    site = _site_packages(venv)
    info = VenvInfo(
        tool=tool,
        path=str(venv),
        python=str(venv / "bin" / "python"),
        version=_version(venv, tool),
        install_s=install_s,
        site_bytes=_tree_bytes(site),
        dists=_dists(site),
    )
    meta.write_text(json.dumps(info.to_json(), indent=1))
    return info
