# Stand-in for redis:7-alpine, built by build.sh on top of a debootstrapped Debian bookworm with
# Debian's redis-server and redis-tools (Redis 7.0). This file adds what `docker import` cannot:
# the official image's start-up behaviour and settings.
ARG ROOTFS
FROM ${ROOTFS}

ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# /usr/local/bin comes before /usr/bin, so every `redis-server` started by name, also from a
# compose `sh -c` command that bypasses the entrypoint, gets the official default of protected
# mode off (see redis-server-wrapper).
COPY redis-server-wrapper /usr/local/bin/redis-server
COPY redis-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
RUN chmod 0755 /usr/local/bin/redis-server /usr/local/bin/docker-entrypoint.sh \
 && install -d -o redis -g redis -m 0755 /data

VOLUME /data
WORKDIR /data
EXPOSE 6379

ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["redis-server"]
