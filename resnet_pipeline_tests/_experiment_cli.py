"""The environment the experiment command-line tests run `python -m ...experiments` in: a
fresh instance and data root under ``root``, the synthetic market, one symbol, and none of
the caller's RESNET_ or MLFLOW_ variables; and a report config cheap enough for a test."""

from __future__ import annotations

import os
from pathlib import Path

REPORT_CONFIG = {"n_boot": 100, "pbo_blocks": 2, "spa_reps": 100}


def experiment_env(root: Path, symbol: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RESNET_", "MLFLOW_"))}
    return env | {
        "DAGSTER_HOME": str(root / "home"),
        "RESNET_SOURCE": "synthetic",
        "RESNET_DATA_DIR": str(root / "data"),
        "RESNET_SYMBOLS": symbol,
        "RESNET_FIRST_MONTH": "2024-01",
        "RESNET_EXPERIMENTS_DIR": str(root / "experiments"),
    }
