#!/usr/bin/env bash
# Prepare DAGSTER_HOME for scripts/demo.sh and scripts/ui.sh (venv active, DAGSTER_HOME set).
# A new instance gets the project's dagster.yaml, and its storage is created here, before any
# run: left to the first runs, two runs starting at once both create the tables and one crashes
# ("table run_tags already exists").
set -euo pipefail
cd "$(dirname "$0")/.."
: "${DAGSTER_HOME:?DAGSTER_HOME must be set}"
mkdir -p "$DAGSTER_HOME"
if [ ! -f "$DAGSTER_HOME/dagster.yaml" ]; then
  cp dagster.yaml "$DAGSTER_HOME/dagster.yaml"
  dagster instance migrate >/dev/null
elif ! cmp -s dagster.yaml "$DAGSTER_HOME/dagster.yaml"; then
  echo "note: $DAGSTER_HOME/dagster.yaml differs from the project's (an older instance?):" \
    "see README 'Operations' for what an instance needs." >&2
fi
