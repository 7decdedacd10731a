"""Live grid-intensity providers (opt-in): Electricity Maps, UK Carbon Intensity, WattTime.

:func:`choose_provider` reads the settings (:mod:`wattprint.settings`) and returns the one
provider to ask, or None when none is configured — then no network is touched.
Selection: ``live_provider`` (env ``WATTPRINT_LIVE_PROVIDER`` or config) names one
(``electricitymaps``, ``uk``, ``watttime``, ``off``); otherwise the first configured of
Electricity Maps (key), UK Carbon Intensity (enabled and location GB), WattTime
(credentials and region). Base URLs can be overridden (``WATTPRINT_ELECTRICITYMAPS_URL``,
``WATTPRINT_UK_CARBON_INTENSITY_URL``, ``WATTPRINT_WATTTIME_URL`` or the ``*_url`` config
keys) for tests and proxies.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from wattprint.intensity.live.common import LiveError
    from wattprint.intensity.live.provider import LiveProvider
    from wattprint.settings import Settings

__all__ = ["LiveError", "LiveProvider", "choose_provider"]


def __getattr__(name: str) -> object:
    # common pulls in urllib.request (~40 ms): only when a provider is really used
    if name == "LiveError":
        from wattprint.intensity.live import common

        return common.LiveError
    if name == "LiveProvider":
        from wattprint.intensity.live import provider

        return provider.LiveProvider
    raise AttributeError(name)

def choose_provider(location: str, settings: Settings) -> LiveProvider | None:
    """The configured provider for grid ``location``, or None; bad settings → ValueError.

    ``settings`` (:mod:`wattprint.settings`) holds the provider keys from the
    environment and the config files, already checked.
    """
    get = settings.get
    choice = get("live_provider")
    if choice == "off":
        return None
    from wattprint.intensity.static import place_grid

    location = place_grid(location)  # gcp:europe-west2 -> GB: live zones follow the place
    em_key = get("electricitymaps_api_key")
    is_gb = location.upper() == "GB" or location.upper().startswith("GB-")
    wt_user, wt_pass, wt_region = get("watttime_username"), get("watttime_password"), get("watttime_region")

    if choice == "electricitymaps" or (not choice and em_key):
        if not em_key:
            raise ValueError("Electricity Maps chosen but no key: set ELECTRICITYMAPS_API_KEY")
        from wattprint.intensity.live.electricitymaps import DEFAULT_URL, ElectricityMaps, zone_for

        zone = get("electricitymaps_zone") or zone_for(location)
        if not zone:
            raise ValueError(f"no Electricity Maps zone for grid '{location}': set "
                             "electricitymaps_zone in the config (e.g. US-CAL-CISO)")
        return ElectricityMaps(em_key, zone, get("electricitymaps_url") or DEFAULT_URL)
    if choice == "uk" or (not choice and get("uk_carbon_intensity") and is_gb):
        if not is_gb:
            raise ValueError(f"UK Carbon Intensity covers Great Britain only, not '{location}'")
        from wattprint.intensity.live.ukcarbon import DEFAULT_URL, UKCarbonIntensity

        return UKCarbonIntensity(get("uk_carbon_intensity_url") or DEFAULT_URL)
    if choice == "watttime" or (not choice and wt_user and wt_pass):
        if not (wt_user and wt_pass and wt_region):
            raise ValueError("WattTime needs WATTTIME_USERNAME, WATTTIME_PASSWORD and "
                             "watttime_region (e.g. CAISO_NORTH)")
        from wattprint.intensity.live.watttime import DEFAULT_URL, WattTime

        return WattTime(wt_user, wt_pass, wt_region, get("watttime_url") or DEFAULT_URL)
    return None
