"""Real parts (servers, launchers, frameworks, browsers) the tests drive, and what to do without one.

``.ci/run`` installs every part (``.ci/setup.d``) and sets ``WATTPRINT_REQUIRE_REAL_PARTS=1``:
there a missing part *fails* its test, so a broken install step cannot hide behind a skip. On a
developer's machine the test is skipped with the reason and the install command printed
(``pytest -rs`` lists them).
"""

from __future__ import annotations

import importlib.util
import os
import shutil

import pytest


def strict() -> bool:
    """True in CI: a missing real part is a failure."""
    return os.environ.get("WATTPRINT_REQUIRE_REAL_PARTS", "") not in ("", "0")


def missing(what: str, how: str) -> None:
    """Fail (CI) or skip (elsewhere) because ``what`` is not here; ``how`` says how to get it."""
    message = f"{what} is not available: {how}"
    if strict():
        pytest.fail(message + " (.ci/run should have installed it)", pytrace=False)
    pytest.skip(message)


def need_module(name: str, how: str) -> None:
    """Require an importable Python module (``torch``, ``psycopg`` ...)."""
    if importlib.util.find_spec(name) is None:
        missing(f"Python module {name!r}", how)


def need_program(name: str, how: str, *extra_dirs: str) -> str:
    """Require an executable on PATH (or in ``extra_dirs``); returns its path."""
    path = shutil.which(name) or next(
        (p for d in extra_dirs if (p := os.path.join(d, name)) and os.access(p, os.X_OK)), None
    )
    if path is None:
        missing(f"program {name!r}", how)
        raise AssertionError("unreachable")  # missing() always raises
    return path
