"""One job from its ranks' partial runs: every device counted once, per-node and per-rank parts.

Each rank of a distributed job stores a partial run of its own (its ``job``
record names the job, rank, host boot id and restart), so a crash of any rank,
rank 0 included, loses nothing of the others. :func:`merge` makes the job
view from those partials; :func:`merge_job` reads them from a store and
writes the view as a run of its own, with an id derived from the job id
(:func:`merged_id`), so merging again replaces it.

Counting once: per restart of the job, channels are taken rank by rank,
lowest first; a channel whose device (:func:`wattprint.tracking.job.device_key`:
``gpu:<uuid>``, or ``<boot id>/<channel>`` for the host's) was already taken
from a lower rank is a duplicate and left out. The election at start already
keeps most duplicates from being measured; this keeps the rest from being
added. Restarts (a requeued Slurm job, an elastic restart) add up: they are
consecutive spans of the same job.

Host channels are renamed ``<node>/<channel>`` in the view (two hosts each have
a ``cpu:package-0``); GPU channels keep their ``gpu:<uuid>`` names.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any, cast

from wattprint.tracking.job import device_key, is_host_channel
from wattprint.tracking.progress import record_of
from wattprint.tracking.record import (
    ChannelRecord,
    FaultRecord,
    JobNodeRecord,
    JobPartRecord,
    JobRecord,
    RunHeader,
    RunRecord,
    SharedDeviceRecord,
    SlurmEnergyRecord,
)
from wattprint.tracking.shared import apply_split
from wattprint.units import combined_band, j_to_kwh

ENDED_WELL = "finished"
# the merged view's status when its ranks disagree: the first of these any rank has
_STATUS_ORDER = ("running", "failed", "preempted", "killed", "interrupted")


def merged_id(job_id: str) -> str:
    """The merged view's run id: the same for every rank and every merge of ``job_id``."""
    return hashlib.sha256(f"wattprint-job:{job_id}".encode()).hexdigest()[:12]


def is_partial(run: Mapping[str, Any]) -> bool:
    """A rank's partial run (not the merged view, not a plain run)."""
    job = run.get("job")
    return job is not None and job.get("rank") is not None


def complete(parts: Iterable[Mapping[str, Any]]) -> bool:
    """Every rank of the latest restart has stored its partial and none is still running."""
    parts = [p for p in parts if is_partial(p)]
    if not parts:
        return False
    latest = max(p["job"].get("restart", 0) for p in parts)
    now = [p for p in parts if p["job"].get("restart", 0) == latest]
    size = max(p["job"].get("world_size", 1) for p in now)
    ranks = {p["job"]["rank"] for p in now}
    return ranks >= set(range(size)) and all(p["status"] != "running" for p in now)


def _node_labels(parts: list[Mapping[str, Any]]) -> dict[str, str]:
    """boot id -> a name for its host: the host name, with the boot id's start where names repeat."""
    hosts: dict[str, set[str]] = {}
    for p in parts:
        hosts.setdefault(p.get("host") or "?", set()).add(p["job"].get("boot_id", ""))
    labels = {}
    for host, boots in hosts.items():
        for boot in boots:
            labels[boot] = host if len(boots) == 1 else f"{host}~{boot[:8]}"
    return labels


def _status(parts: list[Mapping[str, Any]]) -> str:
    statuses = {p["status"] for p in parts}
    odd = sorted(statuses - {ENDED_WELL})
    return next((s for s in _STATUS_ORDER if s in statuses), odd[0] if odd else ENDED_WELL)


def _add_channel(into: dict[str, ChannelRecord], name: str, c: Mapping[str, Any], detail: str) -> None:
    old = into.get(name)
    if old is None:
        into[name] = {"name": name, "component": c["component"], "method": c["method"], "band": c["band"],
                      "energy_j": c["energy_j"], "in_total": c["in_total"], "detail": detail,
                      "emissions_g": c.get("emissions_g")}
        return
    e_old, e_new = old["energy_j"], c["energy_j"]
    old["band"] = combined_band([(e_old, old["band"]), (e_new, c["band"])])
    old["energy_j"] = e_old + e_new
    g_old, g_new = old["emissions_g"], c.get("emissions_g")
    old["emissions_g"] = None if g_old is None or g_new is None else g_old + g_new


class _Merge:
    """The running sums of one merge (kept apart from :func:`merge` to keep each step short)."""

    def __init__(self, parts: list[Mapping[str, Any]]) -> None:
        self.labels = _node_labels(parts)
        # hosts whose whole-machine meter is their total: every other channel of that host (a GPU read by
        # another rank there included) is inside it, never added on top (sensors/platform elect())
        self.metered = {p["job"].get("boot_id", "") for p in parts
                        if any(c["component"] == "platform" and c["in_total"] for c in p["channels"].values())}
        self.channels: dict[str, ChannelRecord] = {}
        self.parts: list[JobPartRecord] = []
        self.nodes: dict[str, JobNodeRecord] = {}
        self.market: float | None = 0.0
        self.faults: list[FaultRecord] = []
        self.shared: list[SharedDeviceRecord] = []  # devices another job used too (tracking/shared.py)
        self.split: dict[str, float] = {}  # the view's channel -> the share its job's total keeps
        self.progress: dict[int, tuple[int, int, int]] = {}  # restart -> (steps, samples, tokens)

    def take(self, p: Mapping[str, Any], seen: set[str]) -> None:
        job, boot = p["job"], p["job"].get("boot_id", "")
        label = self.labels[boot]
        kept, dupes, energy = [], [], 0.0
        for c in p["channels"].values():
            if boot in self.metered and c["in_total"] and c["component"] != "platform":
                c = {**c, "in_total": False}
            name = f"{label}/{c['name']}" if is_host_channel(c["component"]) else c["name"]
            key = device_key(c["name"], c["component"], boot)
            if key in seen:
                dupes.append(name)
                continue
            seen.add(key)
            kept.append(name)
            energy += c["energy_j"] if c["in_total"] else 0.0
            _add_channel(self.channels, name, c, f"{label}, rank {job['rank']}")
            self._take_shared(job, c, name)
        part: JobPartRecord = {"run_id": p["id"], "rank": job["rank"], "restart": job.get("restart", 0),
                               "node": label, "boot_id": boot, "status": p["status"], "energy_j": energy,
                               "channels": kept, "duplicates": dupes}
        if p.get("progress"):
            part["progress"] = p["progress"]
        self.parts.append(part)
        node = self.nodes.setdefault(boot, {"node": label, "boot_id": boot, "ranks": [], "energy_j": 0.0,
                                            "channels": []})
        node["ranks"] = sorted({*node["ranks"], job["rank"]})
        node["energy_j"] += energy
        node["channels"] = sorted({*node["channels"], *kept})
        market, total = p.get("market_emissions_g"), p.get("energy_j") or 0.0
        if market is None or self.market is None:
            self.market = None
        elif total > 0:
            self.market += market * energy / total
        self.faults += [{"wall": f["wall"], "source": f["source"], "message": f"rank {job['rank']}: {f['message']}"}
                        for f in p.get("faults") or []]
        self._count(job.get("restart", 0), p.get("progress"))

    def _count(self, restart: int, progress: Mapping[str, int] | None) -> None:
        """Units of work: each rank counts the job's (global) steps and its own samples and tokens,
        so steps are the most any rank counted and samples and tokens add up; restarts add up."""
        if progress:
            steps, samples, tokens = self.progress.get(restart, (0, 0, 0))
            self.progress[restart] = (max(steps, progress.get("steps", 0)), samples + progress.get("samples", 0),
                                      tokens + progress.get("tokens", 0))

    def _take_shared(self, job: Mapping[str, Any], c: Mapping[str, Any], name: str) -> None:
        for s in job.get("shared_devices") or []:
            if s["channel"] == c["name"]:
                self.shared.append(cast("SharedDeviceRecord", {**s, "channel": name}))
                if s["share_j"] is not None and s["device_energy_j"] > 0:
                    self.split[name] = s["share_j"] / s["device_energy_j"]


def merge(partials: Iterable[Mapping[str, Any]]) -> RunRecord:
    """The job view of the partial runs of one job (records with channels; timelines not needed)."""
    parts = sorted((p for p in partials if is_partial(p)),
                   key=lambda p: (p["job"].get("restart", 0), p["job"]["rank"]))
    if not parts:
        raise ValueError("no partial runs of a job to merge")
    m = _Merge(parts)
    for restart in sorted({p["job"].get("restart", 0) for p in parts}):
        seen: set[str] = set()
        for p in parts:
            if p["job"].get("restart", 0) == restart:
                m.take(p, seen)
    return _view(parts, m)


def _view(parts: list[Mapping[str, Any]], m: _Merge) -> RunRecord:
    first = parts[0]
    latest = [p for p in parts if p["job"].get("restart", 0) == parts[-1]["job"].get("restart", 0)]
    counted = [c for c in m.channels.values() if c["in_total"]]
    energy = sum(c["energy_j"] for c in counted)
    grams = [c["emissions_g"] for c in counted]
    emissions = None if any(g is None or math.isnan(g) for g in grams) else sum(g for g in grams if g is not None)
    ends = [p.get("end_utc") for p in parts]
    start = min(p["start_utc"] for p in parts)
    end = None if any(e is None for e in ends) else max(e for e in ends if e is not None)
    duration = (end - start) if end is not None else max(p["start_utc"] + p["duration_s"] for p in parts) - start
    size = max(p["job"].get("world_size", 1) for p in latest)
    seen_ranks = {p["job"]["rank"] for p in latest}
    if missing := sorted(set(range(size)) - seen_ranks):
        m.faults.append({"wall": start, "source": "job",
                         "message": f"no partial run from rank(s) {', '.join(map(str, missing))} of {size}"})
    dupes = sum(len(p["duplicates"]) for p in m.parts)
    signals = [p["job"]["slurm_signal"] for p in latest if p["job"].get("slurm_signal")]
    elections = sorted({p["job"].get("election", "environment") for p in parts})
    job: JobRecord = {
        "id": first["job"]["id"], "rank": None, "world_size": size, "launcher": first["job"].get("launcher", ""),
        "id_source": first["job"].get("id_source", ""), "election": ", ".join(elections),
        "slurm": first["job"].get("slurm") or {}, "merged": True, "ranks_seen": len(seen_ranks),
        "restarts": len({p["job"].get("restart", 0) for p in parts}),
        "parts": m.parts, "nodes": sorted(m.nodes.values(), key=lambda n: min(n["ranks"])), "method": (
            "each device counted once: GPUs by UUID, CPU packages, DRAM and RAM by their host's boot id; "
            f"host devices were measured by one rank per host (election: {', '.join(elections)}); "
            f"{dupes} channel reading(s) of a device another, lower rank also measured were left out"),
    }
    if signals:
        job["slurm_signal"] = min(signals, key=lambda s: s["wall"])
    if m.shared:
        job["shared_devices"] = m.shared
    view: RunRecord = {
        "name": first["name"], "start_utc": start, "duration_s": duration, "energy_j": energy,
        "energy_kwh": j_to_kwh(energy), "band": combined_band((c["energy_j"], c["band"]) for c in counted),
        "emissions_g": emissions, "market_emissions_g": m.market if m.market is not None and energy > 0 else None,
        "id": merged_id(first["job"]["id"]), "status": _status(latest), "command": first.get("command"),
        "tags": first.get("tags") or {}, "end_utc": end, "exit_code": first.get("exit_code"),
        "host": ",".join(n["node"] for n in job["nodes"]), "pid": 0, "cpu_model": first.get("cpu_model") or "",
        "gpu_models": sorted({g for p in parts for g in p.get("gpu_models") or []}),
        "wattprint_version": first.get("wattprint_version") or "", "interval_s": first.get("interval_s") or 0.0,
        "intensity": first.get("intensity"), "sensors": first.get("sensors") or [], "faults": m.faults,
        "gpu_users": {k: v for p in parts for k, v in (p.get("gpu_users") or {}).items()},
        "attribution": None, "baseline": None, "job": job,
        "channels": m.channels, "windows": [], "window_stats": {}, "timeline": [], "timeline_intervals": 0,
    }
    apply_split(view, m.split)  # a device shared with another job counts this job's share
    progress = record_of(tuple(sum(c[i] for c in m.progress.values()) for i in range(3)))
    if progress is not None:
        view["progress"] = progress
    return view


# -- the store side ----------------------------------------------------------------------------


def job_id_of(store: Any, ref: str) -> str:
    """The job id that ``ref`` names: a job id itself, or the id (or prefix) of one of its runs."""
    from wattprint.errors import StoreError

    if store.list_job_runs(ref):
        return ref
    try:
        run = store.get_run(ref, timeline=False, windows=False)
    except StoreError:
        raise StoreError(f"no job '{ref}' and no run with that id (see 'wattprint runs')") from None
    if not run.get("job"):
        raise StoreError(f"run {run['id']} is not part of a distributed job")
    return str(run["job"]["id"])


def partial_heads(store: Any, job_id: str) -> list[RunHeader]:
    """The headers of every rank's partial run of ``job_id`` in ``store`` (enough for :func:`complete`)."""
    return [h for h in store.list_job_runs(job_id) if is_partial(h)]


def partials(store: Any, job_id: str) -> list[RunRecord]:
    """Every rank's partial run of ``job_id`` in ``store`` (channels, no timeline, no windows)."""
    return [store.get_run(h["id"], timeline=False, windows=False) for h in partial_heads(store, job_id)]


def merge_job(store: Any, job_id: str, more: Iterable[Mapping[str, Any]] = (),
              check: Callable[[RunRecord], SlurmEnergyRecord | None] | None = None) -> RunRecord:
    """Merge the partials of ``job_id`` found in ``store`` (and ``more``, e.g. gathered from the
    ranks over a communicator; a stored copy of the same run wins) and store the job view.
    ``check`` gives the scheduler's own figure to keep beside ours (``job.slurm_energy``)."""
    found = {p["id"]: p for p in more if is_partial(p)}
    found.update({p["id"]: p for p in partials(store, job_id)})
    view = merge(found.values())
    got = check(view) if check is not None else None
    if got is not None and view["job"] is not None:
        view["job"]["slurm_energy"] = got
    store.save_final(view)
    return view
