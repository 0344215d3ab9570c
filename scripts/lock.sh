#!/usr/bin/env bash
# Refresh the Docker image's locks from pyproject.toml with pip-tools, on the image's Python
# (3.12), against PyPI only:
#   deploy/requirements.lock  the dependencies and the [speed] extra, pinned with their hashes
#   deploy/build.lock         the build backend (setuptools) that builds wxhook's wheel
#
#   bash scripts/lock.sh               # keep the pins that still satisfy pyproject.toml
#   bash scripts/lock.sh --upgrade     # move every pin to the newest release allowed
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON_IMAGE:-}
for candidate in python3.12 /root/.pyenv/versions/3.12.*/bin/python3; do
  [ -n "$PYTHON" ] && break
  if "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' >/dev/null 2>&1; then
    PYTHON=$candidate
  fi
done
[ -n "$PYTHON" ] || { echo "lock.sh: no Python 3.12 found (set PYTHON_IMAGE)" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$PYTHON" -m venv "$work/venv"
# The machine's pip configuration may add local indexes: the locks name PyPI's files only.
export PIP_CONFIG_FILE=/dev/null
"$work/venv/bin/pip" install --quiet pip-tools
compile() {
  # Run from deploy/ so that the command recorded in each lock's header is the same everywhere.
  (cd deploy && "$work/venv/bin/pip-compile" --quiet --generate-hashes --strip-extras \
    --allow-unsafe --no-emit-index-url --no-emit-find-links "$@" ../pyproject.toml)
}
compile --extra speed --output-file requirements.lock "${@}"
compile --only-build-deps --build-deps-for wheel --output-file build.lock "${@}"
echo "deploy/requirements.lock and deploy/build.lock written"
