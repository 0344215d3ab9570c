#!/usr/bin/env bash
# Install what the tests need, make sure a Redis server answers, then run every check and test.
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
# The topology tests (tests/test_topologies.py) start their own redis-server processes (Sentinel
# too, as `redis-server --sentinel`) and build a cluster with redis-cli: both binaries are needed
# even when a Redis already answers. Debian's redis-server package brings redis-cli along.
if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
  echo "redis-server or redis-cli is missing: installing them with apt-get" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server redis-tools >/dev/null
fi
if ! redis_answers; then
  echo "starting redis-server on 127.0.0.1:$REDIS_PORT (nothing kept on disk)" >&2
  redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" \
    --save "" --appendonly no --dir /tmp --logfile /tmp/wxhook-test-redis.log
  for _ in $(seq 50); do redis_answers && break; sleep 0.1; done
  redis_answers || { echo "redis-server did not start" >&2; exit 1; }
fi
export WXHOOK_TEST_REDIS_URL=${WXHOOK_TEST_REDIS_URL:-redis://127.0.0.1:$REDIS_PORT/15}

# 3. Lint, types, tests.
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy --strict wxhook
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"

# 4. Python 3.12 or newer starts tasks eagerly (wxhook/loop.py): handlers and the HTTP layer
#    then take other paths, which the Docker image (Python 3.12) runs. When such an interpreter
#    is on the machine (PYTHON_EAGER, or python3.13 / python3.12, pyenv's included), the tests
#    of those parts run under it too, in .venv-eager.
if [ $# -eq 0 ]; then
  EAGER=${PYTHON_EAGER:-}
  for candidate in python3.13 python3.12 /root/.pyenv/versions/3.13.*/bin/python3 \
                   /root/.pyenv/versions/3.12.*/bin/python3; do
    [ -n "$EAGER" ] && break
    if "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; then
      EAGER=$candidate
    fi
  done
  if [ -n "$EAGER" ]; then
    [ -x .venv-eager/bin/python ] || "$EAGER" -m venv .venv-eager
    .venv-eager/bin/python -m pip install --quiet --upgrade pip
    .venv-eager/bin/python -m pip install --quiet -e '.[test]'
    echo "eager tasks: the embedding, server, dispatcher, process and security tests on $(.venv-eager/bin/python -V)"
    .venv-eager/bin/python -m pytest -q -p no:cacheprovider \
      tests/test_embed.py tests/test_server.py tests/test_dispatcher.py tests/test_process.py tests/test_security.py \
      tests/test_hostile_http.py
  else
    echo "no Python >= 3.12 found: the eager-task paths were not tested (set PYTHON_EAGER)" >&2
  fi
fi
