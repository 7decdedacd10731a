"""Two jobs on one node: the devices another job used during this run, and this job's share of them.

Every rank of a job lists the devices it measures in its host's registry
(:mod:`wattprint.tracking.hostreg`) while it runs. :class:`Sharing` looks at the
registry about once a second from the sampler's thread (a look that would wait
for a lock is skipped) and at the stop, and notes each *other* job id seen on
one of its devices, with the first and the latest sighting. Entries vanish with
their process, so the sightings are kept as they happen.

At the stop (:meth:`Sharing.settle`), each shared device gets a
:class:`~wattprint.tracking.record.SharedDeviceRecord`: the other job ids, the
overlap in seconds (from the first sighting, or the later of the two starts,
to the latest sighting: approximate, to about the look's period), the whole
device's energy and this job's share of it. The share is the run's attribution
(:mod:`wattprint.tracking.attribution`: the tracked process tree's part of the
device, interval by interval); with no attribution (the Python API without a
``process``), or none for that device (a GPU whose processes cannot be listed),
the device is kept whole in the record and labelled "shared, not split".

The run's totals (energy, emissions) then count each split device's share
instead of the whole device (:func:`apply_split`); its channels still show the
whole devices. A job alone on its devices has no ``shared_devices`` and its
record is unchanged.
"""

from __future__ import annotations

import threading
import time

from wattprint.units import j_to_kwh

TYPE_CHECKING = False  # not from typing: see tracker.py
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from wattprint.tracking.record import RunRecord, SharedDeviceRecord

LOOK_EVERY_S = 1.0  # how often a running job looks for other jobs on its devices
NOT_SPLIT = "shared, not split"
_NO_SHARE = ("process list unavailable", "not visible here", "no attribution rule")  # attribution's own words


class Sharing:
    """One rank's sightings of other jobs on the devices it measures."""

    def __init__(self, registry: Any, job: str) -> None:
        self.registry, self.job = registry, job
        self.devices: dict[str, str] = {}  # device key -> this run's channel
        self.start = time.time()
        self.seen: dict[str, dict[str, list[float]]] = {}  # channel -> other job -> [first, latest] (wall)
        self._next = 0.0
        self._lock = threading.Lock()  # the sampler thread's look against the stop's

    def measure(self, devices: Mapping[str, str]) -> None:
        """The devices this rank measures from now on (key -> channel)."""
        self.devices = dict(devices)
        self.start = time.time()

    def look(self, force: bool = False) -> None:
        """Note the other jobs on this rank's devices now (at most every :data:`LOOK_EVERY_S`)."""
        now_m = time.monotonic()
        if not self.devices or (not force and now_m < self._next):
            return
        if not self._lock.acquire(blocking=force):
            return  # the stop's look is under way
        try:
            self._next = now_m + LOOK_EVERY_S
            others = self.registry.others_on(self.job, set(self.devices))
            now = time.time()
            for other, keys, since in others or ():
                for key in keys:
                    span = self.seen.setdefault(self.devices[key], {}).setdefault(other, [max(since, self.start), now])
                    span[1] = now
        finally:
            self._lock.release()

    def settle(self, run: Any) -> list[SharedDeviceRecord]:
        """The shared devices' records at the stop; sets ``run.shared_split`` (channel -> share kept)."""
        self.look(force=True)
        with self._lock:
            return self._records(run)

    def _records(self, run: Any) -> list[SharedDeviceRecord]:
        if not self.seen:
            return []
        by_channel = {c: k for k, c in self.devices.items()}
        attributor = getattr(run, "attributor", None)
        split: dict[str, float] = {}
        out: list[SharedDeviceRecord] = []
        for channel in sorted(self.seen):
            jobs = self.seen[channel]
            whole = run.channels[channel].energy_j if channel in run.channels else 0.0
            share_j, how = _share(attributor, channel)
            if share_j is not None and whole > 0:
                split[channel] = min(1.0, max(0.0, share_j / whole))
            out.append({"channel": channel, "device": by_channel[channel], "other_jobs": sorted(jobs),
                        "overlap_s": max(max(0.0, b - a) for a, b in jobs.values()), "device_energy_j": whole,
                        "share_j": share_j, "split": how})
        run.shared_split = split
        return out


def _share(attributor: Any, channel: str) -> tuple[float | None, str]:
    """This job's attributed energy on ``channel`` and how, or (None, why it is not split)."""
    if attributor is None:
        return None, f"{NOT_SPLIT}: no attribution (the tracker follows no process tree)"
    acc = attributor.per_channel.get(channel)
    if acc is None or not acc.method:
        return None, f"{NOT_SPLIT}: no attribution for this device"
    if any(words in acc.method for words in _NO_SHARE):
        return None, f"{NOT_SPLIT}: {acc.method}"
    return acc.energy_j, f"attributed: {acc.method}"


def apply_split(d: RunRecord, split: Mapping[str, float]) -> None:
    """Count each split channel's kept share (``split``: channel -> fraction) in the record's totals.

    The channels keep the whole devices; energy and emissions (location- and market-based) drop
    the other jobs' part."""
    cut_j = cut_g = 0.0
    for name, kept in split.items():
        c = d["channels"].get(name)
        if c is None or not c.get("in_total", True):
            continue
        cut_j += c["energy_j"] * (1.0 - kept)
        cut_g += (c.get("emissions_g") or 0.0) * (1.0 - kept)
    if cut_j <= 0:
        return
    before = d["energy_j"]
    d["energy_j"] = max(0.0, before - cut_j)
    d["energy_kwh"] = j_to_kwh(d["energy_j"])
    if d.get("emissions_g") is not None:
        d["emissions_g"] = max(0.0, d["emissions_g"] - cut_g)  # type: ignore[operator]
    market = d.get("market_emissions_g")
    if market is not None and before > 0:
        d["market_emissions_g"] = market * d["energy_j"] / before
