#!/bin/sh
# The upstream rabbitmq image's handling of RABBITMQ_DEFAULT_USER / _PASS / _VHOST:
# the broker's default user (tag administrator, every permission on the default
# vhost) made at its first start, and kept in /var/lib/rabbitmq after that.
set -eu
conf=/etc/rabbitmq/rabbitmq.conf
: > "$conf"
[ -n "${RABBITMQ_DEFAULT_USER:-}" ] && echo "default_user = $RABBITMQ_DEFAULT_USER" >> "$conf"
[ -n "${RABBITMQ_DEFAULT_PASS:-}" ] && echo "default_pass = $RABBITMQ_DEFAULT_PASS" >> "$conf"
[ -n "${RABBITMQ_DEFAULT_VHOST:-}" ] && echo "default_vhost = $RABBITMQ_DEFAULT_VHOST" >> "$conf"
echo "loopback_users = none" >> "$conf"
exec "$@"
