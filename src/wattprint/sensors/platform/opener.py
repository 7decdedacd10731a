"""Opening the whole-machine sensors, and settling the run's total once every sensor is open.

:func:`open_platform_sensors` tries, in order, hwmon meters, IPMI DCMI and
Redfish; each gives a doctor line saying whether it is used, why not and how
to fix it. :func:`settle` runs after every family has opened: with a
whole-machine channel it makes that channel the run's total (:func:`elect`);
without one, and with the model on (``platform_model``: ``on``, or ``auto``
where the host looks like a data centre), it adds the modelled rest of the
platform, read last.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

from wattprint._record import FrozenRecord
from wattprint.sensors.base import Availability, Channel, Method, Sensor, SensorError
from wattprint.sensors.platform import REST, WHOLE, elect

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["PlatformOptions", "datacentre_signs", "model_wanted", "open_platform_sensors", "settle"]

HWMON_ROOT = "/sys/class/hwmon"  # hwmon.DEFAULT_ROOT, without importing the reader
IPMI_DEVICES = ("/dev/ipmi0", "/dev/ipmi/0", "/dev/ipmidev/0")  # ipmi.DEVICE_PATHS, likewise


class PlatformOptions(FrozenRecord):
    """What the platform family reads (from the settings); the password never shows in ``repr``."""

    __slots__ = ("hwmon_root", "ipmi", "ipmi_program", "ipmi_devices", "redfish_url", "redfish_username",
                 "redfish_password", "redfish_ca_bundle", "redfish_chassis", "model", "model_psu",
                 "model_psu_w", "model_other_w", "dmi_root", "site")
    hwmon_root: str | None
    ipmi: str
    ipmi_program: str
    ipmi_devices: tuple[str, ...] | None
    redfish_url: str | None
    redfish_username: str | None
    redfish_password: str | None
    redfish_ca_bundle: str | None
    redfish_chassis: str | None
    model: str
    model_psu: str
    model_psu_w: float | None
    model_other_w: float
    dmi_root: str | None
    site: str | None  # the ``site`` setting (personal, datacentre, aws ...), when given

    def __init__(
        self, *, hwmon_root: str | None = None, ipmi: str = "auto", ipmi_program: str = "ipmitool",
        ipmi_devices: tuple[str, ...] | None = None, redfish_url: str | None = None,
        redfish_username: str | None = None, redfish_password: str | None = None,
        redfish_ca_bundle: str | None = None, redfish_chassis: str | None = None, model: str = "auto",
        model_psu: str = "platinum", model_psu_w: float | None = None, model_other_w: float = 10.0,
        dmi_root: str | None = None, site: str | None = None,
    ) -> None:
        super().__init__(hwmon_root, ipmi, ipmi_program, ipmi_devices, redfish_url, redfish_username,
                         redfish_password, redfish_ca_bundle, redfish_chassis, model, model_psu, model_psu_w,
                         model_other_w, dmi_root, site)

    def __repr__(self) -> str:
        hidden = ("redfish_username", "redfish_password")
        fields = ", ".join(f"{k}={'***' if k in hidden and getattr(self, k) else repr(getattr(self, k))}"
                           for k in self.__slots__)
        return f"PlatformOptions({fields})"

    @classmethod
    def from_settings(cls, get: Callable[[str], Any]) -> PlatformOptions:
        """From the settings (``Settings.get``): the keys of the ``_PLATFORM`` group."""
        return cls(
            hwmon_root=get("hwmon_root"), ipmi=get("ipmi") or "auto", redfish_url=get("redfish_url"),
            redfish_username=get("redfish_username"), redfish_password=get("redfish_password"),
            redfish_ca_bundle=get("redfish_ca_bundle"), redfish_chassis=get("redfish_chassis"),
            model=get("platform_model") or "auto", model_psu=get("platform_model_psu") or "platinum",
            model_psu_w=get("platform_model_psu_w"), model_other_w=get("platform_model_other_w"),
            site=get("site"),
        )


def _try(name: str, make: Callable[[], Sensor]) -> tuple[list[Sensor], list[Availability]]:
    try:
        sensor = make()
    except SensorError as exc:
        return [], [Availability(name, False, str(exc), exc.fix)]
    return [sensor], sensor.describe()


def open_platform_sensors(options: PlatformOptions | None) -> tuple[list[Sensor], list[Availability]]:
    """hwmon, IPMI and Redfish, each when present; a doctor line for each either way."""
    o = options or PlatformOptions()
    # the common case (no meter, no BMC) is answered with a few stat calls, before importing the readers
    hwmon_root = o.hwmon_root or HWMON_ROOT
    sensors: list[Sensor] = []
    lines: list[Availability] = []
    if not os.path.isdir(hwmon_root):
        lines.append(Availability("hwmon", False, f"no hwmon: {hwmon_root} does not exist",
                                  "Linux only; the ACPI meter needs the acpi_power_meter module"))
    else:
        from wattprint.sensors.platform.hwmon import HwmonSensor

        sensors, lines = _try("hwmon", lambda: HwmonSensor(hwmon_root))
    devices = o.ipmi_devices or IPMI_DEVICES
    if o.ipmi == "off":
        lines.append(Availability("ipmi", False, "IPMI DCMI not read (ipmi = off)"))
    elif o.ipmi == "auto" and not any(os.path.exists(p) for p in devices):
        lines.append(Availability("ipmi", False, f"IPMI: no in-band device ({', '.join(devices)}): no BMC, or "
                                  "ipmi_devintf not loaded", "sudo modprobe ipmi_devintf (a server with a BMC), "
                                  "then run as root; or set ipmi = \"off\""))
    else:
        from wattprint.sensors.platform.ipmi import IpmiSensor

        got, got_lines = _try("ipmi", lambda: IpmiSensor(
            o.ipmi_program, device_paths=devices, require_device=o.ipmi != "on"))
        sensors += got
        lines += got_lines
    if not o.redfish_url:
        lines.append(Availability("redfish", False, "no BMC address given",
                                  "set redfish_url = \"https://<bmc>\" with redfish_username / redfish_password"))
    else:
        from wattprint.sensors.platform.redfish import RedfishSensor

        url = o.redfish_url
        got, got_lines = _try("redfish", lambda: RedfishSensor(
            url, username=o.redfish_username, password=o.redfish_password,
            ca_bundle=o.redfish_ca_bundle, chassis=o.redfish_chassis))
        sensors += got
        lines += got_lines
    return sensors, lines


# DMI chassis types (SMBIOS 3.x, 7.4.1) of servers: main server, rack mount, multi-system, blade, ...
_SERVER_CHASSIS = {"17", "23", "25", "28", "29"}
_DC_ENV = ("SLURM_JOB_ID", "KUBERNETES_SERVICE_HOST", "PBS_JOBID", "LSB_JOBID")
_CLOUD_VENDORS = ("amazon ec2", "google", "microsoft corporation", "alibaba cloud", "oracle")


def datacentre_signs(env: Mapping[str, str] | None = None, dmi_root: str | Path = "/sys/class/dmi/id") -> str | None:
    """What suggests this machine sits in a data centre (a batch scheduler, Kubernetes, a
    server chassis, a cloud vendor in DMI), or None. Cheap: environment and two sysfs files."""
    env = os.environ if env is None else env
    for var in _DC_ENV:
        if env.get(var):
            return f"{var} is set"
    base = Path(dmi_root)
    try:
        chassis = (base / "chassis_type").read_text().strip()
    except OSError:
        chassis = ""
    if chassis in _SERVER_CHASSIS:
        return f"DMI chassis type {chassis} (a server)"
    try:
        vendor = (base / "sys_vendor").read_text(errors="replace").strip()
    except OSError:
        vendor = ""
    if any(vendor.lower().startswith(v) for v in _CLOUD_VENDORS):
        return f"DMI vendor {vendor!r} (a cloud machine)"
    return None


def model_wanted(o: PlatformOptions, env: Mapping[str, str] | None = None) -> tuple[bool, str]:
    """Whether the rest-of-platform model is on, and why (for the doctor line and the channel)."""
    if o.model in ("on", "off"):
        return o.model == "on", f"platform_model = {o.model}"
    if o.site:  # the site setting says where the machine is: it decides, as it does for the PUE
        return o.site != "personal", f"platform_model = auto and site = {o.site}"
    sign = datacentre_signs(env, o.dmi_root or "/sys/class/dmi/id")
    if sign:
        return True, f"platform_model = auto and {sign}"
    return False, "platform_model = auto and nothing suggests a data centre (personal machine)"


def settle(opened: list[Sensor], options: PlatformOptions | None,
           env: Mapping[str, str] | None = None) -> list[Availability]:
    """After every family opened: elect the whole-machine total, or append the model to ``opened`` (last,
    so the sampler reads it after the channels it models from)."""
    o = options or PlatformOptions()
    parts = [c for s in opened for c in s.channels if c.in_total and c.component not in (WHOLE, REST)]
    lines = elect(opened)
    on, why = model_wanted(o, env)
    if lines:
        return lines + _guard(opened, parts, o if on else None)
    if not on:
        return [Availability("platform model", False, f"rest of the platform not modelled: {why}",
                             "set platform_model = \"on\" to add PSU losses, fans, disks and NICs as a modelled "
                             "figure")]
    from wattprint.sensors.platform.model import PlatformModel

    watched = [c.name for s in opened for c in s.channels if c.in_total and c.component != REST]
    if not watched:
        return [Availability("platform model", False, "nothing measured to model the rest of the platform from")]
    model = PlatformModel(watched, level=o.model_psu, other_w=o.model_other_w, psu_w=o.model_psu_w, why=why)
    opened.append(model)
    return model.describe()


def _guard(opened: list[Sensor], parts: list[Channel], model: PlatformOptions | None) -> list[Availability]:
    """Wrap the sensor of the elected total so the components stand in while it gives no reading
    (:mod:`.total`); the wrapper is read last, after the components it falls back on."""
    from wattprint.sensors.platform.model import BAND_MODEL, rest_w
    from wattprint.sensors.platform.total import MeteredTotal

    owner, chosen = next((s, c.name) for s in opened for c in s.channels if c.component == WHOLE and c.in_total)
    rest: Callable[[float], float] | None = None
    if model is not None:
        level, other_w, psu_w = model.model_psu, model.model_other_w, model.model_psu_w

        def rest(components_w: float) -> float:
            return rest_w(components_w, level, other_w, psu_w)

    # the stand-in's band: its widest component, plus a fifth of the model's (the rest is about a fifth of
    # a server's draw, at ±50 %); with no component at all, the model's own (nothing measured stands in)
    band = max((c.band for c in parts), default=BAND_MODEL) + (BAND_MODEL / 5 if rest is not None and parts else 0.0)
    opened.remove(owner)
    weakest = max((c.method for c in parts), key=list(Method).index, default=Method.MODELLED)
    opened.append(MeteredTotal(owner, chosen, [c.name for c in parts], rest=rest, fallback_band=band,
                               fallback_method=weakest))
    what = ", ".join(c.name for c in parts) or "no component channel (nothing stands in)"
    return [Availability("platform fallback", True,
                         f"while {chosen} gives no reading, the run's total counts {what}"
                         + (" + the modelled rest of the platform" if rest is not None else "") + f" (±{band:.0%})")]
