"""The whole graph through Dagster on synthetic candles: raw candles to the HTML report."""

import json

import dagster as dg
import duckdb
import numpy as np
import pytest

from resnet_pipeline.ml.data.dataset import DatasetSplits
from resnet_pipeline.ml.model.checkpoint import load_checkpoint
from resnet_pipeline_tests._figures import value_of
from resnet_pipeline_tests._pipeline import asset
from resnet_pipeline_tests._resources import CHAIN_ASSETS, pipeline_resources

latest_signal = asset("latest_signal")

pytestmark = pytest.mark.slow

ASSETS = [*CHAIN_ASSETS, latest_signal]
QUICK = {
    "ops": {
        # 64-minute windows: the graph and its files are the same, training and evaluation
        # take a quarter of the time of the default 256
        "dataset_splits": {
            "config": {"start_month": "2024-01", "end_month": "2024-01", "window": 64}
        },
        "trained_model": {
            "config": {
                "epochs": 2,
                "max_train_samples": 256,
                "max_val_samples": 256,
                "arch": "resnet18",
                # the same model under any load: a fixed thread count (the automatic one
                # follows the machine's load) and fp32
                "precision": "fp32",
                "num_threads": 1,
            }
        },
        # the data is from 2024: replaying history, not a live signal
        "latest_signal": {"config": {"max_age_minutes": None}},
    }
}


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    instance = dg.DagsterInstance.ephemeral()
    for selection in (["raw_candles"], ["features", "labels"]):
        assert dg.materialize(
            ASSETS,
            selection=selection,
            partition_key="2024-01-01|BTCUSDT",
            resources=pipeline_resources(root),
            instance=instance,
        ).success
    result = dg.materialize(
        ASSETS,
        selection=[
            "dataset_splits",
            "trained_model",
            "test_metrics",
            "backtest_report",
            "latest_signal",
        ],
        partition_key="BTCUSDT",
        resources=pipeline_resources(root),
        instance=instance,
        run_config=QUICK,
    )
    return root, instance, result


def _metadata(result, asset):
    events = [
        e for e in result.get_asset_materialization_events() if e.asset_key == dg.AssetKey(asset)
    ]
    return {k: getattr(v, "value", v) for k, v in events[0].materialization.metadata.items()}


def test_every_asset_materializes_with_readable_metadata(pipeline):
    _, _, result = pipeline
    assert result.success
    splits = _metadata(result, "dataset_splits")
    assert value_of(splits["train_samples"]) > value_of(splits["val_samples"]) > 0
    assert splits["purged"] == "train: 12 min, val: 12 min"
    model = _metadata(result, "trained_model")
    assert model["epochs_run"] == "2" and model["device"] == "cpu"
    assert model["curves"].startswith("![")  # a picture the UI shows
    metrics = _metadata(result, "test_metrics")
    assert metrics["accuracy"].endswith("%") and 0 <= value_of(metrics["accuracy"]) <= 1
    assert "majority" in metrics["metrics"]
    backtest = _metadata(result, "backtest_report")
    assert {"trades", "buy_and_hold_total_return"} <= set(backtest)
    if value_of(backtest["trades"]):
        assert {"sharpe", "max_drawdown"} <= set(backtest)
    else:  # undefined without a trade: left out of the numbers, the headline says why
        assert not {"sharpe", "max_drawdown"} & set(backtest)
        assert "0 trades" in backtest["headline"]
    signal = _metadata(result, "latest_signal")
    assert signal["signal"] in ("LONG", "SHORT", "NEUTRAL")
    probabilities = [value_of(signal[f"p_{side}"]) for side in ("down", "neutral", "up")]
    assert sum(probabilities) == pytest.approx(1, abs=2e-4)  # each to 4 significant digits


def test_files_are_written_where_the_readme_says(pipeline):
    root, _, _ = pipeline
    report = (root / "reports" / "BTCUSDT" / "report.html").read_text()
    assert "data:image/png;base64," in report
    assert 'class="met"' in report or 'class="missed"' in report  # targets marked
    assert "buy_and_hold" in report and "Fees 0.1% per fill" in report
    first_screen = report.split("<h2>Plots</h2>")[0]  # the training the result rests on
    ckpt = load_checkpoint(root / "models" / "BTCUSDT" / "model.pt")
    epochs = len(ckpt.history)
    assert f"Training: one model trained {epochs} epoch{'s' if epochs != 1 else ''}" in first_screen
    assert "<h3>Trades by exit reason</h3>" in report
    stored_backtest = json.loads(
        (root / "reports" / "BTCUSDT" / "backtest_metrics.json").read_text()
    )
    assert stored_backtest["run_settings"]["training"]["epochs"] == [epochs]
    stored = json.loads((root / "reports" / "BTCUSDT" / "test_metrics.json").read_text())
    assert {t["metric"] for t in stored["targets"]} >= {"accuracy", "auc_roc_ovr"}
    assert (root / "reports" / "BTCUSDT" / "trades.parquet").exists()
    files = f"{root}/reports/history/test_metrics/*/*.parquet"
    history = duckdb.sql(
        f"select symbol, model_accuracy from read_parquet('{files}', hive_partitioning=true)"
    ).fetchall()
    assert [h[0] for h in history] == ["BTCUSDT"]


def test_checkpoint_is_self_contained_and_matches_the_dataset(pipeline):
    root, _, _ = pipeline
    ckpt = load_checkpoint(root / "models" / "BTCUSDT" / "model.pt")
    splits = DatasetSplits.load(root / "datasets" / "BTCUSDT")
    assert ckpt.feature_names == splits.channel_names
    np.testing.assert_allclose(ckpt.normalizer.mean, splits.normalizer.mean)
    assert ckpt.lineage["symbol"] == "BTCUSDT" and ckpt.lineage["months"] == ["2024-01"]
    assert len(ckpt.history) == 2
    assert not (root / "models" / "BTCUSDT" / "training_state.pt").exists()  # finished


def _failure_message(asset: str, root) -> str:
    result = dg.materialize(
        ASSETS,
        selection=[asset],
        partition_key="ETHUSDT",
        resources=pipeline_resources(root),
        raise_on_error=False,
        instance=dg.DagsterInstance.ephemeral(),
    )
    return result.get_step_failure_events()[0].step_failure_data.error.message


def test_missing_upstream_says_what_to_run(tmp_path):
    assert "--select dataset_splits --partition ETHUSDT" in _failure_message(
        "trained_model", tmp_path
    )
    assert "materialize trained_model" in _failure_message("latest_signal", tmp_path)
    assert "--select test_metrics --partition ETHUSDT" in _failure_message(
        "backtest_report", tmp_path
    )
