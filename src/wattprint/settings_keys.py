"""The table of every setting (:data:`KEYS`): name, kind, bounds, default, env, config key.

:mod:`wattprint.settings` reads and checks them; this module only lists them, so
that a new feature adds its keys here without touching the reading logic. Keys
are grouped by topic; append a new group as its own tuple and add it to KEYS.
"""

from __future__ import annotations

from wattprint._record import FrozenRecord

TYPE_CHECKING = False  # typing costs more to import than this module
if TYPE_CHECKING:
    from typing import Any

DAY_S = 86400.0
LOCATION_KEYS = ("country", "region", "cloud_provider", "cloud_region")
LIVE_PROVIDERS = ("electricitymaps", "uk", "watttime", "off")


class Key(FrozenRecord):
    """One setting: how it is spelled in each source, what it may hold, what it means."""

    __slots__ = ("name", "kind", "help", "bounds", "default", "env", "file")
    name: str
    kind: str
    help: str
    bounds: tuple[Any, ...]
    default: object
    env: str | None
    file: str | None

    def __init__(self, name: str, kind: str, help: str, *, bounds: tuple[Any, ...] = (),
                 default: object = None, env: str | None = None, file: str | None = "") -> None:
        # kind: float | str | choice | path | dir | bool | baseline | strlist | tags | pid
        #       | store | object | port | url. bounds: (lo, hi, lo_open) for numbers, the choices for a choice.
        # file "" = the same name as the setting; None = not read from config files.
        super().__init__(name, kind, help, bounds, default, env, name if file == "" else file)


def _env(name: str) -> str:
    return f"WATTPRINT_{name.upper()}"


KEYS: tuple[Key, ...] = (
    Key("name", "str", "run name (default: the command, else 'run')", env=_env("name")),
    Key("interval", "float", "seconds between samples", bounds=(0.01, 3600.0, False), default=1.0,
        env=_env("interval")),
    Key("country", "str", "ISO 3166 country code of the grid, e.g. FR", env=_env("country")),
    Key("region", "str", "sub-national grid code, e.g. US-CA (see 'wattprint regions')",
        env=_env("region")),
    Key("cloud_provider", "str", "cloud provider: aws, gcp or azure", env=_env("cloud_provider")),
    Key("cloud_region", "str", "cloud region, e.g. eu-west-3", env=_env("cloud_region")),
    Key("pue", "float", "data-centre overhead factor", bounds=(1.0, 3.0, False), env=_env("pue")),
    Key("market_g_per_kwh", "float", "contractual emission factor in gCO2e/kWh",
        bounds=(0.0, 2000.0, False), env=_env("market_g_per_kwh")),
    Key("probe_cloud", "bool", "ask cloud instance metadata where this machine is",
        env="WATTPRINT_NO_CLOUD_PROBE", file="cloud_probe"),
    Key("gpus", "str", "GPUs to measure: all, none, 0,1 or UUIDs", env=_env("gpus")),
    Key("rapl_root", "dir", "powercap tree to read RAPL from", env=_env("rapl_root")),
    Key("sensors", "object", "the sensors to read (default: every one this host offers)", file=None),
    Key("sinks", "object", "more sinks to receive the run's life (wattprint.sinks.Sink)", file=None),
    Key("store", "store", "store the run: True, False, or a database path", default=True, file=None),
    Key("db", "path", "database file", env=_env("db")),
    Key("flush_every_s", "float", "seconds between writes of a running run to the store",
        bounds=(0.0, DAY_S, False), default=10.0, env=_env("flush_every_s")),
    Key("baseline", "baseline", "idle seconds to measure first, or 'stored'", env=_env("baseline")),
    Key("baseline_max_age_s", "float", "how old a stored baseline may be, in seconds",
        bounds=(0.0, 3650 * DAY_S, True), default=7 * DAY_S, env=_env("baseline_max_age_s")),
    Key("command", "strlist", "the command line being measured", file=None),
    Key("tags", "tags", "labels stored with the run, tags={'key': 'value'}", file=None),
    Key("process", "pid", "a PID (or 'self') whose share of the energy to attribute", file=None),
    Key("live_provider", "choice", "live intensity provider", bounds=LIVE_PROVIDERS,
        env=_env("live_provider")),
    Key("electricitymaps_api_key", "str", "Electricity Maps API key", env="ELECTRICITYMAPS_API_KEY"),
    Key("electricitymaps_zone", "str", "Electricity Maps zone, e.g. US-CAL-CISO",
        env=_env("electricitymaps_zone")),
    Key("electricitymaps_url", "str", "Electricity Maps base URL", env=_env("electricitymaps_url")),
    Key("uk_carbon_intensity", "bool", "use the UK Carbon Intensity API for GB",
        env=_env("uk_carbon_intensity")),
    Key("uk_carbon_intensity_url", "str", "UK Carbon Intensity base URL",
        env=_env("uk_carbon_intensity_url")),
    Key("watttime_username", "str", "WattTime user name", env="WATTTIME_USERNAME"),
    Key("watttime_password", "str", "WattTime password", env="WATTTIME_PASSWORD"),
    Key("watttime_region", "str", "WattTime region, e.g. CAISO_NORTH", env="WATTTIME_REGION"),
    Key("watttime_url", "str", "WattTime base URL", env=_env("watttime_url")),
    Key("cache_dir", "path", "directory for cached live answers", env=_env("cache_dir")),
)
# live intensity (issue 18): how often a run's background fetcher asks its provider
_LIVE = (
    Key("live_fetch_every_s", "float", "seconds between a run's background live-intensity fetches",
        bounds=(0.05, 7 * DAY_S, False), default=3600.0, env=_env("live_fetch_every_s")),
)
KEYS = KEYS + _LIVE

# The Prometheus and OpenTelemetry exporters of a run (wattprint.sinks.prometheus, .otlp); a run
# publishes to them only when one of EXPORTER_KEYS is set (wattprint.sinks.metrics).
_EXPORTERS = (
    Key("prometheus_port", "port", "serve the run's metrics for Prometheus on this port (0: any free one)",
        env=_env("prometheus_port")),
    Key("prometheus_address", "str", "address the metrics port binds (default 127.0.0.1: this machine only)",
        default="127.0.0.1", env=_env("prometheus_address")),
    Key("prometheus_pushgateway", "url", "Prometheus Pushgateway URL to push the run's metrics to",
        env=_env("prometheus_pushgateway")),
    Key("pushgateway_job", "str", "the job name of the pushed group", default="wattprint",
        env=_env("pushgateway_job")),
    Key("pushgateway_keep", "bool", "keep the pushed group after the run (default: deleted at the end)",
        env=_env("pushgateway_keep")),
    Key("otlp_endpoint", "url", "OTLP/HTTP endpoint to send the run's metrics to, e.g. http://localhost:4318",
        env=_env("otlp_endpoint")),
    Key("otlp_service_name", "str", "service.name of the OTLP resource", default="wattprint",
        env=_env("otlp_service_name")),
    Key("exporter_timeout_s", "float", "seconds each push or export may take before it is given up",
        bounds=(0.0, 60.0, True), default=2.0, env=_env("exporter_timeout_s")),
)
EXPORTER_KEYS = ("prometheus_port", "prometheus_pushgateway", "otlp_endpoint")  # any set: the run exports
KEYS += _EXPORTERS


# Team stores: who a run belongs to (issue 14's PostgreSQL store), so a shared store can be filtered.
_TEAM = (
    Key("owner", "str", "who the run belongs to (default: the OS user)", env=_env("owner")),
    Key("project", "str", "the project the run counts for (stored with it; 'runs --project' filters)",
        env=_env("project")),
)
KEYS += _TEAM
# Where the machine runs, which gives the PUE independently of the grid location:
# a personal machine (1.0), a data centre of unknown operator (1.56), a cloud provider.
SITES = ("personal", "datacentre", "aws", "gcp", "azure")
_SITE = (
    Key("site", "choice", "where the machine runs: personal, datacentre, aws, gcp or azure "
        "(gives the PUE)", bounds=SITES, env=_env("site")),
)
KEYS = KEYS + _SITE
# The whole machine (sensors/platform): hwmon meters, IPMI DCMI, Redfish, the rest-of-platform model.
PSU_LEVELS = ("bronze", "silver", "gold", "platinum", "titanium")
_PLATFORM = (
    Key("hwmon_root", "dir", "hwmon tree to read whole-machine power meters from", env=_env("hwmon_root")),
    Key("ipmi", "choice", "read the BMC's power over IPMI DCMI: auto (when /dev/ipmi0 exists, as root), on, off",
        bounds=("auto", "on", "off"), default="auto", env=_env("ipmi")),
    Key("redfish_url", "str", "https:// address of a BMC to read the machine's power from over Redfish",
        env=_env("redfish_url")),
    Key("redfish_username", "str", "Redfish user name", env=_env("redfish_username")),
    Key("redfish_password", "str", "Redfish password", env=_env("redfish_password")),
    Key("redfish_ca_bundle", "path", "CA certificate(s) to verify the BMC's TLS certificate with",
        env=_env("redfish_ca_bundle")),
    Key("redfish_chassis", "str", "Redfish chassis id to read (default: the first that reports power)",
        env=_env("redfish_chassis")),
    Key("platform_model", "choice", "model the rest of the platform (PSU losses, fans, disks, NICs) when no "
        "whole-machine sensor: auto (on in data centres), on, off", bounds=("auto", "on", "off"), default="auto",
        env=_env("platform_model")),
    Key("platform_model_psu", "choice", "80 PLUS level of the power supply, for the model", bounds=PSU_LEVELS,
        default="platinum", env=_env("platform_model_psu")),
    Key("platform_model_psu_w", "float", "rated watts of the power supply, for the model's load point",
        bounds=(1.0, 100000.0, False), env=_env("platform_model_psu_w")),
    Key("platform_model_other_w", "float", "watts the model adds for fans, disks, NICs and board",
        bounds=(0.0, 10000.0, False), default=10.0, env=_env("platform_model_other_w")),
)
KEYS = KEYS + _PLATFORM

# -- distributed jobs (tracking/job.py, tracking/ranks.py): ranks of one job merged into one run --
_JOBS = (
    Key("job", "str", "job id shared by every rank of one distributed job ('off': never a job; "
        "default: from the launcher's environment)", env=_env("job")),
    Key("job_timeout_s", "float", "seconds the ranks of a job wait for each other at start and stop",
        bounds=(0.1, 3600.0, False), default=30.0, env=_env("job_timeout_s")),
    Key("boot_id_file", "path", "file holding this host's boot id (tests simulate several nodes with it)",
        env=_env("boot_id_file")),
)
KEYS = (*KEYS, *_JOBS)

# Budgets (issue 16, wattprint.tracking.budget, wattprint.sinks.budget): warn at a fraction, act at the limit
BUDGET_ACTIONS = ("warn", "stop")
_BUDGET = (
    Key("budget_kwh", "float", "energy budget of the run in kWh: warn near it, act at it",
        bounds=(0.0, 1e9, True), env=_env("budget_kwh")),
    Key("budget_g", "float", "CO2e budget of the run in grams (location-based): warn near it, act at it",
        bounds=(0.0, 1e12, True), env=_env("budget_g")),
    Key("budget_warn_at", "float", "fraction of a budget at which to warn", bounds=(0.0, 1.0, True),
        default=0.8, env=_env("budget_warn_at")),
    Key("budget_action", "choice", "at the budget: stop (the command, or raise BudgetExceeded) or warn",
        bounds=BUDGET_ACTIONS, default="stop", env=_env("budget_action")),
    Key("budget_grace_s", "float", "seconds between SIGTERM and SIGKILL when a budget stops a command",
        bounds=(0.0, 3600.0, False), default=10.0, env=_env("budget_grace_s")),
)
# Embodied emissions (issue 16, wattprint.embodied): the user's per-device figures, a table in the config
_EMBODIED = (
    Key("embodied_devices", "embodied", "embodied emissions per device or model: {name: {kg, years, source}}",
        file="embodied"),
)
KEYS += _BUDGET + _EMBODIED

# Slurm (issue 13, wattprint.tracking.slurm): the warning signal before a time limit or preemption
_SLURM = (
    Key("slurm_signal", "choice", "under Slurm, the signal --signal sends before the end: it marks and flushes "
        "the run, which goes on measuring (never replaces the program's own handler; 'off': leave it alone)",
        bounds=("usr1", "usr2", "off"), default="usr1", env=_env("slurm_signal")),
    Key("host_registry_dir", "path", "directory of the per-host file where the ranks of a job without a "
        "communicator say which GPUs they read (default: $XDG_RUNTIME_DIR/wattprint or /dev/shm/wattprint-UID)",
        env=_env("host_registry_dir")),
)
KEYS += _SLURM

# every group above is in KEYS by now
KEY: dict[str, Key] = {k.name: k for k in KEYS}
SECRET_KEYS = ("electricitymaps_api_key", "watttime_password", "redfish_username", "redfish_password")  # never shown
