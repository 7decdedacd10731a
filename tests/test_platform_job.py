"""A job's merged view where a host's whole-machine meter is that host's total."""

from __future__ import annotations

import pytest

from wattprint.store.jobs import merge


def _part(rank: int, boot: str, channels: dict[str, tuple[str, float, bool]]) -> dict:  # type: ignore[type-arg]
    chans = {n: {"name": n, "component": comp, "method": "counter", "band": 0.05, "energy_j": e, "in_total": t,
                 "detail": "", "emissions_g": None} for n, (comp, e, t) in channels.items()}
    total = sum(e for _, e, t in channels.values() if t)
    return {"id": f"r{rank}", "name": "train", "status": "finished", "start_utc": 1000.0, "end_utc": 1050.0,
            "duration_s": 50.0, "energy_j": total, "host": "h", "emissions_g": None, "market_emissions_g": None,
            "channels": chans, "faults": [],
            "job": {"id": "J", "rank": rank, "world_size": 3, "boot_id": boot, "restart": 0,
                    "election": "environment"}}


def test_a_gpu_read_by_another_rank_on_a_metered_host_is_inside_the_meter() -> None:
    parts = [
        # rank 0 owns host A: its meter is the total, its package and GPU are inside it
        _part(0, "A", {"platform:ipmi": ("platform", 900.0, True), "cpu:package-0": ("cpu", 200.0, False),
                       "gpu:GPU-1": ("gpu", 300.0, False)}),
        _part(1, "A", {"gpu:GPU-2": ("gpu", 250.0, True)}),  # rank 1 on host A reads only its GPU
        _part(2, "B", {"cpu:package-0": ("cpu", 150.0, True), "gpu:GPU-3": ("gpu", 310.0, True)}),  # no meter
    ]
    view = merge(parts)
    assert view["energy_j"] == pytest.approx(900.0 + 150.0 + 310.0)  # GPU-2 is inside A's 900 J
    assert not view["channels"]["gpu:GPU-2"]["in_total"] and view["channels"]["gpu:GPU-3"]["in_total"]
    nodes = {n["node"]: n["energy_j"] for n in view["job"]["nodes"]}
    assert nodes == pytest.approx({"h~A": 900.0, "h~B": 460.0})
    assert [p["energy_j"] for p in view["job"]["parts"]] == pytest.approx([900.0, 0.0, 460.0])


def test_the_job_report_compares_each_meter_with_the_components_inside_it() -> None:
    from wattprint.report.display import platform

    parts = [
        _part(0, "A", {"platform:ipmi": ("platform", 900.0, True), "cpu:package-0": ("cpu", 200.0, False)}),
        _part(1, "A", {"gpu:GPU-2": ("gpu", 250.0, True)}),
        _part(2, "B", {"platform:ipmi": ("platform", 700.0, True), "gpu:GPU-3": ("gpu", 310.0, False)}),
    ]
    plat = platform(list(merge(parts)["channels"].values()))
    assert plat is not None and plat["used"] == "whole-machine"
    assert plat["whole_j"] == pytest.approx(1600.0) and plat["components_j"] == pytest.approx(760.0)
    assert plat["rest_j"] == pytest.approx(840.0) and plat["channel"] == "h~A/platform:ipmi, h~B/platform:ipmi"
