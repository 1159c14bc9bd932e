#!/usr/bin/env bash
# Set up (scripts/setup.sh, with the scale-out extra and servers unless RESNET_SCALE=0) and run
# the linters and the whole test suite, offline.
set -euo pipefail
cd "$(dirname "$0")/.."
RESNET_SCALE="${RESNET_SCALE:-1}" bash scripts/setup.sh 2> >(grep -v "is ignored: it is neither" >&2)
# shellcheck disable=SC1091
. .venv/bin/activate
ruff check .
ruff format --check .
python -m pytest -n 2 -q -p no:cacheprovider "$@"
