#!/usr/bin/env bash
# Install what the tests need, make sure a Redis server answers, then run every check and every
# tier of tests: unit (no Redis, no subprocess), integration (a real Redis), system (processes:
# wxhook serve, the CLI, redis-server clusters, the docs build, and the image and compose files
# with a Docker engine, which tests/dockerharness.py installs and starts when missing). Then the
# whole suite again under the Python of the Docker image (3.12), when one is on the machine.
#
#   bash scripts/test.sh                  # everything
#   bash scripts/test.sh tests/unit       # pytest arguments: only these, on this Python
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
REDIS_PORT=${WXHOOK_TEST_REDIS_PORT:-6379}

# 1. A virtual environment with wxhook and its test extra.
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test]'

# 2. Redis: use the one that answers, else start one, installing it first if it is missing.
redis_answers() {
  .venv/bin/python - "$REDIS_PORT" <<'PY'
import socket, sys
try:
    with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1) as s:
        s.sendall(b"PING\r\n")
        sys.exit(0 if s.recv(16).startswith(b"+PONG") else 1)
except OSError:
    sys.exit(1)
PY
}
# The topology tests start their own redis-server processes (Sentinel too, as `redis-server
# --sentinel`) and build a cluster with redis-cli: both binaries are needed even when a Redis
# already answers. Debian's redis-server package brings redis-cli along.
if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
  echo "redis-server or redis-cli is missing: installing them with apt-get" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server redis-tools >/dev/null
fi
# tests/system/test_console.py drives the console in Debian's headless Chromium (through its
# chromedriver); a CJK font keeps the page's Chinese labels readable in its screenshots.
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
  echo "chromium or chromedriver is missing: installing them with apt-get" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
    chromium chromium-driver fonts-wqy-zenhei >/dev/null
fi
if ! redis_answers; then
  echo "starting redis-server on 127.0.0.1:$REDIS_PORT (nothing kept on disk)" >&2
  redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" \
    --save "" --appendonly no --dir /tmp --logfile /tmp/wxhook-test-redis.log
  for _ in $(seq 50); do redis_answers && break; sleep 0.1; done
  redis_answers || { echo "redis-server did not start" >&2; exit 1; }
fi
export WXHOOK_TEST_REDIS_URL=${WXHOOK_TEST_REDIS_URL:-redis://127.0.0.1:$REDIS_PORT/15}

# 3. Lint and types.
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy --strict wxhook

if [ $# -gt 0 ]; then
  exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
fi

# 4. The tiers. The unit tier runs with the Redis URL pointing at a closed port: it must not
#    need one (a test that asked for Redis would fail there, not skip).
echo "unit tests (no Redis, no subprocess)"
WXHOOK_TEST_REDIS_URL=redis://127.0.0.1:1/15 .venv/bin/python -m pytest -q -p no:cacheprovider tests/unit
echo "integration and system tests, and the examples' tests"
.venv/bin/python -m pytest -q -p no:cacheprovider tests/integration tests/system examples

# 5. The Docker image runs Python 3.12, which starts tasks eagerly (wxhook/loop.py): handlers
#    and the HTTP layer then take other paths. The whole suite runs under it too when a 3.12 is
#    on the machine (PYTHON_IMAGE, python3.12, or pyenv's).
IMAGE_PYTHON=${PYTHON_IMAGE:-}
for candidate in python3.12 /root/.pyenv/versions/3.12.*/bin/python3; do
  [ -n "$IMAGE_PYTHON" ] && break
  if "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' >/dev/null 2>&1; then
    IMAGE_PYTHON=$candidate
  fi
done
if [ -n "$IMAGE_PYTHON" ]; then
  [ -x .venv-image/bin/python ] || "$IMAGE_PYTHON" -m venv .venv-image
  .venv-image/bin/python -m pip install --quiet --upgrade pip
  .venv-image/bin/python -m pip install --quiet -e '.[test]'
  echo "the whole suite again on $(.venv-image/bin/python -V), the Docker image's Python"
  # The compose test has run above; it builds the image, which brings its own Python 3.12.
  .venv-image/bin/python -m pytest -q -p no:cacheprovider tests examples \
    --ignore=tests/system/test_compose.py
else
  echo "no Python 3.12 found: the suite did not run on the Docker image's Python (set PYTHON_IMAGE)" >&2
fi
