"""Resolve a run's grid intensity: the location chain, PUE, market factor, live series.

The settings come from :mod:`wattprint.settings` (read once per run, with their
sources); this module reads no environment variable and no file. The location chain,
first answer wins, every step recorded in ``Intensity.chain``:

1. explicit arguments (CLI flags / API keywords);
2. environment: ``WATTPRINT_COUNTRY``, ``WATTPRINT_REGION``, ``WATTPRINT_CLOUD_PROVIDER`` +
   ``WATTPRINT_CLOUD_REGION``;
3. ``./wattprint.toml``, then the user config file: ``country``, ``region``,
   ``cloud_provider`` + ``cloud_region``;
4. cloud instance metadata (AWS, GCP, Azure in parallel, 300 ms total budget; opt out
   with ``WATTPRINT_NO_CLOUD_PROBE=1`` or ``cloud_probe = false``);
5. the world average, flagged ``fallback=True`` with a visible warning — never a silent
   guess (a peer silently falls back to Quebec, ~100x below the world average).

Within one step the most specific setting gives the grid: region, then cloud region,
then country. A cloud region draws from the grid of its site (the eGRID subregion in the
US, the provider's own published figure where there is one); when a second defensible
figure for the same site differs by more than 20 %, it is named in ``alternatives``.
The site (personal, datacentre, aws, gcp, azure) and its PUE are chosen apart from the
grid, in :mod:`wattprint.intensity.site`, so an explicit location never drops a
provider's PUE: metadata is probed for the site even when the location is given.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from wattprint._record import Record
from wattprint._threads import new_thread
from wattprint.intensity import static
from wattprint.intensity.base import Intensity, LocationError
from wattprint.intensity.site import Evidence, choose_site, site_pue
from wattprint.settings import LEVELS, Settings

TYPE_CHECKING = False  # not from typing: importing it costs more than this module
if TYPE_CHECKING:
    from typing import Any

    from wattprint.intensity.live.fetcher import LiveFetcher
    from wattprint.intensity.live.provider import LiveProvider

_LEVEL_NAMES = {"argument": "argument", "env": "env", "project": "project file", "user": "user file"}
# Valid subdivisions that the official table does not cover: use the national figure.
_UNPUBLISHED = {"CN-XZ": "Tibet (Xizang) is not in the official provincial table"}
_LIST_HINT = "list valid codes with `wattprint regions TEXT`"


class _Setting(Record):
    """Location settings found at one step of the chain."""

    __slots__ = ("label", "country", "region", "cloud_provider", "cloud_region", "labels")

    def __init__(
        self,
        label: str,  # "argument", "env", "project file", "user file"
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


class _Found(Record):
    """What one step of the chain gave: the grid, how, the cloud provider and region."""

    __slots__ = ("grid", "how", "provider", "cloud")

    def __init__(self, grid: static.GridRecord, how: str, provider: str | None = None,
                 cloud: static.CloudRegion | None = None) -> None:
        self.grid = grid
        self.how = how
        self.provider = provider
        self.cloud = cloud


def _grid_for(s: _Setting, warnings: list[str]) -> _Found:
    """The grid for one step; user mistakes → LocationError."""
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
            return _cloud_grid(s.label_for("region"), p.lower(), r)
        _refuse_ambiguous_region(s.region, s.label_for("region"))
        g = static.grid(s.region)
        if g is None:
            g = _unpublished_subdivision(s.region, warnings)
        return _Found(g, f"{s.label_for('region')}: region {s.region}", provider)
    if s.cloud_region:
        if not provider:
            raise LocationError(f"cloud region '{s.cloud_region}' needs its provider: write it "
                                f"as aws:{s.cloud_region} (or set the cloud provider); {_LIST_HINT}")
        return _cloud_grid(s.label_for("cloud_region"), provider, s.cloud_region)
    assert s.country
    g = static.grid(s.country)
    if g is None or g.kind not in ("country",):
        raise LocationError(f"unknown country code '{s.country}' (use ISO 3166 alpha-2 such as "
                            f"FR or US); {_LIST_HINT}")
    return _Found(g, f"{s.label_for('country')}: country {s.country}", provider)


def _refuse_ambiguous_region(code: str, label: str) -> None:
    """A bare two-letter region that is both a country and a US state (CA, IN, GA ...)."""
    c = code.strip().upper()
    country, state = static.grid(c), static.grid(f"US-{c}")
    if len(c) == 2 and country is not None and state is not None:
        raise LocationError(f"{label}: region '{code}' is ambiguous: write --country {c} for "
                            f"{country.name} or --region US-{c} for {state.name}")


def _cloud_grid(label: str, provider: str, region: str) -> _Found:
    if provider not in static.PROVIDERS:
        raise LocationError(f"unknown cloud provider '{provider}' (known: "
                            f"{', '.join(static.PROVIDERS)}); {_LIST_HINT}")
    cr = static.cloud_region(provider, region)
    if cr is None:
        raise LocationError(f"unknown {provider} region '{region}'; list known ones with "
                            f"`wattprint regions {provider}:`")
    g = static.grid(cr.grid)
    assert g is not None, f"cloud table maps {cr.code} to unknown grid {cr.grid}"
    return _Found(g, f"{label}: cloud {cr.code} ({cr.location}) -> grid {g.code}", provider, cr)


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


def _steps(settings: Settings) -> list[_Setting]:
    """One step of the chain per source level (argument, env, project file, user file)."""
    steps = []
    for level in LEVELS:
        values: dict[str, str] = {}
        labels: dict[str, str] = {}
        for key in ("country", "region", "cloud_provider", "cloud_region"):
            for value, label, lvl in settings.layers(key):
                if lvl == level:
                    values[key] = str(value)
                    labels[key] = "argument" if label.startswith("argument ") else label
        steps.append(_Setting(_LEVEL_NAMES[level], labels=labels, **values))
    return steps


def _probe_enabled(settings: Settings) -> tuple[bool, str]:
    probe = settings.get("probe_cloud")
    if probe is not None:
        return probe, f"turned {'on' if probe else 'off'} by {settings.source('probe_cloud')}"
    from wattprint.intensity.locate import dmi_says_not_cloud

    vendor = dmi_says_not_cloud()
    if vendor:
        return False, f"DMI vendor '{vendor}' is not a cloud VM"
    return True, ""


def resolve(*, country: str | None = None, region: str | None = None,
            cloud_provider: str | None = None, cloud_region: str | None = None,
            pue: float | None = None, market_g_per_kwh: float | None = None,
            probe_cloud: bool | None = None, site: str | None = None,
            settings: Settings | None = None, metadata_urls: Mapping[str, str] | None = None,
            environ: Mapping[str, str] | None = None) -> Intensity:
    """The grid intensity (gCO2e/kWh), site, PUE and market factor for a run, with provenance.

    ``settings`` is what :func:`wattprint.settings.load` found (flags, environment,
    config files); this function reads none of them itself. Explicit keywords come
    first (checked like any setting: a bad number raises ``ConfigError``); without
    ``settings`` only they count. ``probe_cloud``: None = automatic, True/False =
    force. ``metadata_urls`` overrides the metadata base URLs (tests); ``environ`` is
    where a batch scheduler is looked for (default: this process's environment).
    Raises :class:`LocationError` for an unknown or ambiguous code.
    """
    import os

    explicit = {"country": country, "region": region, "cloud_provider": cloud_provider,
                "cloud_region": cloud_region, "pue": pue, "market_g_per_kwh": market_g_per_kwh,
                "probe_cloud": probe_cloud, "site": site}
    settings = (settings or Settings()).with_arguments(explicit, where="resolve()")
    chain: list[str] = []
    warnings: list[str] = []
    found, configured = _walk_steps(settings, chain, warnings)
    given = found  # the location set by the user (not found by the probe)
    detected: Evidence | None = None
    if found is None:
        found, detected = _from_metadata(settings, metadata_urls, chain, warnings)
    elif found.provider is None and configured is None and not settings.is_set("site"):
        detected = _detect_provider(settings, metadata_urls, chain)

    fallback = found is None
    if found is None:
        grid = static.world()
        warnings.append(
            f"Location unknown: using the world average {grid.g_per_kwh:g} gCO2e/kWh "
            f"(Ember {grid.year}). Set --country/--region, WATTPRINT_COUNTRY or `country` in "
            "wattprint.toml for your grid's figure.")
        chain.append(f"fallback: world average {grid.g_per_kwh:g} gCO2e/kWh ({grid.year})")
    else:
        grid = found.grid
        chain.append(f"grid {grid.code} ({grid.name}): {grid.g_per_kwh:.2f} gCO2e/kWh, "
                     f"{grid.year}, {grid.basis_text()}, {grid.source}")
    alternatives = _alternatives(found, chain)

    located: Evidence | None = None
    if given is not None and given.provider is not None:
        where = f"cloud region {given.cloud.code}" if given.cloud else "the location"
        located = (given.provider, f"{where} is on {given.provider} ({given.how.split(':')[0]})")
    site_v, site_why = choose_site(settings, location=located, configured=configured,
                                   detected=detected, environ=os.environ if environ is None
                                   else environ, warnings=warnings)
    chain.append(f"site {site_v}: {site_why}")
    pue_v, pue_src = site_pue(settings, site_v, site_why)
    chain.append(f"pue {pue_v:g}: " + (pue_src if settings.is_set("pue") else f"the {site_v} default"))

    m_val = m_src = None
    if settings.is_set("market_g_per_kwh"):
        m_val, m_src = settings.get("market_g_per_kwh"), settings.source("market_g_per_kwh")
        chain.append(f"market-based factor {m_val:g} gCO2e/kWh from {m_src}")

    return Intensity(g_per_kwh=grid.g_per_kwh, source=grid.source, location=grid.code,
                     year=grid.year, fallback=fallback, pue=pue_v, pue_source=pue_src,
                     chain=chain, warnings=warnings, market_g_per_kwh=m_val,
                     market_source=(f"contractual factor ({m_src})" if m_src else None),
                     basis=dict(grid.basis), site=site_v, site_source=site_why,
                     place=_place(found), alternatives=alternatives)


def _walk_steps(settings: Settings, chain: list[str],
                warnings: list[str]) -> tuple[_Found | None, Evidence | None]:
    """The first step with a location, and a cloud provider configured without a region."""
    configured: Evidence | None = None
    for s in _steps(settings):
        if s.cloud_provider and not s.has_location() and configured is None:
            p = s.cloud_provider.lower()
            if p not in static.PROVIDERS:
                raise LocationError(f"unknown cloud provider '{s.cloud_provider}' (known: "
                                    f"{', '.join(static.PROVIDERS)})")
            configured = (p, f"cloud provider {p} set by {s.label_for('cloud_provider')}")
            chain.append(f"{s.label_for('cloud_provider')}: cloud provider {p} without a "
                         "region (used for the site and PUE only)")
            continue
        if not s.has_location():
            chain.append(f"{s.label}: no location set")
            continue
        found = _grid_for(s, warnings)
        chain.append(found.how)
        return found, configured
    return None, configured


def _place(found: _Found | None) -> str | None:
    """Where the energy is drawn, in words: the cloud region and its location, or the grid."""
    if found is None:
        return None
    if found.cloud is not None:
        return f"{found.cloud.code} ({found.cloud.location})"
    return found.grid.name


def _alternatives(found: _Found | None, chain: list[str]) -> list[str]:
    """Another defensible figure for a cloud region's site, when > 20 % from the one used."""
    if found is None or found.cloud is None:
        return []
    alt = static.alternative(found.cloud)
    if alt is None:
        return []
    g, gap = alt
    text = (f"{g.code} ({g.name}): {g.g_per_kwh:.2f} gCO2e/kWh, {g.year}, {g.basis_text()}; "
            f"{g.source} -- {gap:+.0%} from the {found.grid.code} figure used")
    chain.append(f"alternative figure for this site: {text}")
    return [text]


def _from_metadata(settings: Settings, metadata_urls: Mapping[str, str] | None, chain: list[str],
                   warnings: list[str]) -> tuple[_Found | None, Evidence | None]:
    """(grid found, provider detected) from cloud instance metadata, when probing is on."""
    res = _probe_metadata(settings, metadata_urls, chain)
    if res is None or not (res.provider and res.region):
        return None, None
    detected = (res.provider, f"{res.provider} instance metadata answered")
    cr = static.cloud_region(res.provider, res.region)
    if cr is None:
        warnings.append(f"{res.provider} region '{res.region}' (from instance "
                        "metadata) is not in wattprint's table; set --country or "
                        "--region for an accurate figure.")
        return None, detected
    g = static.grid(cr.grid)
    assert g is not None, f"cloud table maps {cr.code} to unknown grid {cr.grid}"
    how = f"cloud metadata: {cr.code} ({cr.location}) -> grid {g.code} in {res.elapsed_s * 1000:.0f} ms"
    chain.append(how)
    return _Found(g, how, res.provider, cr), detected


def _detect_provider(settings: Settings, metadata_urls: Mapping[str, str] | None,
                     chain: list[str]) -> Evidence | None:
    """The cloud this machine is on, for its site and PUE only (the location was given)."""
    res = _probe_metadata(settings, metadata_urls, chain, purpose=" for the site")
    if res is None or not res.provider:
        return None
    chain.append(f"cloud metadata: on {res.provider} ({res.region}); the grid stays the one "
                 "set, the site and PUE are the provider's")
    return (res.provider, f"{res.provider} instance metadata answered")


def _probe_metadata(settings: Settings, metadata_urls: Mapping[str, str] | None,
                    chain: list[str], purpose: str = "") -> Any:
    enabled, why = _probe_enabled(settings)
    if not enabled:
        chain.append(f"cloud metadata{purpose}: not probed ({why})")
        return None
    from wattprint.intensity.locate import probe_cloud as _probe

    res = _probe(metadata_urls)
    chain.extend(res.notes)
    return res


# --------------------------------------------------------------------------- live series


def live_fetcher(intensity: Intensity, start_utc: float, settings: Settings | None = None, *,
                 cache_dir: str | None = None) -> LiveFetcher | None:
    """A background fetcher for the configured provider (not started), or None without one.

    The tracker starts it for a run and hands it to :func:`finalize` at the end. Bad
    live settings give None here: :func:`finalize` says what is wrong.
    """
    settings = settings or Settings()
    from wattprint.intensity.live import choose_provider

    try:
        provider = choose_provider(intensity.location, settings)
    except ValueError:
        return None
    if provider is None:
        return None
    from wattprint.intensity.live.cache import DiskCache, default_cache_dir
    from wattprint.intensity.live.fetcher import LiveFetcher

    cache = DiskCache(cache_dir or settings.get("cache_dir") or default_cache_dir())
    return LiveFetcher(provider, cache, start_utc, settings.get("live_fetch_every_s"))


def finalize(intensity: Intensity, start_utc: float, end_utc: float, *, budget_s: float | None = None,
             settings: Settings | None = None, cache_dir: str | None = None,
             fetcher: LiveFetcher | None = None) -> Intensity:
    """Attach the live values over ``[start_utc, end_utc]`` when a provider is configured.

    Returns a new :class:`Intensity` (the input is not modified); with no provider, the
    input at once, with no network. ``fetcher`` holds what a background fetcher already
    gathered (:func:`live_fetcher`); only the rest is asked for now, on a daemon thread
    abandoned after ``budget_s`` (default: the provider's budget, 2 s per request its
    sequence makes). An average signal replaces the embedded figure where it covers;
    a marginal one (WattTime) is a figure of its own. Rejected values, failures and
    time-outs leave the embedded figure, a warning and a chain entry.
    """
    if fetcher is None:
        try:
            fetcher = live_fetcher(intensity, start_utc, settings, cache_dir=cache_dir)
            if fetcher is None:
                from wattprint.intensity.live import choose_provider

                choose_provider(intensity.location, settings or Settings())  # the reason, if any
                return intensity
        except ValueError as exc:
            return _with_note(intensity, f"live: {exc}; kept the embedded figure", warn=True)
    provider = fetcher.provider
    budget = max(0.0, budget_s if budget_s is not None else provider.budget_s)
    deadline = time.monotonic() + budget
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            fetcher.fetch_until(end_utc, deadline)
        except Exception as exc:  # noqa: BLE001 - never escape into the host program
            box["error"] = f"{provider.name}: failed ({type(exc).__name__})"

    t = new_thread(work, "wattprint-live")
    t.start()
    t.join(max(0.0, deadline - time.monotonic()))
    points, faults, problems = fetcher.snapshot(start_utc, end_utc)
    why = problems[-1] if problems else box.get("error")
    if t.is_alive():
        why = f"{provider.name} did not answer within {budget:g} s"
    return _attach(intensity, provider, points, faults, why)


def _attach(intensity: Intensity, provider: LiveProvider, points: list[Any], faults: list[str],
            why: str | None) -> Intensity:
    """``intensity`` with the provider's checked points, faults and notes."""
    kept = f"kept the embedded figure {intensity.g_per_kwh:.2f} gCO2e/kWh"
    if not points:
        if faults and not why:
            why = f"{provider.name}: all {len(faults)} value(s) for the run implausible, rejected"
        return _with_note(intensity, f"live: {why or provider.name + ' returned no value for the run'}"
                          f"; {kept}", warn=True, faults=faults)
    basis = dict(provider.basis)
    if provider.signal == "marginal":
        out = intensity.replace(marginal=points, marginal_source=provider.source, marginal_basis=basis)
    else:
        out = intensity.replace(series=points, live_source=provider.source, live_basis=basis)
    res = {int(p[1] - p[0]) for p in points}
    out.chain.append(f"live: {provider.source}, {len(points)} value(s) of {'/'.join(f'{r:g} s' for r in sorted(res))}"
                     f" ({', '.join(f'{k} {v}' for k, v in basis.items())})")
    if why:  # part of the span fetched, the rest failed
        out.chain.append(f"live: {why}")
        out.warnings.append(f"{why}; spans without a live value use the embedded figure")
    if faults:
        out.live_faults = list(faults)
        out.warnings.append(f"{provider.name}: {len(faults)} implausible value(s) rejected; the "
                            f"embedded figure priced those spans")
    return out


def _with_note(intensity: Intensity, note: str, *, warn: bool, faults: list[str] | None = None) -> Intensity:
    out = intensity.replace(chain=[*intensity.chain, note])
    if faults:
        out.live_faults = list(faults)
    if warn:
        out.warnings.append(note[len("live: "):] if note.startswith("live: ") else note)
    return out
