#!/bin/sh
# Bring the schema to the latest migration (one-shot, before the app starts), then replace this
# shell with the container's command so gunicorn is PID 1 and receives `docker stop`'s SIGTERM.
set -eu
alembic -c /app/alembic.ini upgrade head
exec "$@"
