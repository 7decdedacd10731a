"""Stored rows back to run records (:mod:`wattprint.tracking.record`), and the timeline's packing.

The read half of :mod:`wattprint.store.sql` (both stores): each function turns one
table's rows (mappings of column to value) into its part of the record, the same shape ``Run.to_dict()``
gives. Rows written by older schemas lack some columns (NULL): what can be
derived from what was kept is derived and said so here, nothing is invented.
"""

from __future__ import annotations

import json
import sys
from array import array
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from wattprint.tracking.measure import Interval
from wattprint.tracking.record import ChannelRecord, IntervalRecord, RunHeader, WindowRecord
from wattprint.units import combined_band, j_to_kwh


def header_record(r: Mapping[str, Any], status: str) -> RunHeader:
    """A ``runs`` row as the run's header (``status`` as the store judged it: running or killed)."""
    header: RunHeader = {
        "name": r["name"],
        "start_utc": r["start_utc"],
        "duration_s": r["duration_s"],
        "energy_j": r["energy_j"],
        "energy_kwh": j_to_kwh(r["energy_j"]),
        "band": r["band"],
        "emissions_g": r["emissions_g"],
        "market_emissions_g": r["market_emissions_g"],
        "id": r["id"],
        "status": status,
        "command": json.loads(r["command"]) if r["command"] else None,
        "tags": json.loads(r["tags"]),
        "end_utc": r["end_utc"],
        "exit_code": r["exit_code"],
        "host": r["host"],
        "pid": r["pid"],
        "cpu_model": r["cpu_model"],
        "gpu_models": json.loads(r["gpu_models"]),
        "wattprint_version": r["wattprint_version"],
        "interval_s": r["interval_s"],
        "intensity": json.loads(r["intensity"]) if r["intensity"] else None,
        "sensors": json.loads(r["sensors"]),
        "faults": json.loads(r["faults"]),
        "gpu_users": json.loads(r["gpu_users"]),
        "attribution": json.loads(r["attribution"]) if r["attribution"] else None,
        "baseline": json.loads(r["baseline"]) if r["baseline"] else None,
        "owner": r["owner"],
        "project": r["project"],
        "job": json.loads(r["job"]) if r["job"] else None,  # schema 8
    }
    if r["progress"]:  # schema 7; NULL where nothing was counted
        header["progress"] = json.loads(r["progress"])
    # schema 9: NULL for runs without a budget, run.progress() or embodied figures
    header["budget"] = json.loads(r["budget"]) if r["budget"] else None
    header["prediction"] = json.loads(r["prediction"]) if r["prediction"] else None
    header["embodied"] = json.loads(r["embodied"]) if r["embodied"] else None
    # schema 10: the whole-machine total's metered and fallback seconds; NULL without a meter
    header["platform"] = json.loads(r["platform"]) if r["platform"] else None
    return header


def channel_record(c: Mapping[str, Any]) -> ChannelRecord:
    return {
        "name": c["name"],
        "component": c["component"],
        "method": c["method"],
        "band": c["band"],
        "energy_j": c["energy_j"],
        "in_total": bool(c["in_total"]),
        "detail": c["detail"],
        "emissions_g": c["emissions_g"],
    }


def window_record(w: Mapping[str, Any], run_start: float) -> WindowRecord:
    """A stored window; rows from before schema 4 lack start_utc, band and market emissions."""
    channels: dict[str, ChannelRecord] = json.loads(w["channels"])
    band = w["band"]
    if band is None:  # recomputed from the channels kept with the window
        band = combined_band((c["energy_j"], c["band"]) for c in channels.values() if c["in_total"])
    record: WindowRecord = {
        "name": w["name"],
        "start_utc": w["start_utc"] if w["start_utc"] is not None else run_start + w["offset_s"],
        "duration_s": w["duration_s"],
        "energy_j": w["energy_j"],
        "energy_kwh": j_to_kwh(w["energy_j"]),
        "band": band,
        "emissions_g": w["emissions_g"],
        "market_emissions_g": w["market_emissions_g"],
        "channels": channels,
        "offset_s": w["offset_s"],
        "parent": w["parent"],
        "estimated": json.loads(w["estimated"]),
    }
    if w["progress"]:
        record["progress"] = json.loads(w["progress"])
    return record


def legacy_timeline(rows: Iterable[tuple[int, float, float, float, str, float]]) -> Iterator[Interval]:
    """Rows of the schema-1 ``timeline`` table (one per channel: seq, t0_s, t1_s, start_utc,
    channel, energy_j, ordered by seq) grouped back into intervals."""
    last_seq = None
    iv: Interval | None = None
    for seq, t0, t1, start, channel, energy in rows:
        if seq != last_seq:
            if iv is not None:
                yield iv
            last_seq, iv = seq, Interval(t0, t1, start, {})
        iv.energy_j[channel] = energy  # type: ignore[union-attr]
    if iv is not None:
        yield iv


# A chunk packs consecutive intervals that have the same channels: ``channels`` (JSON list)
# and ``data``, per interval t0_s, t1_s, start_utc then each channel's joules, as
# little-endian float64 (exact: the same doubles a REAL / DOUBLE PRECISION column keeps).
CHUNK_ROWS = 4096
_SWAP = sys.byteorder == "big"


def pack_chunks(rows: Iterable[Interval]) -> Iterator[tuple[int, str, bytes]]:
    """``(n, channels JSON, data)`` for consecutive runs of intervals with the same channels."""
    names: tuple[str, ...] | None = None
    values = array("d")
    n = 0
    for iv in rows:
        keys = tuple(iv.energy_j)
        if keys != names or n >= CHUNK_ROWS:
            if n:
                yield n, json.dumps(names), _bytes(values)
            names, values, n = keys, array("d"), 0
        values.extend((iv.t0_s, iv.t1_s, iv.wall0))
        values.extend(iv.energy_j.values())
        n += 1
    if n:
        yield n, json.dumps(names), _bytes(values)


def _bytes(values: array[float]) -> bytes:
    if _SWAP:
        values.byteswap()
    return values.tobytes()


def unpack_chunk(channels: str, data: bytes) -> Iterator[Interval]:
    """The intervals of one stored chunk (see :func:`pack_chunks`)."""
    names = json.loads(channels)
    values = array("d")
    values.frombytes(data)
    if _SWAP:
        values.byteswap()
    width = 3 + len(names)
    for i in range(0, len(values), width):
        yield Interval(values[i], values[i + 1], values[i + 2], dict(zip(names, values[i + 3 : i + width])))


def timeline_records(rows: Iterable[Interval]) -> list[IntervalRecord]:
    """Intervals as the record's timeline rows."""
    return [iv.to_dict() for iv in rows]


def stat_view(w: Mapping[str, Any]) -> dict[str, Any]:
    """What :func:`~wattprint.tracking.measure.window_stats` reads of a window, from the light
    query of ``get_run(windows=False)`` (name, offset_s, duration_s, energy_j, estimated)."""
    return {"name": w["name"], "offset_s": w["offset_s"], "duration_s": w["duration_s"],
            "energy_j": w["energy_j"], "estimated": w["estimated"] != "{}"}
