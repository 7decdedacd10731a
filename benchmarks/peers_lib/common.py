"""Running children, summarising samples, describing the machine."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = Path(__file__).resolve().parent / "child.py"


class ChildError(RuntimeError):
    """A measurement child failed; the message carries the tail of its stderr."""


def child_env() -> dict[str, str]:
    """Environment for children: no user site, no inherited PYTHONPATH, quiet config.

    HOME and XDG dirs point at a temporary directory so that no tool reads or writes
    the user's real config/data (CodeCarbon reads ~/.codecarbon.config; wattprint its
    store and config), and no cloud-metadata probe adds network waits.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "CODECARBON_"))}
    env.pop("VIRTUAL_ENV", None)
    home = Path(tempfile.gettempdir()) / "wattprint-bench-home"
    home.mkdir(exist_ok=True)
    env["HOME"] = str(home)
    env["XDG_CONFIG_HOME"] = str(home / ".config")
    env["XDG_DATA_HOME"] = str(home / ".local" / "share")
    env["XDG_CACHE_HOME"] = str(home / ".cache")
    env["PYTHONNOUSERSITE"] = "1"
    return env


def run_child(python: str, spec: dict, *, timeout: float = 300.0, cwd: str | None = None) -> dict:
    """Run one measurement in a fresh interpreter and return its JSON figures."""
    proc = subprocess.run(
        [python, str(CHILD), json.dumps(spec)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=child_env(),
        cwd=cwd or tempfile.gettempdir(),
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = "\n".join(proc.stderr.strip().splitlines()[-12:])
        raise ChildError(f"{spec.get('tool')} {spec.get('mode')} failed (rc={proc.returncode}):\n{tail}")
    out = json.loads(lines[-1])
    out["stderr_lines"] = len(proc.stderr.splitlines())
    return out


def median(xs: list[float | None]) -> float | None:
    vals = [x for x in xs if x is not None]
    return statistics.median(vals) if vals else None


def spread(xs: list[float | None]) -> tuple[float, float] | None:
    vals = [x for x in xs if x is not None]
    return (min(vals), max(vals)) if vals else None


def machine() -> dict[str, str]:
    """A short description of the host: CPU, cores, memory, kernel, Python."""
    info = {
        "python": sys.version.split()[0],
        "kernel": platform.release(),
        "platform": platform.platform(),
    }
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        keep = ("Model name", "CPU(s)", "Thread(s) per core", "Core(s) per socket",
                "Socket(s)", "Hypervisor vendor", "CPU max MHz", "BogoMIPS")
        for line in out.splitlines():
            k, _, v = line.partition(":")
            if k.strip() in keep and k.strip() not in info:
                info[k.strip()] = v.strip()
    except OSError:
        pass
    try:
        with open("/proc/meminfo") as fh:
            kb = int(fh.readline().split()[1])
        info["memory"] = f"{kb / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    info["powercap"] = "present" if Path("/sys/class/powercap/intel-rapl:0").exists() else "absent"
    try:
        nv = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10)
        info["gpus"] = nv.stdout.strip() or "none"
    except (OSError, subprocess.TimeoutExpired):
        info["gpus"] = "none (no nvidia-smi)"
    return info


def git_head(repo: Path) -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(repo), "log", "-1", "--format=%h %s"],
            capture_output=True,
            text=True,
        )
        return out.stdout.strip()[:90]
    except OSError:
        return "?"
