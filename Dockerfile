# wxhook: callback server for WeChat Official Accounts. Run it with docker-compose.yml (wxhook,
# Redis and a one-shot config check); docs/deployment.md has the details.
#
# Reproducible: every dependency comes from deploy/requirements.lock, pinned and checked
# against its hashes (scripts/lock.sh refreshes it), and the wheel is built with the setuptools
# pinned in deploy/build.lock. wxhook is pure Python: no compiler in either stage.
#
# Where Docker Hub cannot be reached, deploy/standins/build.sh builds local stand-ins for the
# two base images (this one and redis:7-alpine) from Debian packages.

# Stage 1: the virtual environment /opt/wxhook, built here so that the lock files, the sources
# and the build backend stay out of the image.
FROM python:3.12-slim-bookworm AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

WORKDIR /src

# Dependencies first, from the lock only (--no-deps: nothing unlisted arrives), so this layer is
# rebuilt when the lock changes, not when the source does.
COPY deploy/requirements.lock deploy/build.lock deploy/
RUN python -m venv /opt/wxhook \
 && /opt/wxhook/bin/pip install --require-hashes --no-deps -r deploy/requirements.lock \
 && python -m venv /opt/build \
 && /opt/build/bin/pip install --require-hashes --no-deps -r deploy/build.lock

COPY pyproject.toml README.md ./
COPY wxhook/ wxhook/
RUN /opt/build/bin/pip wheel --no-deps --no-build-isolation --wheel-dir /dist . \
 && /opt/wxhook/bin/pip install --no-deps /dist/*.whl

# Stage 2: the runtime, the same base with the virtual environment and nothing else.
FROM python:3.12-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/wxhook/bin:$PATH \
    WXHOOK_CONFIG=/etc/wxhook/config.toml

# A fixed, unprivileged UID/GID, so volume permissions and runAsNonRoot checks are predictable.
RUN groupadd --system --gid 10001 wxhook \
 && useradd --system --uid 10001 --gid wxhook --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin wxhook

COPY --from=build /opt/wxhook /opt/wxhook

# The working directory is on the plugin import path (`wxhook serve` adds it): compose mounts
# plugins at /app/plugins, and a derived image can `COPY myplugins/ /app/myplugins/`.
WORKDIR /app
USER 10001:10001

EXPOSE 8080
# `wxhook healthcheck` reads the same config as `serve` ($WXHOOK_CONFIG) and asks /healthz on
# its server.port over loopback; a refused connection or an HTTP error exits 1 (unhealthy).
HEALTHCHECK --interval=15s --timeout=5s --start-period=5s --retries=3 \
    CMD ["wxhook", "healthcheck"]

# wxhook is PID 1 (exec form, no shell in between) and handles SIGTERM itself: it stops taking
# connections and waits up to server.shutdown_grace seconds for work in flight.
STOPSIGNAL SIGTERM
CMD ["wxhook", "serve"]
