#!/bin/sh
# Bring the schema to the latest migration, then replace this shell with the container's command
# so gunicorn is PID 1 and receives `docker stop`'s SIGTERM. `invoke deploy` on compose migrates
# each database once, as a step before the apps start, and sets NBSHIP_MIGRATE_ON_START=0: then
# the app does not migrate (and an older release runs on a newer, compatible schema).
set -eu
if [ "${NBSHIP_MIGRATE_ON_START:-1}" != 0 ]; then
  alembic -c /app/alembic.ini upgrade head
fi
exec "$@"
