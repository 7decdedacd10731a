# the PostgreSQL store tests start a throwaway server from Debian's binaries (initdb + pg_ctl,
# /usr/lib/postgresql/NN/bin) as the postgres user; psycopg comes with the test extra
ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 \
  || (apt-get update -qq && apt-get install -y -qq postgresql >/dev/null)
