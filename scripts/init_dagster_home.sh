#!/usr/bin/env bash
# Prepare DAGSTER_HOME for scripts/demo.sh and scripts/ui.sh (venv active, DAGSTER_HOME set).
# A new instance gets the project's dagster.yaml, and its storage and `trainer` pool limit are
# created here, before any run: left to the first runs, two runs starting at once both create
# the tables and one crashes ("table run_tags already exists"), and the limit would be the
# default one, which follows later edits of dagster.yaml's pools.default_limit.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${DAGSTER_HOME:?DAGSTER_HOME must be set}"
mkdir -p "$DAGSTER_HOME"
if [ ! -f "$DAGSTER_HOME/dagster.yaml" ]; then
  cp dagster.yaml "$DAGSTER_HOME/dagster.yaml"
  dagster instance concurrency set trainer 1 >/dev/null
elif ! cmp -s dagster.yaml "$DAGSTER_HOME/dagster.yaml"; then
  echo "note: $DAGSTER_HOME/dagster.yaml differs from the project's (older instance?): without" \
    "run_monitoring a killed training keeps the trainer pool; see README 'Operations'." >&2
fi
