"""Shared CLI plumbing: the one-line user error and its exit code."""

from __future__ import annotations

import sys

from wattprint.errors import WattprintError

EXIT_USAGE = 2


class UsageError(WattprintError):
    """A user mistake (bad flag, unknown run, unwritable path): one line on stderr, exit 2."""


def fail(message: str) -> int:
    """Print ``wattprint: error: message`` on stderr and return the usage exit code."""
    print(f"wattprint: error: {message}", file=sys.stderr)
    return EXIT_USAGE
