#!/usr/bin/env bash
# Open the Dagster UI (webserver + daemon) on the demo's instance: http://127.0.0.1:3000
# With the settings the demo ran with (its symbols, months, planted symbols), recorded in
# $DAGSTER_HOME/resnet_demo_settings.json; a RESNET_* variable set here wins over the file.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck disable=SC1091
. .venv/bin/activate
export DAGSTER_HOME="${DAGSTER_HOME:-$PWD/.dagster_home}"
demo_env="$(python -m resnet_pipeline.cli.demo --print-env)"
eval "$demo_env"
export RESNET_SOURCE="${RESNET_SOURCE:-synthetic}"
bash scripts/init_dagster_home.sh  # dagster.yaml and storage, before any run
exec dagster dev -w workspace.yaml -h "${HOST:-127.0.0.1}" -p "${PORT:-3000}"
