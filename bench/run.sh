#!/usr/bin/env bash
# The whole benchmark in one command: installs what it needs (wrk and redis-server from Debian,
# the rest into .venv-bench), then runs the side-by-side server benchmark and the protocol-core
# microbenchmark, and writes bench/results/. Arguments go to bench/sidebyside.py, e.g.
#   bash bench/run.sh                      # 3 interleaved rounds of 10 s per case, a few minutes
#   bash bench/run.sh --also wxhook-memory # also wxhook with its memory store: Redis's CPU share
#   bash bench/run.sh --rounds 0 --soak 1000000 --out bench/results/soak.json
#                                          # wxhook's RSS over a million pushes per mode
#   bash bench/run.sh --smoke              # only start the three servers and check their replies
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v taskset >/dev/null 2>&1 || missing+=(util-linux)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]} with apt-get" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# One venv per interpreter: PYTHON=python3.12 bash bench/run.sh runs all three servers on 3.12.
VENV=${BENCH_VENV:-.venv-bench}
[ "$PYTHON" = python3 ] || VENV=${BENCH_VENV:-.venv-bench-$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')}
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet -e . -r bench/requirements.txt

"$VENV/bin/python" bench/sidebyside.py "$@"
case " $* " in
  *" --smoke "* | *" --rounds 0 "*) ;;  # a smoke test or a soak alone: no microbenchmark
  *) "$VENV/bin/python" bench/core.py ;;
esac
