"""Facts about this host recorded with every run."""

from __future__ import annotations

import os


def hostname() -> str:
    """This machine's network name."""
    try:
        return os.uname().nodename
    except AttributeError:  # Windows
        import platform

        return platform.node()


def user_name() -> str | None:
    """Who runs this process (the login name from the environment or the password database),
    or None where neither knows (a container's numeric user)."""
    import getpass

    try:
        return getpass.getuser() or None
    except Exception:  # no USER/LOGNAME and no passwd entry (KeyError, OSError)
        return None


def cpu_model() -> str:
    """The CPU model name (``/proc/cpuinfo`` on Linux, ``platform`` elsewhere)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine() or "unknown"
