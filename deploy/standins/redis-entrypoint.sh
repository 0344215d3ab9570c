#!/bin/sh
# Entrypoint of the redis:7-alpine stand-in, with the official image's behaviour:
#  - options alone, or a config file alone, mean redis-server with those;
#  - started as root (the default), redis-server runs as the unprivileged user redis, after
#    /data is given to that user (a fresh named volume is created owned by root);
#  - anything else (redis-cli, sh -c ...) runs as given.
set -e

case $1 in
  -* | *.conf) set -- redis-server "$@" ;;
esac

if [ "$1" = redis-server ] && [ "$(id -u)" = 0 ]; then
  find . ! -user redis -exec chown redis '{}' +
  # setpriv (util-linux, in every Debian) instead of gosu, which Debian minbase does not have.
  exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
fi

# Dumps and append-only files readable by their owner only, unless the caller set a umask.
if [ "$(umask)" = 0022 ]; then
  umask 0077
fi
exec "$@"
