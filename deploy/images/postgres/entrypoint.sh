#!/bin/sh
# First start: create the cluster in the (empty) volume with the user, password and database
# from the environment. Later starts: use the cluster as it is.
set -eu
: "${POSTGRES_USER:?POSTGRES_USER is required}"
: "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is required}"
: "${POSTGRES_DB:?POSTGRES_DB is required}"

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  pwfile="$(mktemp)"
  printf '%s' "$POSTGRES_PASSWORD" > "$pwfile"
  initdb --pgdata="$PGDATA" --username="$POSTGRES_USER" --pwfile="$pwfile" \
    --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >/dev/null
  rm -f "$pwfile"
  # Connections come from the compose network, never from outside it (no published port).
  echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
  # Create the database on a socket-only server, so nothing can connect half-initialised.
  pg_ctl --pgdata="$PGDATA" --options="-c listen_addresses=''" --wait --silent start
  createdb --username="$POSTGRES_USER" "$POSTGRES_DB"
  pg_ctl --pgdata="$PGDATA" --mode=fast --wait --silent stop
  echo "postgres-entrypoint: initialised database $POSTGRES_DB"
fi
# The password is only needed at initdb; do not leave it in the server's environment.
unset POSTGRES_PASSWORD
exec "$@"
