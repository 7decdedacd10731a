# the HTML report and dashboard tests open pages in headless Chromium (Debian package)
command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)
