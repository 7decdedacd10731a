"""Resolve a run's grid intensity: the location chain, PUE, market factor, live series.

The location chain, first answer wins, every step recorded in ``Intensity.chain``:

1. explicit arguments (CLI flags / API keywords);
2. environment: ``WATTPRINT_COUNTRY``, ``WATTPRINT_REGION``, ``WATTPRINT_CLOUD_PROVIDER`` +
   ``WATTPRINT_CLOUD_REGION``;
3. config files (:mod:`wattprint.config`): ``country``, ``region``, ``cloud_provider`` +
   ``cloud_region``;
4. cloud instance metadata (AWS, GCP, Azure in parallel, 300 ms total budget; opt out
   with ``WATTPRINT_NO_CLOUD_PROBE=1``);
5. the world average, flagged ``fallback=True`` with a visible warning — never a silent
   guess (a peer silently falls back to Quebec, ~100x below the world average).

Within one step the most specific setting gives the grid: region, then cloud region,
then country. PUE: explicit (argument/env/config) → the cloud provider's fleet figure →
1.56 for a data centre of unknown operator → 1.0 for a personal machine.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping

from wattprint._record import Record
from wattprint.intensity import static
from wattprint.intensity.base import Intensity, LocationError

TYPE_CHECKING = False  # not from typing: importing it costs more than this module
if TYPE_CHECKING:
    from typing import Any

PUE_RANGE = (1.0, 3.0)
MARKET_RANGE = (0.0, 2000.0)
LIVE_BUDGET_S = 2.0
_TRUE = ("1", "true", "yes", "on")
# Valid subdivisions that the official table does not cover: use the national figure.
_UNPUBLISHED = {"CN-XZ": "Tibet (Xizang) is not in the official provincial table"}
_LIST_HINT = "list valid codes with `wattprint regions TEXT`"


class _Setting(Record):
    """Location settings found at one step of the chain."""

    __slots__ = ("label", "country", "region", "cloud_provider", "cloud_region", "labels")

    def __init__(
        self,
        label: str,  # "argument", "env", "config /path"
        country: str | None = None,
        region: str | None = None,
        cloud_provider: str | None = None,
        cloud_region: str | None = None,
        labels: dict[str, str] | None = None,
    ) -> None:
        self.label = label
        self.country = country
        self.region = region
        self.cloud_provider = cloud_provider
        self.cloud_region = cloud_region
        self.labels: dict[str, str] = labels if labels is not None else {}

    def label_for(self, key: str) -> str:
        """The label of the file/step that set ``key`` (config keys may come from two files)."""
        return self.labels.get(key, self.label)

    def has_location(self) -> bool:
        return bool(self.country or self.region or self.cloud_region)


def _clean(v: object) -> str | None:
    if v is None:
        return None
    s = str(v).strip()
    return s or None


def _config_label(config: Mapping[str, object], key: str) -> str:
    sources = config.get("_sources")
    if isinstance(sources, Mapping) and key in sources:
        return f"config {sources[key]}"
    return "config"


def _grid_for(s: _Setting, warnings: list[str]) -> tuple[static.GridRecord, str, str | None]:
    """(grid, how it was chosen, cloud provider) for one step; user mistakes → LocationError."""
    provider = s.cloud_provider.lower() if s.cloud_provider else None
    if s.cloud_region and ":" in s.cloud_region and not provider:
        provider, _, rest = s.cloud_region.partition(":")
        provider, s.cloud_region = provider.lower(), rest
    if provider and provider not in static.PROVIDERS:
        raise LocationError(f"unknown cloud provider '{s.cloud_provider or provider}' "
                            f"(known: {', '.join(static.PROVIDERS)}); {_LIST_HINT}")
    if s.region:
        if ":" in s.region:  # --region aws:eu-west-3 is a cloud region
            p, _, r = s.region.partition(":")
            return _cloud_grid(s.label_for("region"), p.lower(), r) + (p.lower(),)
        g = static.grid(s.region)
        if g is None:
            g = _unpublished_subdivision(s.region, warnings)
        return g, f"{s.label_for('region')}: region {s.region}", provider
    if s.cloud_region:
        if not provider:
            raise LocationError(f"cloud region '{s.cloud_region}' needs its provider: write it "
                                f"as aws:{s.cloud_region} (or set the cloud provider); {_LIST_HINT}")
        return _cloud_grid(s.label_for("cloud_region"), provider, s.cloud_region) + (provider,)
    assert s.country
    g = static.grid(s.country)
    if g is None or g.kind == "world":
        raise LocationError(f"unknown country code '{s.country}' (use ISO 3166 alpha-2 such as "
                            f"FR or US); {_LIST_HINT}")
    return g, f"{s.label_for('country')}: country {s.country}", provider


def _cloud_grid(label: str, provider: str, region: str) -> tuple[static.GridRecord, str]:
    if provider not in static.PROVIDERS:
        raise LocationError(f"unknown cloud provider '{provider}' (known: "
                            f"{', '.join(static.PROVIDERS)}); {_LIST_HINT}")
    cr = static.cloud_region(provider, region)
    if cr is None:
        raise LocationError(f"unknown {provider} region '{region}'; list known ones with "
                            f"`wattprint regions {provider}:`")
    g = static.grid(cr.grid)
    assert g is not None, f"cloud table maps {cr.code} to unknown grid {cr.grid}"
    return g, f"{label}: cloud {cr.code} ({cr.location}) -> grid {cr.grid}"


def _unpublished_subdivision(code: str, warnings: list[str]) -> static.GridRecord:
    c = code.strip().upper().replace("_", "-")
    country, sep, sub = c.partition("-")
    parent = static.grid(country) if sep and sub else None
    if parent is None or parent.kind != "country" or not (1 <= len(sub) <= 3 and sub.isalnum()):
        raise LocationError(f"unknown region code '{code}' (use ISO 3166-2 style such as US-CA "
                            f"or AU-NSW); {_LIST_HINT}")
    if static.has_subnational(country) and c not in _UNPUBLISHED:
        raise LocationError(f"unknown region code '{code}' for {parent.name}; "
                            f"list them with `wattprint regions {country}-`")
    why = _UNPUBLISHED.get(c, f"no sub-national figure for {parent.name} is embedded")
    warnings.append(f"{c}: {why}; using the {parent.name} national figure "
                    f"({parent.g_per_kwh:.0f} gCO2e/kWh).")
    return parent


def _number(raw: object, name: str, bounds: tuple[float, float], what: str) -> float:
    try:
        if isinstance(raw, bool):
            raise ValueError
        v = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise LocationError(f"{name} must be a number ({what}), got {raw!r}") from None
    lo, hi = bounds
    if not (lo <= v <= hi):
        raise LocationError(f"{name} must be between {lo:g} and {hi:g} ({what}), got {v:g}")
    return v


def _first_number(steps: list[tuple[object, str]], bounds: tuple[float, float],
                  what: str) -> tuple[float, str] | None:
    for raw, label in steps:
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            continue
        return _number(raw, label, bounds, what), label
    return None


def _probe_enabled(probe_cloud: bool | None, env: Mapping[str, str],
                   config: Mapping[str, object]) -> tuple[bool, str]:
    if probe_cloud is not None:
        return probe_cloud, "by argument"
    if env.get("WATTPRINT_NO_CLOUD_PROBE", "").strip().lower() in _TRUE:
        return False, "WATTPRINT_NO_CLOUD_PROBE is set"
    if config.get("cloud_probe") is False:
        return False, f"cloud_probe = false in {_config_label(config, 'cloud_probe')}"
    from wattprint.intensity.locate import dmi_says_not_cloud

    vendor = dmi_says_not_cloud()
    if vendor:
        return False, f"DMI vendor '{vendor}' is not a cloud VM"
    return True, ""


def resolve(*, country: str | None = None, region: str | None = None,
            cloud_provider: str | None = None, cloud_region: str | None = None,
            pue: float | None = None, market_g_per_kwh: float | None = None,
            env: Mapping[str, str] | None = None, config: Mapping[str, object] | None = None,
            probe_cloud: bool | None = None,
            metadata_urls: Mapping[str, str] | None = None) -> Intensity:
    """The grid intensity (gCO2e/kWh), PUE and market factor for a run, with provenance.

    ``env`` defaults to ``os.environ``; ``config=None`` loads the config files
    (:func:`wattprint.config.load_config`, which may raise ``ConfigError``).
    ``probe_cloud``: None = automatic (unless opted out), True/False = force.
    ``metadata_urls`` overrides the metadata base URLs (tests). Raises
    :class:`LocationError` for an unknown code or an out-of-range number.
    """
    env = os.environ if env is None else env
    if config is None:
        from wattprint.config import load_config

        config = load_config(env=env)
    chain: list[str] = []
    warnings: list[str] = []

    steps = [
        _Setting("argument", _clean(country), _clean(region), _clean(cloud_provider),
                 _clean(cloud_region)),
        _Setting("env", _clean(env.get("WATTPRINT_COUNTRY")), _clean(env.get("WATTPRINT_REGION")),
                 _clean(env.get("WATTPRINT_CLOUD_PROVIDER")),
                 _clean(env.get("WATTPRINT_CLOUD_REGION"))),
    ]
    cfg_keys = ("country", "region", "cloud_provider", "cloud_region")
    cfg_vals = {k: _clean(config.get(k)) for k in cfg_keys}
    used = [k for k in cfg_keys if cfg_vals[k]]
    steps.append(_Setting(_config_label(config, used[0]) if used else "config", **cfg_vals,
                          labels={k: _config_label(config, k) for k in used}))

    grid: static.GridRecord | None = None
    provider: str | None = None
    provider_hint: tuple[str, str] | None = None
    for s in steps:
        if s.cloud_provider and not s.has_location() and provider_hint is None:
            p = s.cloud_provider.lower()
            if p not in static.PROVIDERS:
                raise LocationError(f"unknown cloud provider '{s.cloud_provider}' (known: "
                                    f"{', '.join(static.PROVIDERS)})")
            provider_hint = (p, s.label_for("cloud_provider"))
            chain.append(f"{s.label_for('cloud_provider')}: cloud provider {p} without a "
                         "region (used for PUE only)")
            continue
        if not s.has_location():
            chain.append(f"{s.label}: no location set")
            continue
        grid, how, provider = _grid_for(s, warnings)
        chain.append(how)
        break

    if grid is None:
        enabled, why = _probe_enabled(probe_cloud, env, config)
        if not enabled:
            chain.append(f"cloud metadata: not probed ({why})")
        else:
            from wattprint.intensity.locate import probe_cloud as _probe

            res = _probe(metadata_urls)
            chain.extend(res.notes)
            if res.provider and res.region:
                cr = static.cloud_region(res.provider, res.region)
                if cr is None:
                    provider = res.provider
                    warnings.append(f"{res.provider} region '{res.region}' (from instance "
                                    "metadata) is not in wattprint's table; set --country or "
                                    "--region for an accurate figure.")
                else:
                    grid = static.grid(cr.grid)
                    provider = res.provider
                    chain.append(f"cloud metadata: {cr.code} ({cr.location}) -> grid {cr.grid} "
                                 f"in {res.elapsed_s * 1000:.0f} ms")

    fallback = grid is None
    if grid is None:
        grid = static.world()
        warnings.append(
            f"Location unknown: using the world average {grid.g_per_kwh:g} gCO2e/kWh "
            f"(Ember {grid.year}). Set --country/--region, WATTPRINT_COUNTRY or `country` in "
            "wattprint.toml for your grid's figure.")
        chain.append(f"fallback: world average {grid.g_per_kwh:g} gCO2e/kWh ({grid.year})")
    else:
        chain.append(f"grid {grid.code} ({grid.name}): {grid.g_per_kwh:.2f} gCO2e/kWh, "
                     f"{grid.year}, {grid.source}")

    if provider is None and provider_hint is not None:
        provider = provider_hint[0]
    pue_v, pue_src = _resolve_pue(pue, env, config, provider)
    chain.append(f"pue {pue_v:g}: {pue_src}")

    market = _first_number(
        [(market_g_per_kwh, "argument market_g_per_kwh"),
         (env.get("WATTPRINT_MARKET_G_PER_KWH"), "env WATTPRINT_MARKET_G_PER_KWH"),
         (config.get("market_g_per_kwh"),
          f"{_config_label(config, 'market_g_per_kwh')} market_g_per_kwh")],
        MARKET_RANGE, "contractual gCO2e/kWh")
    m_val, m_src = (None, None) if market is None else market
    if market is not None:
        chain.append(f"market-based factor {m_val:g} gCO2e/kWh from {m_src}")

    return Intensity(g_per_kwh=grid.g_per_kwh, source=grid.source, location=grid.code,
                     year=grid.year, fallback=fallback, pue=pue_v, pue_source=pue_src,
                     chain=chain, warnings=warnings, market_g_per_kwh=m_val,
                     market_source=(f"contractual factor ({m_src})" if m_src else None))


def _resolve_pue(pue: float | None, env: Mapping[str, str], config: Mapping[str, object],
                 provider: str | None) -> tuple[float, str]:
    explicit = _first_number(
        [(pue, "argument pue"), (env.get("WATTPRINT_PUE"), "env WATTPRINT_PUE"),
         (config.get("pue"), f"{_config_label(config, 'pue')} pue")],
        PUE_RANGE, "data-centre overhead factor")
    if explicit is not None:
        return explicit[0], f"set by {explicit[1]}"
    defaults = static.pue_defaults()
    if provider is not None:
        d = defaults.get(provider) or defaults["datacentre"]
        if d.key == "datacentre":
            return d.pue, f"data centre of unknown operator: {d.source}"
        return d.pue, f"{provider} fleet default: {d.source}"
    d = defaults["personal"]
    return d.pue, d.source


# --------------------------------------------------------------------------- live series


def finalize(intensity: Intensity, start_utc: float, end_utc: float, *, budget_s: float = 2.0,
             env: Mapping[str, str] | None = None, config: Mapping[str, object] | None = None,
             cache_dir: str | None = None) -> Intensity:
    """Attach a live hourly series over ``[start_utc, end_utc]`` when a provider is configured.

    Returns a new :class:`Intensity` (the input is not modified). No provider configured →
    the input, at once, with no network. Otherwise the fetch runs in a daemon thread and
    is abandoned after ``budget_s`` (at most 2 s): on timeout or error the embedded figure
    stays and a warning + chain entry say why. Responses are cached on disk.
    """
    env = os.environ if env is None else env
    budget_s = max(0.0, min(budget_s, LIVE_BUDGET_S))
    if config is None:
        from wattprint.config import ConfigError, load_config

        try:
            config = load_config(env=env)
        except ConfigError as exc:
            return _with_note(intensity, f"live: not tried ({exc})", warn=True)
    from wattprint.intensity.live import choose_provider

    try:
        provider = choose_provider(intensity.location, env, config)
    except ValueError as exc:
        return _with_note(intensity, f"live: {exc}; kept the embedded figure", warn=True)
    if provider is None:
        return intensity
    from wattprint.intensity.live.cache import DiskCache, default_cache_dir

    cache = DiskCache(cache_dir or default_cache_dir(env, config))
    box: dict[str, Any] = {}
    deadline = time.monotonic() + budget_s

    def work() -> None:
        try:
            box["result"] = provider.hourly(start_utc, end_utc, deadline=deadline, cache=cache)
        except Exception as exc:  # noqa: BLE001 - never escape into the host program
            box["error"] = exc

    t = threading.Thread(target=work, name="wattprint-live", daemon=True)
    t.start()
    t.join(max(0.0, deadline - time.monotonic()))
    if "result" not in box:
        if "error" in box:
            why = f"failed ({box['error']})"
        else:
            why = f"did not answer within {budget_s:g} s"
        return _with_note(intensity, f"live: {provider.name} {why}; kept the embedded "
                          f"figure {intensity.g_per_kwh:.2f} gCO2e/kWh", warn=True)
    hourly, from_cache = box["result"]
    lo = start_utc - start_utc % 3600.0
    hourly = sorted((float(h), float(g)) for h, g in hourly if lo <= h <= end_utc)
    if not hourly:
        return _with_note(intensity, f"live: {provider.name} returned no value for the run's "
                          "hours; kept the embedded figure", warn=True)
    out = intensity.replace(hourly=hourly, live_source=provider.source)
    out.chain.append(f"live: {provider.source}, {len(hourly)} hourly value(s)"
                     + (" (disk cache)" if from_cache else ""))
    if provider.marginal:
        out.warnings.append(f"{provider.name} gives a marginal (MOER) rate, not the average "
                            "grid intensity; the figures are not comparable with Ember's.")
    return out


def _with_note(intensity: Intensity, note: str, *, warn: bool) -> Intensity:
    out = intensity.replace(chain=[*intensity.chain, note])
    if warn:
        out.warnings.append(note[len("live: "):] if note.startswith("live: ") else note)
    return out
