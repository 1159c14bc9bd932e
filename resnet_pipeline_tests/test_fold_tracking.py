"""`experiment_fold` logs its folds to MLflow after the training lock is released, as runs that
stand alone: real Dagster runs of tiny folds, a real SQLite store, and a real HTTP server on
127.0.0.1 answering 503 that checks the lock at each request."""

from __future__ import annotations

import fcntl
import os
from datetime import date
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from resnet_pipeline.artifacts import read_json
from resnet_pipeline.definitions import resources_on
from resnet_pipeline.features.channel_names import FEATURE_CHANNELS
from resnet_pipeline.layout import Layout
from resnet_pipeline.partitions import EXPERIMENT_MONTHS, EXPERIMENT_TRIALS
from resnet_pipeline.resources.candle_source import SyntheticCandles
from resnet_pipeline.resources.experiment_directory import ExperimentDirectory
from resnet_pipeline.resources.mlflow_tracking import MlflowTracking
from resnet_pipeline.resources.venue import TradingVenue
from resnet_pipeline.tracking import DATABASE_FILE, NOTE_TAG
from resnet_pipeline.training_lock import lock_file
from resnet_pipeline_tests._pipeline import asset
from resnet_pipeline_tests._tracking_servers import unavailable_server
from resnet_pipeline_tests._walk_forward_helpers import store_months

pytestmark = pytest.mark.slow

SYMBOL, TRIAL = "BTCUSDT", "tiny:BTCUSDT:spec"
DESCRIPTION = "A tiny experiment: does the model learn anything in one epoch?"
TINY = f"""
description: "{DESCRIPTION}"
months: [2024-02, 2024-03]
symbols: [BTCUSDT]
base:
  folds: {{window: 32, min_train_samples: 16}}
  training: {{epochs: 1, batch_size: 16, max_train_samples: 32, max_val_samples: 64,
             augment: false, device: cpu}}
variants:
  - name: spec
"""


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("fold-tracking")
    store_months(root / "data", SYMBOL, [date(2024, m, 1) for m in (1, 2, 3)], hours=6)
    (root / "experiments").mkdir()
    (root / "experiments" / "tiny.yaml").write_text(TINY)
    return root


def _fold(root: Path, instance, month: str, tracking: MlflowTracking) -> dict:
    instance.add_dynamic_partitions(EXPERIMENT_TRIALS.name, [TRIAL])
    instance.add_dynamic_partitions(EXPERIMENT_MONTHS.name, [month])
    result = dg.materialize(
        [asset("experiment_fold")],
        partition_key=f"{month}|{TRIAL}",
        resources=resources_on(
            str(root / "data"),
            SyntheticCandles(),
            TradingVenue(),
            ExperimentDirectory(directory=str(root / "experiments"), symbols=[SYMBOL]),
            tracking,
        ),
        instance=instance,
    )
    event = result.asset_materializations_for_node("experiment_fold")[0]
    return {k: getattr(v, "value", v) for k, v in event.metadata.items()}


def test_a_fold_run_in_mlflow_stands_alone(root: Path, tmp_path: Path) -> None:
    from mlflow import MlflowClient

    with dg.DagsterInstance.local_temp(str(tmp_path)) as instance:
        meta = _fold(root, instance, "2024-02-01", MlflowTracking())
    assert meta["mlflow"] == "logged"
    client = MlflowClient(f"sqlite:///{root / 'data' / 'mlruns' / DATABASE_FILE}")
    experiment = client.get_experiment_by_name(f"tiny/{SYMBOL}")
    assert experiment.tags[NOTE_TAG] == DESCRIPTION
    (run,) = client.search_runs([experiment.experiment_id], "tags.fold_month = '2024-02'")
    span_s = (run.info.end_time - run.info.start_time) / 1000
    assert span_s >= run.data.metrics["wall_s"], "the run spans the fold, not its logging"
    for baseline in ("majority", "logistic", "trees"):
        assert f"baseline_{baseline}_accuracy" in run.data.metrics
    assert run.data.tags["variant"] == "spec" and run.data.tags["symbol"] == SYMBOL
    assert run.data.tags[NOTE_TAG].startswith("spec on BTCUSDT, fold 2024-02: accuracy ")
    for channel in FEATURE_CHANNELS:
        for predictor in ("model", "trees"):
            assert f"importance/{predictor}/channel/{channel}/direction_auc" in run.data.metrics
    assert "importance/model/family/spec/log_loss" in run.data.metrics
    table = client.download_artifacts(run.info.run_id, "importance.json", str(tmp_path))
    logged = pd.read_json(table, orient="split")
    trial = Layout.at(root / "data").experiment("tiny", SYMBOL).trial(meta["config_hash"])
    fold = read_json(trial.fold(date(2024, 2, 1)).info)
    assert len(logged) == len(fold["importance"]) == 2 * (len(FEATURE_CHANNELS) + 1) * 3
    assert set(logged["name"]) == {*FEATURE_CHANNELS, "spec"}


def test_a_broken_tracking_server_is_asked_after_the_lock_is_released(
    root: Path, tmp_path: Path
) -> None:
    with dg.DagsterInstance.local_temp(str(tmp_path)) as instance:
        lock = lock_file(instance)

        def lock_state() -> str:
            """Whether a training could take the machine while the server is asked."""
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return "held"
            finally:
                os.close(fd)
            return "free"

        with unavailable_server(on_request=lock_state) as (uri, requests):
            meta = _fold(root, instance, "2024-03-01", MlflowTracking(tracking_uri=uri))
    assert meta["mlflow"] == "failed"
    assert requests.seen == ["GET /health"]
    assert requests.observed == ["free"], "MLflow was asked while the training lock was held"
