#!/usr/bin/env bash
# Create .venv (if missing) and install the project with its dev tools.
# torch goes first, pinned to the CPU build this machine has on disk: an unpinned `torch`
# on a machine without it pulls a multi-GB CUDA build. Override with TORCH_SPEC, e.g.
#   TORCH_SPEC="torch --index-url https://download.pytorch.org/whl/cu124" bash scripts/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."
python_bin=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python_bin" -m venv .venv
# shellcheck disable=SC1091
. .venv/bin/activate
if ! python -c "import torch" 2>/dev/null; then
  # shellcheck disable=SC2086
  pip install -q --disable-pip-version-check ${TORCH_SPEC:-torch==2.13.0}
fi
# RESNET_SCALE=1 adds the scale-out extra (dagster-postgres, dagster-celery, s3fs, moto) and the
# PostgreSQL and Redis servers that resnet_pipeline_tests/test_scale_out.py starts on 127.0.0.1
# (Debian/Ubuntu apt, as root or with sudo). Without it that module is skipped, saying why;
# `RESNET_SCALE=1 bash scripts/test.sh` runs the suite with it (~2.7 min more on 2 cores).
# Opt-in because the newest dagster-celery/dagster-postgres pin dagster to their own release
# (0.29.27 -> dagster 1.13.27): the extra can move the whole venv to that dagster.
extras=dev
if [ "${RESNET_SCALE:-0}" = 1 ]; then
  extras=dev,scale
  missing=()
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
  command -v redis-server >/dev/null || missing+=(redis-server)
  if [ ${#missing[@]} -gt 0 ]; then
    sudo=$([ "$(id -u)" = 0 ] || echo sudo)
    if ! command -v apt-get >/dev/null; then
      echo "RESNET_SCALE=1 needs ${missing[*]}: install them with your package manager" >&2
      exit 1
    fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
fi
pip install -q --disable-pip-version-check -e ".[$extras]"
