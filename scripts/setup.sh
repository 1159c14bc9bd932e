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
# RESNET_SCALE=1 (scripts/test.sh sets it; RESNET_SCALE=0 there leaves it out) adds the scale-out
# extra (dagster-postgres, dagster-celery, s3fs, moto) and the PostgreSQL and Redis servers that
# resnet_pipeline_tests/test_scale_out.py starts on 127.0.0.1, installed with apt (Debian/Ubuntu,
# as root or with sudo) when missing. Where they cannot be installed, setup goes on and that
# module is skipped, saying why. Chromium comes the same way, for the test that renders the
# walk-forward report in a headless browser (skipped, saying why, without it). The extra's newest
# dagster-celery/dagster-postgres (0.29.27) pin dagster to their own release (1.13.27), so with
# it pip settles on that dagster.
extras=dev
if [ "${RESNET_SCALE:-0}" = 1 ]; then
  extras=dev,scale
  missing=()
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
  command -v redis-server >/dev/null || missing+=(redis-server)
  command -v chromium >/dev/null || command -v chromium-browser >/dev/null || missing+=(chromium)
  if [ ${#missing[@]} -gt 0 ]; then
    sudo=$([ "$(id -u)" = 0 ] || echo sudo -n)  # never waits for a password
    if ! command -v apt-get >/dev/null \
      || ! { $sudo apt-get update -qq \
        && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null; }; then
      echo "setup: could not install ${missing[*]} (no apt-get, no root, or no network):" \
        "the tests that need them will be skipped; install them with your package manager" >&2
    fi
  fi
fi
pip install -q --disable-pip-version-check -e ".[$extras]"
