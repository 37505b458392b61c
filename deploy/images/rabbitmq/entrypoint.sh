#!/bin/sh
# Writes the broker's default user from the environment into its config, then starts it.
set -eu
: "${RABBITMQ_DEFAULT_USER:?RABBITMQ_DEFAULT_USER is required}"
: "${RABBITMQ_DEFAULT_PASS:?RABBITMQ_DEFAULT_PASS is required}"
umask 077
cat > /etc/rabbitmq/conf.d/10-nbship.conf <<CONF
default_user = ${RABBITMQ_DEFAULT_USER}
default_pass = ${RABBITMQ_DEFAULT_PASS}
loopback_users = none
listeners.tcp.default = 5672
CONF
unset RABBITMQ_DEFAULT_PASS
exec "$@"
