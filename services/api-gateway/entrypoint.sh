#!/bin/sh
# The gateway owns no database, so there is nothing to prepare: replace this shell with the
# container's command so gunicorn is PID 1 and receives `docker stop`'s SIGTERM.
set -eu
exec "$@"
