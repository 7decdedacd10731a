"""The site a run's machine is in, and the PUE that comes with it, apart from the grid.

Why apart: where the energy is generated (the grid) and what the building around the
machine adds (PUE) are two facts. A run on an AWS VM with ``--country US`` is still in
an AWS data centre, so the provider's PUE must not be dropped because the grid was
given by hand; a university cluster is a data centre even though no cloud answers.

The site, first answer wins, with the reason recorded:

1. the ``site`` setting (``--site``, ``WATTPRINT_SITE``, ``site`` in a config file);
2. the provider of a cloud region given as the location (``--cloud aws:us-east-1``);
3. a configured ``cloud_provider`` without a region;
4. cloud instance metadata that answered (the caller probes);
5. a batch scheduler or Kubernetes in the environment: a data centre of unknown
   operator, said to be a guess;
6. otherwise a personal machine.

PUE: an explicit ``pue`` setting wins; otherwise the site's default from
``data/pue.csv`` (personal 1.0, datacentre 1.56, each provider's fleet figure).
"""

from __future__ import annotations

from collections.abc import Mapping

from wattprint.intensity import static
from wattprint.settings import Settings

# Evidence for the site found by the location chain: (provider, how it was found).
Evidence = tuple[str, str]


def choose_site(settings: Settings, *, location: Evidence | None, configured: Evidence | None,
                detected: Evidence | None, environ: Mapping[str, str],
                warnings: list[str]) -> tuple[str, str]:
    """(site, why) from the settings and the evidence, in the order of the module doc."""
    from wattprint.intensity.locate import scheduler_hint

    if settings.is_set("site"):
        site = str(settings.get("site"))
        why = f"set by {settings.source('site')}"
        clash = next((e for e in (location, configured, detected) if e and e[0] != site), None)
        if clash is not None:
            warnings.append(f"site {site} ({why}) but {clash[1]} says {clash[0]}: the PUE "
                            f"is {site}'s; drop the site setting if the machine is on {clash[0]}.")
        return site, why
    for provider, how in (e for e in (location, configured, detected) if e):
        return provider, how
    hint = scheduler_hint(environ)
    if hint:
        return "datacentre", (f"{hint} suggests a data centre of unknown operator; set --site "
                              "(personal, datacentre, aws, gcp, azure) if that is wrong")
    return "personal", ("no site setting, cloud provider, metadata or batch scheduler found: "
                        "assumed a personal machine (set --site datacentre for a server room)")


def site_pue(settings: Settings, site: str, why: str) -> tuple[float, str]:
    """(PUE, where it comes from) for ``site`` chosen because of ``why``; an explicit
    ``pue`` setting wins. The text names the site and why, so every output that shows
    the PUE's source shows the site too."""
    if settings.is_set("pue"):
        return float(settings.get("pue")), f"set by {settings.source('pue')}"
    d = static.pue_defaults().get(site) or static.pue_defaults()["datacentre"]
    return d.pue, f"site {site} ({why}): {d.source}"
