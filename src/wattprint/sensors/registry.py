"""The sensor families wattprint knows, in one list, and opening the ones a run uses.

A *family* is one way of turning hardware into channels: ``rapl`` (CPU and
DRAM counters), ``model`` (the CPU and RAM model), ``nvml`` (NVIDIA GPUs),
``amd`` (AMD GPUs), ``platform`` (the whole machine: hwmon meters, IPMI DCMI,
Redfish, or the modelled rest of the platform). :data:`FAMILIES` is the one list: the tracker, ``wattprint
doctor`` and :func:`open_sensors` all read it, so a new family is one entry
here and one module under ``cpu/``, ``gpu/`` or ``platform/``.

A *choice* (``Tracker(sensors=[...])``) names families and may add the user's
own sensors: a :class:`~wattprint.sensors.base.Sensor` instance, or a factory
(a class or function, called without arguments) returning one. ``None`` means
every family, which is what this host offers:

* families that share an opener are opened together, so the model fills in
  only what the chosen counters do not measure (``["rapl", "model"]``: RAPL,
  plus RAM modelled when RAPL has no DRAM zone), and ``--gpus`` entries may
  name a GPU of either vendor;
* ``["model"]`` alone models CPU and RAM even where RAPL works;
  ``["rapl", "nvml"]`` gives measured figures only, and the doctor lines say
  what goes uncounted.

Opening never raises for hardware that is missing or unreadable (a doctor
line says why and how to fix it); it raises for bad user input: an unknown
family name (:class:`~wattprint.errors.ConfigError`, with the known names), a
``gpus`` value naming no GPU, a bad ``tdp_w``
(:class:`~wattprint.errors.SensorError`).

Standard library only; sensor modules are imported when their family opens.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from wattprint._record import FrozenRecord
from wattprint.errors import ConfigError
from wattprint.sensors.base import Availability, Sensor

TYPE_CHECKING = False  # not from typing: importing it costs more than this module
if TYPE_CHECKING:
    from typing import Any, TypeAlias

    Factory: TypeAlias = Callable[[], Sensor]
    Entry: TypeAlias = "str | Sensor | Factory"
    Opened: TypeAlias = tuple[list[Sensor], list[Availability]]

    from wattprint.sensors.platform.opener import PlatformOptions

__all__ = ["FAMILIES", "Family", "SensorOptions", "family_names", "open_sensors", "parse_choice"]


class SensorOptions(FrozenRecord):
    """The options families take. ``env``, ``nvml`` and ``amdsmi`` replace the process
    environment and the vendor modules (tests, benchmarks); None: the real ones."""

    __slots__ = ("rapl_root", "gpus", "tdp_w", "env", "nvml", "amdsmi", "platform")
    rapl_root: str | Path | None
    gpus: str | None
    tdp_w: float | None
    env: Mapping[str, str] | None
    nvml: Any
    amdsmi: Any
    platform: PlatformOptions | None

    def __init__(
        self,
        rapl_root: str | Path | None = None,
        gpus: str | None = None,
        tdp_w: float | None = None,
        env: Mapping[str, str] | None = None,
        nvml: Any = None,
        amdsmi: Any = None,
        platform: PlatformOptions | None = None,
    ) -> None:
        super().__init__(rapl_root, gpus, tdp_w, env, nvml, amdsmi, platform)


class Family(FrozenRecord):
    """One sensor family: its name, what it measures, the options it takes, how to open it.

    ``opener(chosen, options)`` opens the families in ``chosen`` (the names of
    this opener's families that the user chose; families sharing an opener
    are opened in one call) and returns the sensors and one doctor line per
    decision.
    """

    __slots__ = ("name", "measures", "methods", "options", "opener", "summary")
    name: str
    measures: str
    methods: str
    options: tuple[str, ...]
    opener: Callable[[frozenset[str], SensorOptions], Opened]
    summary: str

    def __init__(
        self,
        name: str,
        measures: str,
        methods: str,
        options: tuple[str, ...],
        opener: Callable[[frozenset[str], SensorOptions], Opened],
        summary: str,
    ) -> None:
        super().__init__(name, measures, methods, options, opener, summary)


def _open_cpu(chosen: frozenset[str], options: SensorOptions) -> Opened:
    from wattprint.sensors.cpu.choice import open_cpu_sensors

    return open_cpu_sensors(
        options.rapl_root, model_fallback="model" in chosen, tdp_w=options.tdp_w, rapl="rapl" in chosen
    )


def _open_gpu(chosen: frozenset[str], options: SensorOptions) -> Opened:
    from wattprint.sensors.gpu.selection import open_gpu_sensors

    vendors = [vendor for name, vendor in (("nvml", "nvidia"), ("amd", "amd")) if name in chosen]
    return open_gpu_sensors(
        options.gpus, env=options.env, nvml=options.nvml, amdsmi=options.amdsmi, vendors=vendors
    )


def _open_platform(chosen: frozenset[str], options: SensorOptions) -> Opened:
    from wattprint.sensors.platform.opener import open_platform_sensors

    return open_platform_sensors(options.platform)


FAMILIES: tuple[Family, ...] = (
    Family(
        "rapl", "cpu:package-N, dram:package-N, psys", "counter", ("rapl_root",), _open_cpu,
        "Linux RAPL energy counters (Intel, AMD Zen) read from the powercap sysfs tree",
    ),
    Family(
        "model", "cpu:model, ram (what no chosen counter measures)", "modelled", ("tdp_w",), _open_cpu,
        "CPU TDP x load curve and installed RAM x W/GiB",
    ),
    Family(
        "nvml", "gpu:GPU-<uuid>", "counter, power-integrated or modelled", ("gpus",), _open_gpu,
        "NVIDIA GPUs through NVML (nvidia-ml-py)",
    ),
    Family(
        "amd", "gpu:<uuid>", "counter, power-integrated or modelled", ("gpus",), _open_gpu,
        "AMD GPUs through amdsmi",
    ),
    Family(
        "platform", "platform:hwmon-N, platform:psu-input, platform:ipmi, platform:redfish, "
        "platform:rest-modelled", "counter, power-integrated or modelled", ("platform",), _open_platform,
        "the whole machine (hwmon meters, IPMI DCMI, Redfish); else the rest of the platform modelled",
    ),
)
_BY_NAME = {f.name: f for f in FAMILIES}


def family_names() -> tuple[str, ...]:
    """The registered family names, in the order they are opened by default."""
    return tuple(_BY_NAME)


# -- the user's choice ------------------------------------------------------------------


def parse_choice(sensors: str | Sensor | Factory | Iterable[Entry] | None) -> tuple[Entry, ...]:
    """Check a ``sensors=`` value; return it as a tuple of family names and custom sensors.

    ``None``: every family. A string is a comma list of names (``"rapl,nvml"``);
    a single Sensor or factory stands for a list of one. Names are trimmed and
    lower-cased, repeats dropped. Raises :class:`ConfigError` (one line, the
    nearest known name and the full list) for an unknown name, an entry that is
    neither a name, a Sensor nor a callable, or an empty choice.
    """
    if sensors is None:
        return family_names()
    items: list[Any]
    if isinstance(sensors, str):
        items = sensors.split(",")
    elif isinstance(sensors, Sensor) or callable(sensors):
        items = [sensors]
    else:
        try:
            items = list(sensors)
        except TypeError:
            raise ConfigError(_bad_entry(sensors)) from None
    out: list[Entry] = []
    for item in items:
        entry = _check_entry(item)
        if not any(entry is e or (isinstance(entry, str) and entry == e) for e in out):
            out.append(entry)
    if not out:
        raise ConfigError(
            f"sensors={sensors!r} chooses no sensor; leave it out for every family, "
            f"or name some of: {', '.join(family_names())}"
        )
    return tuple(out)


def _check_entry(item: object) -> Entry:
    if isinstance(item, str):
        name = item.strip().lower()
        if name in _BY_NAME:
            return name
        import difflib  # only on the error path: it costs import time

        near = difflib.get_close_matches(name, family_names(), n=1)
        hint = f"did you mean {near[0]!r}? " if near else ""
        raise ConfigError(
            f"unknown sensor family {item!r}: {hint}known families: {', '.join(family_names())}"
        )
    if isinstance(item, Sensor) or callable(item):
        return item
    raise ConfigError(_bad_entry(item))


def _bad_entry(item: object) -> str:
    return (
        f"sensors: {item!r} is not a sensor family name ({', '.join(family_names())}), "
        "a wattprint.sensors.base.Sensor, nor a factory returning one"
    )


# -- opening ----------------------------------------------------------------------------


def open_sensors(
    sensors: str | Sensor | Factory | Iterable[Entry] | None = None,
    *,
    rapl_root: str | Path | None = None,
    gpus: str | None = None,
    tdp_w: float | None = None,
    env: Mapping[str, str] | None = None,
    nvml: Any = None,
    amdsmi: Any = None,
    platform: PlatformOptions | None = None,
) -> Opened:
    """Open the chosen sensors; return them and one doctor line per decision taken.

    ``sensors`` is a choice as :func:`parse_choice` takes it (None: every
    family). ``rapl_root`` points RAPL at another powercap tree (tests,
    benchmarks); ``gpus`` is ``None`` (the GPUs the work can see, per
    CUDA_VISIBLE_DEVICES), ``"all"``, ``"none"``, or a comma list of
    indices/UUIDs; ``tdp_w`` overrides the CPU model's TDP table; ``platform``
    configures the whole-machine sensors and the rest-of-platform model. An option
    that no chosen family takes is reported in a line, not silently dropped.

    A sensor whose channel names repeat an earlier sensor's is not used (a
    line says so): two sensors adding up one consumer would double-count it.
    A factory that raises gives a line, not an exception.
    """
    choice = parse_choice(sensors)
    options = SensorOptions(rapl_root, gpus, tdp_w, env, nvml, amdsmi, platform)
    names = frozenset(e for e in choice if isinstance(e, str))
    lines = _unused_options(names, options)
    opened: list[Sensor] = []
    done: set[object] = set()
    try:
        for entry in choice:
            if isinstance(entry, str):
                opener = _BY_NAME[entry].opener
                if opener in done:
                    continue
                done.add(opener)
                group = frozenset(n for n in names if _BY_NAME[n].opener is opener)
                got, got_lines = opener(group, options)
            else:
                got, got_lines = _open_custom(entry)
            lines += got_lines
            for sensor in got:
                _add_unless_overlapping(opened, sensor, lines)
        if "platform" in names:  # after every family: one whole-machine total, or the model read last
            from wattprint.sensors.platform.opener import settle

            lines += settle(opened, options.platform, options.env)
    except BaseException:
        for sensor in opened:
            _close_quietly(sensor)
        raise
    return opened, lines


def _unused_options(names: frozenset[str], options: SensorOptions) -> list[Availability]:
    taken = {o for n in names for o in _BY_NAME[n].options}
    return [
        Availability(
            f"option {key}", False, f"{key}={getattr(options, key)!r} not used: no chosen sensor family takes it"
        )
        for key in ("rapl_root", "gpus", "tdp_w", "platform")
        if getattr(options, key) is not None and key not in taken
    ]


def _label(entry: object) -> str:
    return str(getattr(entry, "__qualname__", None) or getattr(entry, "name", None) or type(entry).__name__)


def _open_custom(entry: Sensor | Factory) -> Opened:
    """A user's sensor (or what their factory returns) and its doctor lines."""
    if isinstance(entry, Sensor):
        sensor = entry
    else:
        try:
            sensor = entry()
        except Exception as exc:  # the user's code: say so, measure the rest
            return [], [Availability(_label(entry), False, f"sensor factory failed: {type(exc).__name__}: {exc}")]
        if not isinstance(sensor, Sensor):
            return [], [
                Availability(
                    _label(entry), False,
                    f"sensor factory returned {type(sensor).__name__}, not a wattprint.sensors.base.Sensor",
                )
            ]
    try:
        return [sensor], sensor.describe()
    except Exception as exc:
        return [sensor], [Availability(sensor.name, True, f"custom sensor (describe() failed: {exc})")]


def _add_unless_overlapping(opened: list[Sensor], sensor: Sensor, lines: list[Availability]) -> None:
    seen = {c.name for s in opened for c in s.channels}
    clash = sorted(c.name for c in sensor.channels if c.name in seen)
    if not clash:
        opened.append(sensor)
        return
    lines.append(
        Availability(
            sensor.name, False,
            f"not used: channel {', '.join(clash)} is already measured by another sensor",
            "choose one of the two sensors",
        )
    )
    _close_quietly(sensor)


def _close_quietly(sensor: Sensor) -> None:
    try:
        sensor.close()
    except Exception:  # noqa: S110 - closing is best effort
        pass
