"""Live grid-intensity providers (opt-in): Electricity Maps, UK Carbon Intensity, WattTime.

:func:`choose_provider` reads the settings (env first, then config) and returns the one
provider to ask, or None when none is configured — then no network is touched.
Selection: ``live_provider`` (env ``WATTPRINT_LIVE_PROVIDER`` or config) names one
(``electricitymaps``, ``uk``, ``watttime``, ``off``); otherwise the first configured of
Electricity Maps (key), UK Carbon Intensity (enabled and location GB), WattTime
(credentials and region). Base URLs can be overridden (``WATTPRINT_ELECTRICITYMAPS_URL``,
``WATTPRINT_UK_CARBON_INTENSITY_URL``, ``WATTPRINT_WATTTIME_URL`` or the ``*_url`` config
keys) for tests and proxies.
"""

from __future__ import annotations

from collections.abc import Mapping

TYPE_CHECKING = False
if TYPE_CHECKING:
    from wattprint.intensity.live.common import LiveError, LiveProvider

__all__ = ["LiveError", "LiveProvider", "choose_provider"]


def __getattr__(name: str) -> object:
    # common pulls in urllib.request (~40 ms): only when a provider is really used
    if name in ("LiveError", "LiveProvider"):
        from wattprint.intensity.live import common

        return getattr(common, name)
    raise AttributeError(name)

_TRUE = ("1", "true", "yes", "on")
_NAMES = ("electricitymaps", "uk", "watttime", "off")


def _get(env: Mapping[str, str], config: Mapping[str, object], env_key: str,
         cfg_key: str) -> str | None:
    v = env.get(env_key)
    if v is None or not str(v).strip():
        c = config.get(cfg_key)
        v = c if isinstance(c, str) else None
    return v.strip() if v and v.strip() else None


def choose_provider(location: str, env: Mapping[str, str],
                    config: Mapping[str, object]) -> LiveProvider | None:
    """The configured provider for grid ``location``, or None; bad settings → ValueError."""
    choice = (_get(env, config, "WATTPRINT_LIVE_PROVIDER", "live_provider") or "").lower()
    if choice and choice not in _NAMES:
        raise ValueError(f"unknown live provider '{choice}' (known: {', '.join(_NAMES)})")
    if choice == "off":
        return None
    em_key = _get(env, config, "ELECTRICITYMAPS_API_KEY", "electricitymaps_api_key")
    uk_raw = env.get("WATTPRINT_UK_CARBON_INTENSITY")
    uk_on = (uk_raw.strip().lower() in _TRUE) if uk_raw else config.get("uk_carbon_intensity") is True
    is_gb = location.upper() == "GB" or location.upper().startswith("GB-")
    wt_user = _get(env, config, "WATTTIME_USERNAME", "watttime_username")
    wt_pass = _get(env, config, "WATTTIME_PASSWORD", "watttime_password")
    wt_region = _get(env, config, "WATTTIME_REGION", "watttime_region")

    if choice == "electricitymaps" or (not choice and em_key):
        if not em_key:
            raise ValueError("Electricity Maps chosen but no key: set ELECTRICITYMAPS_API_KEY")
        from wattprint.intensity.live.electricitymaps import DEFAULT_URL, ElectricityMaps, zone_for

        zone = _get(env, config, "WATTPRINT_ELECTRICITYMAPS_ZONE", "electricitymaps_zone") \
            or zone_for(location)
        if not zone:
            raise ValueError(f"no Electricity Maps zone for grid '{location}': set "
                             "electricitymaps_zone in the config (e.g. US-CAL-CISO)")
        url = _get(env, config, "WATTPRINT_ELECTRICITYMAPS_URL", "electricitymaps_url")
        return ElectricityMaps(em_key, zone, url or DEFAULT_URL)
    if choice == "uk" or (not choice and uk_on and is_gb):
        if not is_gb:
            raise ValueError(f"UK Carbon Intensity covers Great Britain only, not '{location}'")
        from wattprint.intensity.live.ukcarbon import DEFAULT_URL, UKCarbonIntensity

        url = _get(env, config, "WATTPRINT_UK_CARBON_INTENSITY_URL", "uk_carbon_intensity_url")
        return UKCarbonIntensity(url or DEFAULT_URL)
    if choice == "watttime" or (not choice and wt_user and wt_pass):
        if not (wt_user and wt_pass and wt_region):
            raise ValueError("WattTime needs WATTTIME_USERNAME, WATTTIME_PASSWORD and "
                             "watttime_region (e.g. CAISO_NORTH)")
        from wattprint.intensity.live.watttime import DEFAULT_URL, WattTime

        url = _get(env, config, "WATTPRINT_WATTTIME_URL", "watttime_url")
        return WattTime(wt_user, wt_pass, wt_region, url or DEFAULT_URL)
    return None
