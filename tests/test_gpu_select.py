"""Which GPUs count: CUDA_VISIBLE_DEVICES (index, UUID, MIG forms), ROCm variables, --gpus."""

from __future__ import annotations

import pytest

from fake_gpu import FakeAmdGpu, FakeAmdSmi, FakeNvGpu, FakeNvml, nv_uuid
from wattprint.sensors.gpu.common import GpuIdentity
from wattprint.sensors.gpu.selection import (
    GpuSelectionError,
    open_gpu_sensors,
    parse_gpus_option,
    parse_visible_devices,
    select_gpus,
)

NV = [
    GpuIdentity("nvidia", 0, "GPU-8f3a0000-aaaa-bbbb-cccc-000000000000", "NVIDIA H100 80GB HBM3"),
    GpuIdentity("nvidia", 1, "GPU-8f3b1111-aaaa-bbbb-cccc-111111111111", "NVIDIA H100 80GB HBM3"),
    GpuIdentity(
        "nvidia",
        2,
        "GPU-12345678-aaaa-bbbb-cccc-222222222222",
        "NVIDIA H100 80GB HBM3",
        ("MIG-11111111-0000-0000-0000-000000000001", "MIG-22222222-0000-0000-0000-000000000002"),
    ),
]


def chosen(env_value: str | None, option: str | None = None, gpus=NV, extra: dict | None = None):
    env = {} if env_value is None else {"CUDA_VISIBLE_DEVICES": env_value}
    env.update(extra or {})
    selected, notes = select_gpus(gpus, option, env=env)
    return [s.gpu.index for s in selected], notes, selected


def test_parse_visible_devices() -> None:
    assert parse_visible_devices(None) is None
    assert parse_visible_devices("") == [""]
    assert parse_visible_devices(" 0, 1 ,GPU-ab") == ["0", "1", "GPU-ab"]


def test_unset_means_every_gpu() -> None:
    idx, notes, selected = chosen(None)
    assert idx == [0, 1, 2] and notes == []
    assert "no *_VISIBLE_DEVICES" in selected[0].reason


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1", [1]),
        ("2,0", [2, 0]),
        ("0,0", [0]),
        ("GPU-8f3b1111-aaaa-bbbb-cccc-111111111111", [1]),
        ("gpu-8f3b1111-AAAA-bbbb-cccc-111111111111", [1]),  # CUDA compares case-insensitively
        ("GPU-8f3b", [1]),  # unique prefix, as CUDA allows
        ("GPU-1234,1", [2, 1]),
        ("MIG-22222222-0000-0000-0000-000000000002", [2]),
        ("MIG-GPU-12345678-aaaa-bbbb-cccc-222222222222/1/0", [2]),  # pre-R470 form
    ],
)
def test_cuda_visible_devices_forms(value: str, expected: list[int]) -> None:
    idx, notes, _ = chosen(value)
    assert idx == expected
    assert notes == []


@pytest.mark.parametrize("value", ["", "-1", "NoDevFound", "7", "GPU-ffff", "MIG-ffff"])
def test_values_that_name_no_device_hide_every_gpu(value: str) -> None:
    idx, notes, _ = chosen(value)
    assert idx == []
    assert len(notes) == 1 and "names no device" in notes[0]


def test_list_stops_at_first_invalid_entry_like_cuda() -> None:
    idx, notes, _ = chosen("1,-1,0")
    assert idx == [1]
    assert "'-1'" in notes[0] and "the entry after it is ignored" in notes[0]


def test_ambiguous_prefix_names_no_device() -> None:
    idx, notes, _ = chosen("GPU-8f3")
    assert idx == [] and "ambiguous" in notes[0]


def test_two_mig_instances_of_one_parent_count_the_parent_once() -> None:
    idx, _, selected = chosen(
        "MIG-11111111-0000-0000-0000-000000000001,MIG-22222222-0000-0000-0000-000000000002,0"
    )
    assert idx == [2, 0]
    assert selected[0].via_mig == [
        "MIG-11111111-0000-0000-0000-000000000001",
        "MIG-22222222-0000-0000-0000-000000000002",
    ]
    assert selected[1].via_mig == []


def test_index_order_caveat_when_models_differ() -> None:
    mixed = [NV[0], GpuIdentity("nvidia", 1, "GPU-99", "NVIDIA L4")]
    _, notes, _ = chosen("1", gpus=mixed)
    assert any("CUDA_DEVICE_ORDER=PCI_BUS_ID" in n for n in notes)
    _, notes, _ = chosen("1", gpus=mixed, extra={"CUDA_DEVICE_ORDER": "PCI_BUS_ID"})
    assert notes == []


@pytest.mark.parametrize(
    ("option", "expected"),
    [
        ("all", [0, 1, 2]),
        ("ALL", [0, 1, 2]),
        ("none", []),
        ("0,1", [0, 1]),
        ("2", [2]),
        ("GPU-8f3a", [0]),
        ("GPU-12345678-aaaa-bbbb-cccc-222222222222,0", [2, 0]),
        ("MIG-1111", [2]),
    ],
)
def test_gpus_option_overrides_the_environment(option: str, expected: list[int]) -> None:
    idx, _, selected = chosen("", option)  # CUDA_VISIBLE_DEVICES="" would hide everything
    assert idx == expected
    assert all(s.reason == f"--gpus {option}" for s in selected)


@pytest.mark.parametrize(
    ("option", "words"),
    [
        ("", "empty"),
        ("0,,1", "empty entry"),
        ("all,0", "cannot be combined"),
        ("-1", "negative index"),
        ("7", "no GPU has index 7"),
        ("GPU-ffff", "no GPU has UUID GPU-ffff"),
        ("GPU-8f3", "ambiguous"),
        ("banana", "no GPU has UUID banana"),
    ],
)
def test_bad_gpus_values_raise_one_clear_line(option: str, words: str) -> None:
    with pytest.raises(GpuSelectionError) as info:
        select_gpus(NV, option, env={})
    message = str(info.value)
    assert words in message and "\n" not in message
    assert info.value.fix  # says what to do


def test_parse_gpus_option_syntax_without_devices() -> None:
    assert parse_gpus_option(" all ") == "all"
    assert parse_gpus_option("0, GPU-ab") == ["0", "GPU-ab"]
    with pytest.raises(GpuSelectionError):
        parse_gpus_option("   ")


# ----------------------------------------------------------------------------- through open_gpu_sensors


def nv_fake(n: int = 3) -> FakeNvml:
    return FakeNvml([FakeNvGpu(nv_uuid(i)) for i in range(n)])


def names(sensors) -> list[str]:
    return [c.name for s in sensors for c in s.channels]


def test_open_follows_cuda_visible_devices_by_uuid() -> None:
    sensors, _ = open_gpu_sensors(None, env={"CUDA_VISIBLE_DEVICES": nv_uuid(2)}, nvml=nv_fake(), amdsmi=FakeAmdSmi([]))
    assert names(sensors) == [f"gpu:{nv_uuid(2)}"]


def test_open_with_cuda_visible_devices_empty_opens_nothing_and_releases_nvml() -> None:
    fake = nv_fake()
    sensors, lines = open_gpu_sensors(None, env={"CUDA_VISIBLE_DEVICES": ""}, nvml=fake, amdsmi=FakeAmdSmi([]))
    assert sensors == [] and fake.shutdowns == 1
    assert any("names no device" in x.detail for x in lines)
    assert sum(1 for x in lines if x.sensor.startswith("nvml gpu") and not x.available) == 3


def test_open_gpus_none_and_all() -> None:
    sensors, lines = open_gpu_sensors("none", env={}, nvml=nv_fake(), amdsmi=FakeAmdSmi([]))
    assert sensors == [] and "--gpus none" in lines[0].detail
    sensors, _ = open_gpu_sensors("all", env={"CUDA_VISIBLE_DEVICES": "0"}, nvml=nv_fake(), amdsmi=FakeAmdSmi([]))
    assert len(names(sensors)) == 3


def test_open_bad_gpus_raises_and_releases_what_it_opened() -> None:
    fake = nv_fake()
    with pytest.raises(GpuSelectionError, match="no GPU has index 9"):
        open_gpu_sensors("0,9", env={}, nvml=fake, amdsmi=FakeAmdSmi([]))
    assert fake.inits == fake.shutdowns == 1


def test_open_gpus_index_without_any_gpu_library_is_an_error() -> None:
    broken = FakeNvml([], init_error="NVMLError_LibraryNotFound")
    with pytest.raises(GpuSelectionError, match="no GPU library could list any GPU"):
        open_gpu_sensors("0", env={}, nvml=broken, amdsmi=FakeAmdSmi([], init_error=True))


def test_amd_follows_rocr_then_hip_visible_devices() -> None:
    amd = FakeAmdSmi([FakeAmdGpu(f"amd-uuid-{i}", bdf=f"0000:{i:02x}:00.0", step_ticks=1000) for i in range(3)])
    env = {"ROCR_VISIBLE_DEVICES": "1,2", "HIP_VISIBLE_DEVICES": "1"}
    sensors, _ = open_gpu_sensors(None, env=env, nvml=FakeNvml([]), amdsmi=amd)
    assert names(sensors) == ["gpu:amd-uuid-2"]


def test_uuid_picks_across_vendors_and_index_is_ambiguous_with_both() -> None:
    amd = FakeAmdSmi([FakeAmdGpu("amd-uuid-0", step_ticks=1000)])
    sensors, _ = open_gpu_sensors(f"{nv_uuid(1)},amd-uuid-0", env={}, nvml=nv_fake(2), amdsmi=amd)
    assert sorted(names(sensors)) == sorted([f"gpu:{nv_uuid(1)}", "gpu:amd-uuid-0"])
    for s in sensors:
        s.close()
    with pytest.raises(GpuSelectionError, match="ambiguous"):
        open_gpu_sensors("0", env={}, nvml=nv_fake(2), amdsmi=FakeAmdSmi([FakeAmdGpu("amd-uuid-0")]))
