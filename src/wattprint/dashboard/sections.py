"""Two sections of the run page: a distributed job's ranks and nodes, and the run's prediction.

The job section reads the run record's ``job`` (:class:`~wattprint.tracking.record.JobRecord`,
made by :mod:`wattprint.store.jobs`): for the merged job view, its nodes, its
ranks' partial runs (linked), its GPUs and how devices were counted once; for a
rank's partial run, where it sits in the job, with links to the job view and to
the other ranks (``list_job_runs``). The prediction section reads ``prediction``
(:class:`~wattprint.tracking.record.PredictionRecord`, from ``run.progress()``):
the latest predicted totals with their interval while the run goes on, and once
the work was done, the actual totals and what each checkpoint predicted with its
error. Host names, job ids and launchers are user text: escaped like all the rest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from wattprint.dashboard.pages import num, run_url
from wattprint.report.escape import html_text as esc
from wattprint.report.fmt import duration, pct, sig
from wattprint.units import j_to_kwh


def _table(table_id: str, head: Sequence[str], rows: Sequence[str]) -> str:
    th = "".join(f'<th{" class=n" if h.startswith("#") else ""}>{esc(h.lstrip("#"))}</th>' for h in head)
    return f'<table id="{table_id}"><thead><tr>{th}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _kwh(joules: float | None, field: str = "") -> str:
    kwh = None if joules is None else j_to_kwh(joules)
    return num(kwh, sig(kwh), field)


def _link(run_id: str, text: str) -> str:
    return f'<a href="{esc(run_url(run_id))}">{esc(text)}</a>'


def job_section(run: Mapping[str, Any], siblings: Sequence[Mapping[str, Any]], merged_id: str | None) -> str:
    """The ranks and nodes of the run's job ('' for a plain run). ``siblings``: the stored runs of
    its job (``list_job_runs``); ``merged_id``: the job view's run id when it is stored."""
    job = run.get("job")
    if not job:
        return ""
    jid = str(job.get("id", ""))
    if job.get("rank") is not None:
        return _rank_section(run, job, siblings, merged_id)
    head = (f'<p id="job-summary">Job <code>{esc(jid)}</code> ({esc(job.get("launcher", ""))}, id from '
            f'{esc(job.get("id_source", ""))}): {job.get("ranks_seen", 0)} of {esc(job.get("world_size", "?"))} '
            f'ranks on {len(job.get("nodes") or [])} node(s), {job.get("restarts", 1)} start(s).</p>')
    nodes = [
        f'<tr data-node="{esc(n["node"])}"><td>{esc(n["node"])}</td><td><code>{esc(n["boot_id"][:13])}</code></td>'
        f'<td>{esc(", ".join(map(str, n["ranks"])))}</td><td class="n">{_kwh(n["energy_j"])}</td>'
        f'<td class="detail">{esc(", ".join(n["channels"]))}</td></tr>' for n in job.get("nodes") or []]
    parts = [
        f'<tr data-rank="{p["rank"]}"><td>{_link(p["run_id"], str(p["rank"]))}</td><td class="n">{p["restart"]}</td>'
        f'<td>{esc(p["node"])}</td><td>{esc(p["status"])}</td><td class="n">{_kwh(p["energy_j"])}</td>'
        f'<td class="detail">{esc(", ".join(p["channels"])) or "-"}</td>'
        f'<td class="detail dup">{esc(", ".join(p["duplicates"])) or "-"}</td></tr>' for p in job.get("parts") or []]
    gpus = [c for c in (run.get("channels") or {}).values() if c.get("component") == "gpu"]
    gpu_rows = [f'<tr><td><code>{esc(c["name"])}</code></td><td>{esc(c.get("detail", ""))}</td>'
                f'<td class="n">{_kwh(c["energy_j"])}</td></tr>' for c in gpus]
    return "".join([
        head,
        "<h3>Per node</h3>" + _table("job-nodes", ("Node", "Boot id", "Ranks", "#Energy (kWh)", "Devices"), nodes),
        "<h3>Per rank</h3>" + _table("job-ranks", ("Rank", "#Start", "Node", "Status", "#Energy (kWh)",
                                                   "Devices counted", "Duplicates (counted at a lower rank)"), parts),
        ("<h3>Per GPU</h3>" + _table("job-gpus", ("GPU", "Where", "#Energy (kWh)"), gpu_rows)) if gpus else "",
        f'<p id="job-method">How devices were counted: {esc(job.get("method", ""))}</p>' if job.get("method") else "",
    ])


def _rank_section(run: Mapping[str, Any], job: Mapping[str, Any], siblings: Sequence[Mapping[str, Any]],
                  merged_id: str | None) -> str:
    owns = "its host's CPU, DRAM and RAM and its GPUs" if job.get("owns_host") else "its GPUs only"
    view = (f' The whole job, every device counted once: {_link(merged_id, "the job view")}.' if merged_id else
            " The job view is not stored yet (<code>wattprint merge</code> makes it).")
    rows = [
        f'<tr data-rank="{esc(r["job"].get("rank"))}"><td>{_link(r["id"], str(r["job"].get("rank")))}</td>'
        f'<td class="n">{esc(r["job"].get("restart", 0))}</td><td>{esc(r["job"].get("node", ""))}</td>'
        f'<td>{esc(r["status"])}</td><td class="n">{_kwh(r["energy_j"])}</td></tr>'
        for r in siblings if r.get("job") and r["job"].get("rank") is not None]
    return (f'<p id="job-summary">Rank {esc(job["rank"])} of {esc(job.get("world_size", "?"))} in job '
            f'<code>{esc(job.get("id", ""))}</code> on {esc(job.get("node", ""))} (election: '
            f'{esc(job.get("election", ""))}); it measured {owns}.{view}</p>'
            + _table("job-ranks", ("Rank", "#Start", "Node", "Status", "#Energy (kWh)"), rows))


# -- the prediction ------------------------------------------------------------------------------


def _band(values: Sequence[float] | None, fmt: Any, field: str) -> str:
    if not values:
        return '<span class="muted">-</span>'
    lo, mid, hi = values
    return f'{num(mid, fmt(mid), field)} <span class="muted band">({esc(fmt(lo))} – {esc(fmt(hi))})</span>'


def _e(j: float) -> str:
    return f"{sig(j_to_kwh(j))} kWh"


def _g(g: float) -> str:
    return f"{sig(g)} g"


def _error(err: Mapping[str, Any] | None, field: str) -> str:
    if not err:
        return '<span class="muted">-</span>'
    where = "inside" if err["covered"] else "OUTSIDE"
    rel = err["relative"]
    return f'{num(rel, f"{rel:+.1%}", field)} <span class="muted">({where})</span>'


def _point_cells(p: Mapping[str, Any], key: str) -> str:
    return (f'<td class="n">{_band(p.get("duration_s"), duration, key + ".duration_s")}</td>'
            f'<td class="n">{_band(p.get("energy_j"), _e, key + ".energy_j")}</td>'
            f'<td class="n">{_band(p.get("emissions_g"), _g, key + ".emissions_g")}</td>')


def prediction_section(p: Mapping[str, Any] | None) -> str:
    """The run's prediction: latest totals and interval, or checkpoints against the actual ('' if none)."""
    if not p:
        return ""
    level = pct(p.get("level", 0.95), 0)
    latest, actual = p.get("latest"), p.get("actual")
    out = []
    if latest and not actual:
        out.append(f'<p id="prediction-latest">Predicted total at {esc(level)} from {latest["done"]:g} of '
                   f'{latest["total"]:g} done (at {esc(duration(latest["at_s"]))})'
                   + (f', the first {latest["burn_in"]:g} left out as burn-in' if latest.get("burn_in") else "")
                   + ":</p>" + _table("prediction", ("#Duration", "#Energy", "#CO2e"),
                                      [f"<tr>{_point_cells(latest, 'latest')}</tr>"]))
    if actual:
        g = actual.get("emissions_g")
        out.append(f'<p id="prediction-actual">Actual when {p["total"]:g} were done: '
                   f'{num(actual["duration_s"], duration(actual["duration_s"]), "actual.duration_s")}, '
                   f'{num(j_to_kwh(actual["energy_j"]), _e(actual["energy_j"]), "actual.energy_kwh")}'
                   + (f', {num(g, _g(g), "actual.emissions_g")}' if g is not None else "") + ".</p>")
    checkpoints = p.get("checkpoints") or []
    if checkpoints:
        rows = []
        for c in checkpoints:
            err = c.get("error") or {}
            rows.append(f'<tr data-fraction="{c["fraction"]!r}"><td class="n">{esc(pct(c["fraction"], 0))}</td>'
                        f'{_point_cells(c, "checkpoint")}'
                        f'<td class="n">{_error(err.get("duration_s"), "error.duration_s")}</td>'
                        f'<td class="n">{_error(err.get("energy_j"), "error.energy_j")}</td></tr>')
        out.append(_table("prediction-checkpoints", ("#Work done", "#Predicted duration", "#Predicted energy",
                                                     "#Predicted CO2e", "#Duration error", "#Energy error"), rows))
    if not out:
        return '<p class="muted">Progress was reported, but too little to predict from.</p>'
    return "".join(out) + f'<p class="muted">Intervals at {esc(level)}; error = (predicted − actual) / actual.</p>'
