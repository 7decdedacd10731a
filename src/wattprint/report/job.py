"""A distributed job in words and tables: ``runs`` labels, ``show``/``merge`` breakdowns, the methodology.

Reads only the run record's ``job`` (:class:`~wattprint.tracking.record.JobRecord`):
a rank's partial run, or the merged job view (:mod:`wattprint.store.jobs`).
Host names and job ids come from the launcher's environment: every one goes
through :func:`~wattprint.report.escape.term_text` before it is printed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from wattprint.report.escape import term_text
from wattprint.units import fmt_duration, fmt_energy, utc


def job_label(run: Mapping[str, Any]) -> str:
    """A few words for the run list: which job and rank, or how many ranks merged; '' for a plain run."""
    job = run.get("job")
    if not job:
        return ""
    if job.get("rank") is not None:
        return f"[rank {job['rank']}/{job.get('world_size', '?')} of job {term_text(job.get('id', ''))}]"
    nodes = len(job.get("nodes") or [])
    return f"[job {term_text(job.get('id', ''))}: {job.get('ranks_seen', 0)} ranks, {nodes} node(s)]"


def _table(rows: Sequence[tuple[str, ...]], indent: str = "    ") -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [indent + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]


def job_lines(run: Mapping[str, Any]) -> list[str]:
    """What ``show`` and ``merge`` print about a job: per-node, per-rank and per-GPU tables and the method."""
    job = run.get("job")
    if not job:
        return []
    if job.get("rank") is not None:
        owns = "its host's CPU, DRAM and RAM and its GPUs" if job.get("owns_host") else "its GPUs only"
        return [f"  rank {job['rank']} of {job.get('world_size', '?')} in job {term_text(job.get('id', ''))} "
                f"(election: {term_text(job.get('election', ''))}); it measured {owns}",
                "  the job view: 'wattprint merge " + term_text(job.get("id", "")) + "'", *slurm_lines(job),
                *shared_lines(job)]
    out = [f"  job {term_text(job.get('id', ''))} ({term_text(job.get('launcher', ''))}, id from "
           f"{term_text(job.get('id_source', ''))}): {job.get('ranks_seen', 0)} of {job.get('world_size', '?')} "
           f"ranks, {job.get('restarts', 1)} start(s)"]
    nodes = job.get("nodes") or []
    if nodes:
        out.append("  per node:")
        out += _table([("NODE", "BOOT ID", "RANKS", "ENERGY")] + [
            (term_text(n["node"]), term_text(n["boot_id"][:13]), ",".join(map(str, n["ranks"])),
             fmt_energy(n["energy_j"])) for n in nodes])
    parts = job.get("parts") or []
    if parts:
        out.append("  per rank:")
        out += _table([("RANK", "START", "NODE", "STATUS", "ENERGY", "DEVICES", "DUPLICATES")] + [
            (str(p["rank"]), str(p["restart"]), term_text(p["node"]), term_text(p["status"]),
             fmt_energy(p["energy_j"]), str(len(p["channels"])), str(len(p["duplicates"]))) for p in parts])
    gpus = [c for c in (run.get("channels") or {}).values() if c.get("component") == "gpu"]
    if gpus:
        out.append("  per GPU:")
        out += _table([("GPU", "WHERE", "ENERGY")] + [
            (term_text(c["name"]), term_text(c.get("detail", "")), fmt_energy(c["energy_j"])) for c in gpus])
    if job.get("method"):
        out.append(f"  counted once: {term_text(job['method'])}")
    return out + slurm_lines(job) + shared_lines(job)


def shared_lines(job: Mapping[str, Any]) -> list[str]:
    """The devices another job used during the run: the whole device, this job's share, the rest's owner."""
    shared = job.get("shared_devices") or []
    if not shared:
        return []
    rows = [("DEVICE", "OTHER JOBS", "OVERLAP", "DEVICE ENERGY", "THIS JOB", "SPLIT")] + [
        (term_text(s["channel"]), term_text(", ".join(s["other_jobs"])), f"~{fmt_duration(s['overlap_s'])}",
         fmt_energy(s["device_energy_j"]), "not split" if s["share_j"] is None else fmt_energy(s["share_j"]),
         term_text(s["split"])) for s in shared]
    out = ["  Shared devices (other jobs on this node used them during the run):", *_table(rows)]
    if any(s["share_j"] is not None for s in shared):
        out.append("  the rest of a split device's energy belongs to the other job(s) and other processes; "
                   "this job's total counts only its share")
    if any(s["share_j"] is None for s in shared):
        out.append("  a device shared, not split is counted whole in this job's total (its share is unknown)")
    return out


def slurm_lines(job: Mapping[str, Any]) -> list[str]:
    """Slurm's warning signal, if one came, and Slurm's own energy figure beside ours (or why it is missing)."""
    out = []
    if sig := job.get("slurm_signal"):
        out.append(f"  Slurm sent {term_text(sig['signal'])} at {utc(sig['wall'])} (time limit or preemption "
                   "near); the run was flushed and measured on until it ended")
    if check := job.get("slurm_energy"):
        where = f"sacct ConsumedEnergy of {term_text(check['target'])}"
        if check.get("energy_j") is None:
            out.append(f"  Slurm's own figure ({where}): not available: {term_text(check.get('note', ''))}")
        else:
            out.append(f"  Slurm's own figure ({where}): {fmt_energy(check['energy_j'])}; ours "
                       f"{fmt_energy(check['ours_j'])} ({check['difference_pct']:+.1f} %)")
    return out


def job_methodology(run: Mapping[str, Any]) -> list[str]:
    """The report's methodology sentences for a job (none for a plain run)."""
    job = run.get("job")
    if not job:
        return []
    if job.get("rank") is not None:
        return [f"This run is rank {job['rank']} of {job.get('world_size', '?')} of a distributed job; it holds "
                "only the devices this rank measured (see the merged job view for the whole job).",
                *shared_methodology(job)]
    out = [f"Distributed job of {job.get('ranks_seen', 0)} rank(s) on {len(job.get('nodes') or [])} node(s), "
           f"merged from one partial run per rank: {job.get('method', '')}."]
    check = job.get("slurm_energy")
    if check and check.get("energy_j") is not None:
        out.append(f"Cross-check: Slurm's accounting (sacct ConsumedEnergy of {check['target']}) recorded "
                   f"{fmt_energy(check['energy_j'])} for the job's latest start, against our "
                   f"{fmt_energy(check['ours_j'])} ({check['difference_pct']:+.1f} %); Slurm's figure covers the "
                   "whole node only where the job had it to itself.")
    elif check:
        out.append(f"Slurm's own energy figure for {check['target']} was not available: {check.get('note', '')}.")
    return out + shared_methodology(job)


def shared_methodology(job: Mapping[str, Any]) -> list[str]:
    """The report's sentence on devices shared with other jobs (none when the job had its devices alone)."""
    shared = job.get("shared_devices") or []
    if not shared:
        return []
    split = [s["channel"] for s in shared if s["share_j"] is not None]
    whole = [s["channel"] for s in shared if s["share_j"] is None]
    out = (f"Other jobs used {len(shared)} of this job's devices during the run (seen in the host's registry of "
           "running jobs; the overlap is approximate, to about a second).")
    if split:
        out += (f" For {', '.join(split)} the total counts this job's attributed share (its processes' part of "
                "each interval), not the whole device; the channels still show the whole devices.")
    if whole:
        out += f" {', '.join(whole)}: shared, not split (no attribution): counted whole."
    return [out]
