# the exporter tests push to a real Pushgateway and have a real Prometheus scrape `wattprint exporter`
# (Debian packages; their services are not started: each test starts its own on 127.0.0.1)
if ! command -v prometheus >/dev/null || ! command -v prometheus-pushgateway >/dev/null; then
  apt-get update -qq && apt-get install -y -qq --no-install-recommends prometheus prometheus-pushgateway >/dev/null
fi
