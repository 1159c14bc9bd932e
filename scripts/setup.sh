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
pip install -q --disable-pip-version-check -e '.[dev]'
