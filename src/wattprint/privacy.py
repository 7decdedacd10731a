"""Secrets out of command lines: one masking function, applied before anything is stored or shown.

A run keeps its command line (it is how people find a run again), but command
lines carry credentials: ``--password=…``, ``--hf-token …``, ``API_KEY=…``,
``-H "Authorization: Bearer …"``, ``https://user:pass@host/``. :func:`mask_command`
replaces the secret part of each with ``***`` and leaves everything else as
given; :func:`mask_text` does the same for any text (a provider's error body
that echoes a request). It is deliberately shape-based, not exhaustive: a secret passed as a bare
positional argument cannot be told from any other word, which is why
``Tracker(store_command=False)`` / ``wattprint run --no-command`` exist.

An option or variable counts as secret when the *last word* of its name is
one of :data:`SECRET_WORDS` (``--api-token``, ``HF_TOKEN``, ``--db-password``),
or its last two words are one of :data:`SECRET_PAIRS` (``--api-key``,
``AWS_SECRET_ACCESS_KEY``); so ``--max-tokens 512`` or ``--tokenizer`` are
kept as they are.

Like :mod:`wattprint.errors`, this module sits at the bottom of the package:
it imports nothing of wattprint's, and every layer may import it (the live
intensity providers mask what a provider echoes back with :func:`mask_text`).
"""

from __future__ import annotations

import functools
import re

MASK = "***"

SECRET_WORDS = frozenset(
    {"password", "passwd", "passphrase", "pass", "secret", "token", "credential", "credentials",
     "apikey", "auth", "authorization", "cookie"}
)
SECRET_PAIRS = frozenset({("api", "key"), ("access", "key"), ("private", "key"), ("secret", "key"),
                          ("auth", "key"), ("client", "secret"), ("session", "key")})

_WORD_SPLIT = re.compile(r"[-_.]+")
# NAME=VALUE anywhere in an argument (options, environment assignments, query strings)
_ASSIGN = re.compile(r"(?P<name>[A-Za-z0-9_.-]*[A-Za-z0-9])(?P<eq>=)(?P<value>[^&;\s\"']+)")
# --name VALUE inside one argument (a shell string given to sh -c)
_SPACED = re.compile(r"(?P<name>(?<![\w-])--?[A-Za-z][A-Za-z0-9_.-]*)(?P<eq>\s+)(?P<value>[^\s\"'-][^\s\"']*)")
# "Name: value" headers (curl -H, wget --header)
_HEADER = re.compile(r"(?P<name>[A-Za-z][A-Za-z0-9-]*)(?P<eq>\s*:\s*)(?P<value>[^\"'\r\n]+)")
# "name": "value" (JSON echoed back by a provider, a JSON argument)
_QUOTED = re.compile(r'"(?P<name>[A-Za-z][A-Za-z0-9_.-]{0,63})"(?P<eq>\s*:\s*)"(?P<value>[^"\\]*)"')
_BEARER = re.compile(r"(?i)\b(bearer|basic)(\s+)[A-Za-z0-9._~+/=-]+")
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]+@")


def is_secret_name(name: str) -> bool:
    """Whether an option, variable or header called ``name`` holds a secret (see the module doc)."""
    words = [w.lower() for w in _WORD_SPLIT.split(name.strip("-")) if w]
    if not words or words[0] == "no":  # --no-password is a switch, not a secret
        return False
    if words[-1] in SECRET_WORDS:
        return True
    return len(words) >= 2 and (words[-2], words[-1]) in SECRET_PAIRS


def _mask_named(pattern: re.Pattern[str], text: str) -> str:
    def sub(m: re.Match[str]) -> str:
        if not is_secret_name(m.group("name")):
            return m.group(0)
        if pattern is _QUOTED:
            return f'"{m.group("name")}"{m.group("eq")}"{MASK}"'
        return f"{m.group('name')}{m.group('eq')}{MASK}"

    return pattern.sub(sub, text)


def mask_text(text: str) -> str:
    """``text`` with every secret shape it contains replaced by ``***``.

    Short texts are masked once and remembered: a running run's record is written
    every flush with the same intensity notes and faults (six regular expressions
    each, otherwise, on the store's thread every 10 s).
    """
    if not text:
        return text
    if len(text) <= _CACHED_LEN:
        return _mask_cached(text)
    return _mask(text)


_CACHED_LEN = 2048


@functools.lru_cache(maxsize=512)
def _mask_cached(text: str) -> str:
    return _mask(text)


def _mask(text: str) -> str:
    out = _URL_USERINFO.sub(rf"\1{MASK}@", text)
    out = _BEARER.sub(rf"\1\2{MASK}", out)
    out = _mask_named(_QUOTED, out)
    out = _mask_named(_ASSIGN, out)
    out = _mask_named(_SPACED, out)
    return _mask_named(_HEADER, out)


def mask_command(argv: list[str] | None) -> list[str] | None:
    """A command line with secrets masked: each argument by :func:`mask_text`, and the
    argument after a secret option (``--password VALUE``) replaced whole."""
    if argv is None:
        return None
    out: list[str] = []
    hide_next = False
    for arg in argv:
        arg = str(arg)
        if hide_next and not arg.startswith("--"):
            out.append(MASK)
            hide_next = False
            continue
        hide_next = arg.startswith("-") and "=" not in arg and is_secret_name(arg)
        out.append(mask_text(arg))
    return out
