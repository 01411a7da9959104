#!/bin/sh
# Start redis-server with one ACL user per role, from the environment (docker-compose.yml runs
# this as the redis service's command):
#   default  REDIS_PASSWORD          administration and the healthcheck (redis-cli)
#   worker   REDIS_WORKER_PASSWORD   latentfx workers
#   submit   REDIS_SUBMIT_PASSWORD   the CLI: submit, status, cancel, retry, purge
#   flower   REDIS_FLOWER_PASSWORD   Flower, Celery's monitor
# The ACL file holds only SHA-256 digests of the passwords (no password is written, and
# none appears on a command line). Usage: redis-users.sh ACLFILE [COMMAND...]: writes
# ACLFILE, then runs COMMAND (redis-server --aclfile ACLFILE ...) in its place.
set -eu
acl="$1"; shift
digest() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }
# Workers and submitters use queues, hashes, sets, scripts and pub/sub, and may read the
# configuration (`latentfx doctor`); neither may administer Redis (CONFIG SET, FLUSHALL,
# DEBUG, SHUTDOWN, ACL, ...). Flower may read and listen, and write only the bindings of
# its own event queue.
farm='~* &* +@all -@dangerous -@admin +config|get +info'
umask 077
{
  printf 'user default on #%s ~* &* +@all\n' "$(digest "${REDIS_PASSWORD:?}")"
  printf 'user worker on #%s %s\n' "$(digest "${REDIS_WORKER_PASSWORD:?}")" "$farm"
  printf 'user submit on #%s %s\n' "$(digest "${REDIS_SUBMIT_PASSWORD:?}")" "$farm"
  printf 'user flower on #%s %%R~* %%W~_kombu.binding.* &* -@all +@read +@pubsub +@connection +info +sadd +srem\n' \
    "$(digest "${REDIS_FLOWER_PASSWORD:?}")"
} > "$acl.tmp"
mv "$acl.tmp" "$acl"
[ "$#" -eq 0 ] || exec "$@"
