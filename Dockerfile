# wxhook: callback server for WeChat Official Accounts.
#
#   docker build -t wxhook .
#   docker run --rm -p 8080:8080 --env-file .env \
#       -v "$PWD/deploy/config.toml:/etc/wxhook/config.toml:ro" wxhook
#
# tests/test_deploy.py reads this file: it checks the layout below and replays the pip steps
# and the CMD in a virtual environment, so keep RUN steps that use pip free of absolute paths.
#
# One stage, no compiler: wxhook is pure Python. Python 3.12 or newer starts tasks eagerly: a
# handler that answers without waiting costs no scheduling round (wxhook/loop.py).
FROM python:3.12-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

# A fixed, unprivileged UID/GID, so volume permissions and runAsNonRoot checks are predictable.
RUN groupadd --system --gid 10001 wxhook \
 && useradd --system --uid 10001 --gid wxhook --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin wxhook

WORKDIR /build

# Layer 1, dependencies only: rebuilt when pyproject.toml changes, not when the source does.
# The list is read from pyproject.toml, with the [speed] extra: uvloop, which
# server.event_loop = "auto" then uses.
COPY pyproject.toml ./
RUN python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb')); print('\n'.join(p['project']['dependencies'] + p['project']['optional-dependencies']['speed']))" > requirements.txt \
 && pip install -r requirements.txt

# Layer 2, the package itself, without touching the dependencies: pip builds its pure-Python
# wheel and installs it; the sources and build files are not kept.
COPY README.md ./
COPY wxhook/ wxhook/
RUN pip install --no-deps . && rm -rf wxhook build wxhook.egg-info

# Runtime. The working directory is on the plugin import path (`wxhook serve` adds it), so a
# derived image can `COPY myplugins/ /app/myplugins/` and list "myplugins.menu" in the config.
WORKDIR /app
USER 10001:10001

EXPOSE 8080
# Probes the port of the default config (server.port = 8080) on loopback; slim images have no
# curl, so it uses Python's urllib. An HTTP error or refused connection exits 1 (unhealthy).
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=3)"]

# wxhook is PID 1 (exec form, no shell in between) and handles SIGTERM itself: it stops taking
# connections and waits up to server.shutdown_grace seconds for work in flight.
STOPSIGNAL SIGTERM
CMD ["wxhook", "serve", "--config", "/etc/wxhook/config.toml"]
