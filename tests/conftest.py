"""Test-wide isolation: no cloud metadata probes, no user config, a temp database."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

# In CI the property tests draw the same examples every run (a submission's verdict must not
# depend on luck); on a developer's machine they explore new ones each time, which is how the
# edge cases they have found so far were found.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    # Never send a packet to a real metadata address (169.254.169.254 ...) from tests;
    # tests of the probes point them at servers on 127.0.0.1 explicitly.
    monkeypatch.setenv("WATTPRINT_NO_CLOUD_PROBE", "1")
    monkeypatch.setenv("WATTPRINT_DB", str(tmp_path / "wattprint-test.db"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    # the ranks' per-host registry: the tests' fake boot ids repeat, so never share it between tests
    monkeypatch.setenv("WATTPRINT_HOST_REGISTRY_DIR", str(tmp_path / "host-registry"))
    for var in (
        "WATTPRINT_COUNTRY",
        "WATTPRINT_REGION",
        "WATTPRINT_CLOUD_PROVIDER",
        "WATTPRINT_CLOUD_REGION",
        "WATTPRINT_PUE",
        "WATTPRINT_CONFIG",
        "ELECTRICITYMAPS_API_KEY",
        "CUDA_VISIBLE_DEVICES",
        "ROCR_VISIBLE_DEVICES",
        "HIP_VISIBLE_DEVICES",
        "WATTPRINT_MARKET_G_PER_KWH",
        "WATTPRINT_LIVE_PROVIDER",
        "WATTPRINT_UK_CARBON_INTENSITY",
        "WATTPRINT_CACHE_DIR",
        "WATTTIME_USERNAME",
        "WATTTIME_PASSWORD",
        "WATTTIME_REGION",
        # the site: a CI job inside a batch scheduler or a pod would otherwise be taken
        # for a data centre (PUE 1.56) by every test that expects a personal machine
        "WATTPRINT_SITE",
        "SLURM_JOB_ID",
        "KUBERNETES_SERVICE_HOST",
        "PBS_JOBID",
        "LSB_JOBID",
    ):
        monkeypatch.delenv(var, raising=False)
    # a suite run under torchrun, srun or mpirun must not make every tracker a rank of that job
    for var in list(os.environ):
        if var.startswith(("SLURM_", "OMPI_COMM_WORLD_", "PMI_", "PMIX_", "TORCHELASTIC_")) or var in (
            "RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "GROUP_RANK", "MASTER_ADDR", "MASTER_PORT",
            "WATTPRINT_JOB", "WATTPRINT_BOOT_ID_FILE", "WATTPRINT_JOB_TIMEOUT_S",
        ):
            monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    # The whole-machine sensors read this host's BMC and hwmon, and the rest-of-platform model
    # turns itself on on servers: off unless a test asks (tests/test_platform*.py do).
    monkeypatch.setenv("WATTPRINT_HWMON_ROOT", str(tmp_path_factory.mktemp("no-hwmon")))
    monkeypatch.setenv("WATTPRINT_IPMI", "off")
    monkeypatch.setenv("WATTPRINT_PLATFORM_MODEL", "off")
    for var in ("WATTPRINT_REDFISH_URL", "WATTPRINT_REDFISH_USERNAME", "WATTPRINT_REDFISH_PASSWORD"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)


# stores of each kind (a throwaway PostgreSQL server, SQLite files) for the store tests
from store_fixtures import pg_server, pg_url, store_target  # noqa: E402, F401


@pytest.fixture
def on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty ``bin`` directory first on ``PATH``, for fake programs (ipmitool, sacct...)."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}")
    return bindir


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate and key for a test's TLS server (needs the openssl program)."""
    from fake_platform import make_cert
    from realparts import need_program

    need_program("openssl", "apt-get install openssl (Debian) for the test certificate")
    return make_cert(tmp_path_factory.mktemp("tls"))
