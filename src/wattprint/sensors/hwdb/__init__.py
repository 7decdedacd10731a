"""Embedded hardware power tables and the lookups on them.

The CPU table (``cpu_tdp.csv``: ``name,key,tdp_w,source``) maps a processor
model to its package TDP in watts; ``scripts/build_cpu_table.py`` rebuilds it
and ``SOURCES.md`` beside this file says where the figures come from.

Loading is lazy and cached: nothing is read at import, the CSV is parsed the
first time :func:`load_cpu_table` is called (by the model sensor, when it is
created), and kept for the life of the process.

Matching a model name (``/proc/cpuinfo`` "model name", the macOS brand string,
the Windows registry name) is deliberately strict, because a wrong TDP is worse
than an honestly flagged default:

1. both sides are normalised by :func:`normalise_cpu_name` (case, ``(R)``,
   ``(TM)``, "CPU", "Processor", "@ 2.40GHz", "8-Core", "with Radeon
   Graphics", "13th Gen" ... removed);
2. an exact match on the normalised name wins;
3. otherwise a row may match only if its *model-number tokens* (the tokens that
   carry a digit: ``7763``, ``8480+``, ``i7-7600u``, ``v4``, ``m2``) are
   exactly the query's, the query has at least one such token, and every word
   of the query is in the row (the row may add family words: "Xeon 8480+"
   finds "Xeon Platinum 8480+", but "Apple M1 Pro" does not fall back to
   "Apple M1"); among those rows the one with fewest extra words wins. A name
   with no model number ("Intel Xeon Processor", as KVM guests report) never
   matches: brand words alone say nothing about power.

Standard library only.
"""

from __future__ import annotations

import csv
import re
from functools import lru_cache
from pathlib import Path

from wattprint._record import FrozenRecord

__all__ = [
    "CpuMatch",
    "CpuRow",
    "load_cpu_table",
    "match_cpu",
    "model_tokens",
    "normalise_cpu_name",
]

CPU_TABLE = "cpu_tdp.csv"

# Order matters: frequencies and core counts go before the generic cleanup.
_NOISE = [
    (re.compile(r"\((?:r|tm|c)\)|[®™©]"), " "),  # (R) (TM) (C) and their symbols
    (re.compile(r"@\s*[\d.]+\s*[gm]hz"), " "),  # "@ 2.40GHz"
    (re.compile(r"\b[\d.]+\s*[gm]hz\b"), " "),  # "2.40GHz" without the @
    (re.compile(r"\b\d+\s*-?\s*cores?\b"), " "),  # "64-Core", "16 cores"
    (re.compile(r"\b(?:dual|quad|six|eight|twelve|sixteen)\s*-?\s*cores?\b"), " "),
    # "with Radeon Vega Graphics", "w/ Radeon 780M Graphics"
    (re.compile(r"(?:\bwith|\bw/)\s+radeon[\w\s]*?\bgraphics\b"), " "),
    (re.compile(r"\bradeon\s+r\d+\b"), " "),  # "Radeon R6" on old APUs
    (re.compile(r"\b\d+\s+compute\s+cores\s+\S+"), " "),  # "10 Compute Cores 4C+6G"
    (re.compile(r"\bwith\s+ibpb\b"), " "),
    (re.compile(r"\b\d+(?:st|nd|rd|th)\s+gen(?:eration)?\b"), " "),  # "13th Gen"
    (re.compile(r"\b(?:cpu|processor|apu|mobile processor)\b"), " "),
    (re.compile(r"[(),]"), " "),
]
_HAS_DIGIT = re.compile(r"\d")


def normalise_cpu_name(name: str) -> str:
    """Canonical form used on both sides of a match: lower case, noise words gone.

    ``"Intel(R) Xeon(R) Platinum 8480+ CPU @ 2.00GHz"`` → ``"intel xeon platinum 8480+"``;
    ``"AMD EPYC 7763 64-Core Processor"`` → ``"amd epyc 7763"``.
    """
    s = name.lower().replace("\u00a0", " ")
    for pattern, repl in _NOISE:
        s = pattern.sub(repl, s)
    # A word said twice ("AMD 7th Gen AMD PRO A10-9700B") counts once.
    return " ".join(dict.fromkeys(s.split()))


def model_tokens(normalised: str) -> frozenset[str]:
    """The tokens of a normalised name that carry a digit: the model number, "v4", "m2" ..."""
    return frozenset(t for t in normalised.split() if _HAS_DIGIT.search(t))


class CpuRow(FrozenRecord):
    """One table row: display ``name``, normalised ``key``, package TDP in watts, data source."""

    __slots__ = ("name", "key", "tdp_w", "source")
    name: str
    key: str
    tdp_w: float
    source: str

    def __init__(self, name: str, key: str, tdp_w: float, source: str) -> None:
        super().__init__(name, key, tdp_w, source)


class CpuMatch(FrozenRecord):
    """The row a CPU name matched, and how (``"exact"`` or ``"tokens"``)."""

    __slots__ = ("row", "how", "query")
    row: CpuRow
    how: str
    query: str  # the normalised query

    def __init__(self, row: CpuRow, how: str, query: str) -> None:
        super().__init__(row, how, query)


@lru_cache(maxsize=1)
def load_cpu_table() -> tuple[CpuRow, ...]:
    """Parse the embedded CPU TDP table once (~4,500 rows, tens of milliseconds)."""
    # a plain path (the CSV ships inside the package directory): importlib.resources
    # costs more to import than this whole table takes to read
    text = (Path(__file__).parent / CPU_TABLE).read_text(encoding="utf-8")
    reader = csv.reader(text.splitlines())
    header = next(reader)
    if header != ["name", "key", "tdp_w", "source"]:
        raise ValueError(f"{CPU_TABLE}: unexpected header {header}; rebuild it with the script")
    return tuple(CpuRow(name, key, float(tdp), src) for name, key, tdp, src in reader)


_Index = tuple[dict[str, CpuRow], dict[frozenset[str], list[CpuRow]]]


def _build_index(rows: tuple[CpuRow, ...]) -> _Index:
    by_key: dict[str, CpuRow] = {}
    by_tokens: dict[frozenset[str], list[CpuRow]] = {}
    for row in rows:
        by_key.setdefault(row.key, row)
        toks = model_tokens(row.key)
        if toks:
            by_tokens.setdefault(toks, []).append(row)
    return by_key, by_tokens


@lru_cache(maxsize=1)
def _embedded_index() -> _Index:
    return _build_index(load_cpu_table())


def match_cpu(name: str, table: tuple[CpuRow, ...] | None = None) -> CpuMatch | None:
    """Find ``name`` in the CPU table (the embedded one unless ``table`` is given).

    Returns ``None`` when there is no row whose model number agrees; see the
    module docstring for the rules.
    """
    query = normalise_cpu_name(name)
    if not query or not model_tokens(query):
        # Brand words only ("Intel Xeon Processor", as KVM guests say): never guess. Every
        # table key carries a model number, so no exact match is lost by not loading it.
        return None
    by_key, by_tokens = _embedded_index() if table is None else _build_index(table)
    exact = by_key.get(query)
    if exact is not None:
        return CpuMatch(exact, "exact", query)
    qtoks = model_tokens(query)
    qwords = set(query.split())
    best: tuple[float, int, CpuRow] | None = None
    for row in by_tokens.get(qtoks, ()):
        rwords = set(row.key.split())
        if not qwords <= rwords:
            continue  # the query says more ("Apple M1 *Pro*") than the row: another part
        score = len(qwords & rwords) / len(qwords | rwords)
        cand = (score, -len(row.key), row)
        if best is None or cand[:2] > best[:2]:
            best = cand
    if best is None:
        return None
    return CpuMatch(best[2], "tokens", query)
