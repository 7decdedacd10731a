"""Which GPUs count, and opening their sensors (NVIDIA via NVML, AMD via amdsmi).

By default wattprint measures the GPUs the tracked work can see. CUDA decides
that from ``CUDA_VISIBLE_DEVICES``; NVML ignores the variable and always
enumerates every GPU, so the mapping is done here, by UUID:

* unset: every GPU;
* a comma list of entries, each an index (CUDA's enumeration order, which is
  nvidia-smi's order when ``CUDA_DEVICE_ORDER=PCI_BUS_ID`` or when the GPUs are
  all the same model), a ``GPU-<uuid>`` (a unique prefix is enough, as in
  CUDA), or a ``MIG-<uuid>`` / legacy ``MIG-GPU-<uuid>/<gi>/<ci>`` instance;
* like CUDA, the list ends at the first entry that names no device, so ``""``,
  ``-1`` and ``NoDevFound`` (set by some schedulers) mean *no GPU*.

MIG instances report no power of their own: the parent GPU is measured, once
even when several of its instances are visible, and the channel says so.

AMD GPUs honour ``ROCR_VISIBLE_DEVICES`` then ``HIP_VISIBLE_DEVICES`` (or
``CUDA_VISIBLE_DEVICES``, which HIP also reads), indices relative to what the
previous variable left visible.

``--gpus`` overrides all of that: ``all``, ``none``, or a comma list of
nvidia-smi / amdsmi indices and UUIDs (full or unique prefix).

Vendor libraries are imported only inside :func:`open_gpu_sensors`.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping, Sequence

from wattprint.sensors.base import Availability, Sensor, SensorError
from wattprint.sensors.gpu.common import GpuIdentity, Selected

TYPE_CHECKING = False  # not from typing: importing it costs more than this module
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "GpuSelectionError",
    "GpuIdentity",
    "Selected",
    "open_gpu_sensors",
    "parse_gpus_option",
    "parse_visible_devices",
    "select_gpus",
]


class GpuSelectionError(SensorError):
    """A ``--gpus`` value (or ``gpus=`` argument) that names no GPU; the message says which."""


# --------------------------------------------------------------------------- parsing


def parse_visible_devices(value: str | None) -> list[str] | None:
    """Split a ``CUDA_VISIBLE_DEVICES``-style value into entries.

    ``None`` (variable unset) means "no restriction". Otherwise the stripped,
    comma-separated entries in order; an empty value gives ``[""]``, which
    names no device, so nothing is visible (as in CUDA).
    """
    if value is None:
        return None
    return [part.strip() for part in value.split(",")]


def parse_gpus_option(value: str) -> list[str] | str:
    """Validate the syntax of ``--gpus``: ``"all"``, ``"none"`` or a list of entries.

    Entries are indices (``0``), ``GPU-``/``MIG-`` UUIDs or prefixes, or an
    amdsmi UUID/BDF. Raises :class:`GpuSelectionError` on an empty value, an
    empty entry, a negative index, or ``all``/``none`` mixed with other entries.
    """
    text = value.strip()
    low = text.lower()
    if low in ("all", "none"):
        return low
    if not text:
        raise GpuSelectionError(
            "--gpus is empty", fix="use --gpus all, --gpus none, or a list such as --gpus 0,1"
        )
    entries = [part.strip() for part in text.split(",")]
    for entry in entries:
        if not entry:
            raise GpuSelectionError(
                f"--gpus {value!r} has an empty entry", fix="separate entries with single commas"
            )
        if entry.lower() in ("all", "none"):
            raise GpuSelectionError(
                f"--gpus {value!r}: '{entry}' cannot be combined with other entries",
                fix=f"use --gpus {entry.lower()} on its own",
            )
        if entry.lstrip("-").isdigit() and entry.startswith("-"):
            raise GpuSelectionError(
                f"--gpus {value!r}: negative index {entry}",
                fix="use indices as nvidia-smi shows them (0, 1, ...) or UUIDs",
            )
    return entries


# --------------------------------------------------------------------------- matching


def _match_uuid(entry: str, candidates: Sequence[GpuIdentity]) -> tuple[GpuIdentity | None, str]:
    """Find the GPU an id names: its UUID (or unique prefix), a MIG instance, or a BDF.

    Returns (gpu, mig_id) where mig_id is the MIG instance id that matched ("" if the
    GPU itself matched), or (None, reason) when nothing or more than one GPU matches.
    """
    low = entry.lower()
    if low.startswith("mig-gpu-"):  # legacy MIG form (before R470): MIG-GPU-<uuid>/<gi>/<ci>
        parent_id = entry[4:].split("/", 1)[0]
        gpu, why = _match_uuid(parent_id, candidates)
        return (gpu, entry) if gpu is not None else (None, why)
    if low.startswith("mig-"):
        mig_hits = [(g, m) for g in candidates for m in g.mig if m.lower().startswith(low)]
        mig_hits = [(g, m) for g, m in mig_hits if m.lower() == low] or mig_hits
        if len(mig_hits) == 1:
            return mig_hits[0]
        if not mig_hits:
            return None, f"no MIG instance has UUID {entry}"
        return None, f"MIG prefix {entry} is ambiguous ({len(mig_hits)} instances match)"
    hits = []
    for g in candidates:
        ids = [g.uuid.lower()]
        if g.vendor == "amd":
            ids += [f"gpu-{g.uuid.lower()}", g.bdf.lower()] if g.bdf else [f"gpu-{g.uuid.lower()}"]
        if any(i and i.startswith(low) for i in ids):
            hits.append(g)
    exact = [g for g in hits if low in (g.uuid.lower(), g.bdf.lower())]
    hits = exact or hits
    if len(hits) == 1:
        return hits[0], ""
    if not hits:
        return None, f"no GPU has UUID {entry}"
    return None, f"UUID prefix {entry} is ambiguous ({len(hits)} GPUs match)"


def _visible_from_env(
    entries: list[str], candidates: list[GpuIdentity], var: str
) -> tuple[list[tuple[GpuIdentity, str]], str]:
    """Apply one *_VISIBLE_DEVICES list to ``candidates`` (indices are relative to it).

    Returns the (gpu, mig_id) pairs in order and a note when the list was cut
    short at an entry that names no device (everything after it is ignored, as
    CUDA does).
    """
    out: list[tuple[GpuIdentity, str]] = []
    for pos, entry in enumerate(entries):
        gpu: GpuIdentity | None
        mig = ""
        why = ""
        if entry.isdigit():
            i = int(entry)
            gpu = candidates[i] if i < len(candidates) else None
            why = f"index {i} is out of range ({len(candidates)} GPUs)"
        elif entry.lower().startswith(("gpu-", "mig-")) or (
            entry and any(c.vendor == "amd" for c in candidates)
        ):
            gpu, mig_or_why = _match_uuid(entry, candidates)
            mig, why = (mig_or_why, "") if gpu is not None else ("", mig_or_why)
        else:
            gpu, why = None, f"'{entry}' is not an index, GPU- or MIG- id"
        if gpu is None:
            rest = len(entries) - pos - 1
            note = f"{var} entry {entry!r} names no device ({why})"
            if rest:
                after = "the entry after it is" if rest == 1 else f"the {rest} entries after it are"
                note += f"; {after} ignored, as CUDA does"
            return out, note
        out.append((gpu, mig))
    return out, ""


def _merge(pairs: list[tuple[GpuIdentity, str]], reason: str) -> list[Selected]:
    """Collapse (gpu, mig) pairs so each physical GPU appears once, MIG ids gathered."""
    by_uuid: dict[str, Selected] = {}
    for gpu, mig in pairs:
        sel = by_uuid.get(gpu.uuid)
        if sel is None:
            sel = by_uuid[gpu.uuid] = Selected(gpu, reason)
        if mig and mig not in sel.via_mig:
            sel.via_mig.append(mig)
    return list(by_uuid.values())


def select_gpus(
    gpus: Sequence[GpuIdentity],
    option: str | None = None,
    *,
    env: Mapping[str, str] | None = None,
) -> tuple[list[Selected], list[str]]:
    """Choose which of ``gpus`` (one vendor's, in enumeration order) to measure.

    ``option`` is the ``--gpus`` value (None: follow the environment). Returns
    the selected GPUs (each physical GPU once) and notes for doctor (entries
    ignored, index-order caveats). Raises :class:`GpuSelectionError` when an
    explicit ``option`` entry matches none of ``gpus``; callers with several
    vendors use :func:`_select_option` per vendor instead.
    """
    env = os.environ if env is None else env
    if option is not None:
        chosen, unmatched = _select_option(gpus, parse_gpus_option(option), option)
        if unmatched:
            raise GpuSelectionError(
                f"--gpus {option!r}: {'; '.join(unmatched)}",
                fix=_available_hint(gpus),
            )
        return chosen, []
    vendor = gpus[0].vendor if gpus else "nvidia"
    return _select_env(list(gpus), env, vendor)


def _available_hint(gpus: Sequence[GpuIdentity]) -> str:
    if not gpus:
        return "no GPU was found on this machine; use --gpus none or drop the option"
    listed = ", ".join(f"{g.index}={g.uuid}" for g in gpus)
    return f"use --gpus all, or indices/UUIDs among: {listed}"


def _select_option(
    gpus: Sequence[GpuIdentity], parsed: list[str] | str, option: str
) -> tuple[list[Selected], list[str]]:
    """Apply a parsed ``--gpus`` value; return the selection and the entries that matched nothing."""
    reason = f"--gpus {option}"
    if parsed == "all":
        return [Selected(g, reason) for g in gpus], []
    if parsed == "none":
        return [], []
    pairs: list[tuple[GpuIdentity, str]] = []
    unmatched: list[str] = []
    for entry in parsed:
        if entry.isdigit():
            hit = [g for g in gpus if g.index == int(entry)]
            if hit:
                pairs.append((hit[0], ""))
            else:
                unmatched.append(f"no GPU has index {entry} ({len(gpus)} GPUs)")
            continue
        gpu, mig_or_why = _match_uuid(entry, gpus)
        if gpu is None:
            unmatched.append(mig_or_why)
        else:
            pairs.append((gpu, mig_or_why))
    return _merge(pairs, reason), unmatched


def _select_env(
    gpus: list[GpuIdentity], env: Mapping[str, str], vendor: str
) -> tuple[list[Selected], list[str]]:
    notes: list[str] = []
    if vendor == "amd":
        variables = ["ROCR_VISIBLE_DEVICES"]
        variables.append(
            "HIP_VISIBLE_DEVICES" if "HIP_VISIBLE_DEVICES" in env else "CUDA_VISIBLE_DEVICES"
        )
    else:
        variables = ["CUDA_VISIBLE_DEVICES"]
    pairs: list[tuple[GpuIdentity, str]] = [(g, "") for g in gpus]
    reasons: list[str] = []
    for var in variables:
        entries = parse_visible_devices(env.get(var))
        if entries is None:
            continue
        # each variable indexes into what the previous one left (ROCr, then HIP);
        # MIG ids gathered so far are kept on their parent
        current = [g for g, _ in pairs]
        new_pairs, note = _visible_from_env(entries, current, var)
        carried = {g.uuid: m for g, m in pairs if m}
        pairs = [(g, m or carried.get(g.uuid, "")) for g, m in new_pairs]
        if note:
            notes.append(note)
        reasons.append(f"{var}={env[var]}")
        if (
            vendor == "nvidia"
            and any(e.isdigit() for e in entries)
            and env.get("CUDA_DEVICE_ORDER", "FASTEST_FIRST") != "PCI_BUS_ID"
            and len({g.name for g in gpus}) > 1
        ):
            notes.append(
                "CUDA_VISIBLE_DEVICES uses indices and the GPUs are of different models: CUDA "
                "orders them fastest first, NVML by PCI bus; set CUDA_DEVICE_ORDER=PCI_BUS_ID "
                "or use GPU UUIDs so the right GPUs are measured"
            )
    reason = ", ".join(reasons) if reasons else "all GPUs (no *_VISIBLE_DEVICES set)"
    return _merge(pairs, reason), notes


# --------------------------------------------------------------------------- opening


def open_gpu_sensors(
    gpus: str | None = None,
    *,
    env: Mapping[str, str] | None = None,
    nvml: Any = None,
    amdsmi: Any = None,
    vendors: Collection[str] = ("nvidia", "amd"),
) -> tuple[list[Sensor], list[Availability]]:
    """Open the GPU sensors to use, and say for every GPU what will be done and why.

    ``gpus``: ``None`` follows ``CUDA_VISIBLE_DEVICES`` (and the ROCm
    variables for AMD); ``"all"``, ``"none"`` or a comma list of indices and
    UUIDs overrides it. ``env`` replaces ``os.environ`` (tests); ``nvml`` /
    ``amdsmi`` replace the vendor modules (``pynvml``, ``amdsmi``), which are
    otherwise imported here and only here. ``vendors`` limits which libraries
    are tried (``"nvidia"``, ``"amd"``): the sensor families the user chose.

    Returns at most one sensor per vendor (channels ``gpu:<uuid>``) and the
    doctor lines: one per GPU (name, UUID, driver, method and why, or why it
    is not measured) plus one per vendor library that is missing. Raises
    :class:`GpuSelectionError` when ``gpus`` is malformed or names a GPU that
    no library found; never prints.
    """
    env = os.environ if env is None else env
    parsed = parse_gpus_option(gpus) if gpus is not None else None
    if parsed == "none":
        return [], [Availability("gpu", False, "GPU measurement turned off (--gpus none)")]

    from wattprint.sensors.gpu import amd as amd_mod
    from wattprint.sensors.gpu import nvml as nvml_mod

    sensors: list[Sensor] = []
    lines: list[Availability] = []
    found: list[GpuIdentity] = []
    for mod, lib in ((nvml_mod, nvml), (amd_mod, amdsmi)):
        if mod.VENDOR not in vendors:
            continue
        probe = mod.probe(lib)
        lines += probe.lines
        if probe.inventory is None:
            continue
        found += probe.inventory
        if parsed is None:
            selected, notes = _select_env(list(probe.inventory), env, mod.VENDOR)
        else:  # entries this vendor does not know may name another vendor's GPU
            selected, _unmatched = _select_option(probe.inventory, parsed, gpus or "")
            notes = []
        sensor, gpu_lines = probe.open(selected, notes)
        lines += gpu_lines
        if sensor is not None:
            sensors.append(sensor)

    if isinstance(parsed, list):
        missed = _missed_everywhere(parsed, found)
        if missed:
            for s in sensors:
                s.close()
            reasons = "; ".join(missed)
            if not found:
                reasons += " (no GPU library could list any GPU; see wattprint doctor)"
            raise GpuSelectionError(f"--gpus {gpus!r}: {reasons}", fix=_available_hint(found))
    return sensors, lines


def _missed_everywhere(entries: list[str], found: list[GpuIdentity]) -> list[str]:
    """The ``--gpus`` entries that match no GPU of any vendor, each with the reason."""
    missed = []
    vendors = {g.vendor for g in found}
    for entry in entries:
        if entry.isdigit():
            if len(vendors) > 1:
                missed.append(
                    f"index {entry} is ambiguous with both NVIDIA and AMD GPUs present; use UUIDs"
                )
            elif not any(g.index == int(entry) for g in found):
                missed.append(f"no GPU has index {entry} ({len(found)} GPUs)")
            continue
        for vendor in vendors or {"nvidia"}:
            gpu, why = _match_uuid(entry, [g for g in found if g.vendor == vendor])
            if gpu is not None:
                break
        else:
            missed.append(why if found else f"no GPU has id {entry}")
    return missed
