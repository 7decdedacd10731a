# the Redfish tests serve HTTPS on 127.0.0.1 with a certificate the openssl CLI makes (Debian package)
command -v openssl >/dev/null || (TMPDIR=/var/tmp apt-get update -qq && TMPDIR=/var/tmp apt-get install -y -qq openssl >/dev/null)
