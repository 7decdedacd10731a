"""The dashboard: a local, read-only web app over the stored runs (the ``dashboard`` extra).

``wattprint dashboard`` serves it (:mod:`wattprint.cli.dashboard`);
:func:`wattprint.dashboard.app.create_app` builds the ASGI app over any store
with the public read methods. Modules: ``app`` (routes), ``security`` (the
guard: read-only, loopback or token, headers), ``query`` (filters, totals),
``series`` (the power chart's data, reduced on the server), ``pages`` and
``runpage`` (the HTML), ``server`` (socket and uvicorn); ``static/`` holds the
page's own CSS and JS. Nothing here is imported by ``import wattprint``.
"""
