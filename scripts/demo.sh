#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the main job offline end to end on synthetic candles:
# both symbols, raw candles -> features/labels -> dataset -> model -> metrics -> HTML reports.
# Runs are recorded in .dagster_home, so `bash scripts/ui.sh` shows them in the Dagster UI.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh 2> >(grep -v "is ignored: it is neither" >&2)
# shellcheck disable=SC1091
. .venv/bin/activate
export DAGSTER_HOME="${DAGSTER_HOME:-$PWD/.dagster_home}"
export RESNET_SOURCE="${RESNET_SOURCE:-synthetic}"
bash scripts/init_dagster_home.sh  # dagster.yaml and storage, before any run
python -m resnet_pipeline.cli.demo "$@"
