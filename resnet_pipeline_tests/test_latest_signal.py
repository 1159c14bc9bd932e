"""`latest_signal` never misleads: fresh windows only, gaps from the assembled timestamps,
NaN windows fail, sizing from the backtested config, and only with the current dataset's
model."""

import json
import re
from dataclasses import asdict
from datetime import date

import dagster as dg
import numpy as np
import pandas as pd
import torch

from resnet_pipeline.artifacts import file_sha256
from resnet_pipeline.layout import Layout
from resnet_pipeline.ml.data.dataset import DatasetSplits
from resnet_pipeline.ml.folds.fold_identity import MODEL_DIGEST_KEY
from resnet_pipeline.ml.model.checkpoint import save_checkpoint
from resnet_pipeline.ml.model.model_config import ModelConfig
from resnet_pipeline.ml.model.resnet import build_model
from resnet_pipeline.resources.io_manager import DataStore
from resnet_pipeline.resources.venue import TradingVenue
from resnet_pipeline.storage import write_parquet_atomic
from resnet_pipeline_tests._dataset_helpers import feature_frames
from resnet_pipeline_tests._figures import minutes_of, value_of
from resnet_pipeline_tests._pipeline import asset

dataset_splits = asset("dataset_splits")
latest_signal = asset("latest_signal")

SYMBOL = "BTCUSDT"
ROWS = 3000


def _store_candles(root, end: pd.Timestamp, drop=None) -> pd.DataFrame:
    """``ROWS`` one-minute feature/label rows whose newest candle opens at ``end`` - 1 min,
    written month by month like the features/labels assets do."""
    start = (end - pd.Timedelta(minutes=ROWS)).tz_convert("UTC").tz_localize(None)
    features, labels = feature_frames(ROWS, start=start.isoformat(), drop=drop)
    if drop is not None:
        features["gap_minutes"] = 1.0  # what a month's rows claim when a month before is gone
    for month, rows in features.groupby(features["timestamp"].dt.strftime("%Y-%m-01")):
        first = pd.Timestamp(month).date()
        write_parquet_atomic(rows, Layout.at(root).partition("features", SYMBOL, first))
        month_labels = labels[labels["timestamp"].dt.strftime("%Y-%m-01") == month]
        write_parquet_atomic(month_labels, Layout.at(root).partition("labels", SYMBOL, first))
    return features


def _run(root, asset, config=None, market="spot"):
    return dg.materialize(
        [dataset_splits, latest_signal],
        selection=[asset],
        partition_key=SYMBOL,
        resources={"store": DataStore(root=str(root)), "venue": TradingVenue(market=market)},
        run_config={"ops": {asset: {"config": config or {}}}},
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


def _model_saying_up(root, path=None, lineage=None, bias=(0.0, 0.0, 20.0)) -> None:
    """A real checkpoint of the current dataset whose head always says Up (p_up ~ 1)."""
    splits = DatasetSplits.load(root / "datasets" / SYMBOL)
    config = ModelConfig(window=splits.config.window, in_channels=len(splits.channel_names))
    torch.manual_seed(0)
    model = build_model(config)
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.copy_(torch.tensor(bias))
    save_checkpoint(
        path or root / "models" / SYMBOL / "model.pt",
        model,
        config,
        feature_names=splits.channel_names,
        normalizer=splits.normalizer,
        label_config={"forward_window": 12, "threshold": 0.002},
        split_config=asdict(splits.config),
        lineage=lineage or splits.lineage,
        metrics={},
        history=[],
        train_config={},
    )


def _prepare(root, end, drop=None) -> pd.DataFrame:
    features = _store_candles(root, end, drop)
    assert _run(root, "dataset_splits", {"window": 64}).success
    _model_saying_up(root)
    return features


def _signal(root, config=None, market="spot") -> dict:
    result = _run(root, "latest_signal", config, market)
    assert result.success, result.get_step_failure_events()[0].step_failure_data.error.message
    [event] = result.get_asset_materialization_events()
    return {k: getattr(v, "value", v) for k, v in event.materialization.metadata.items()}


def _failure(root, config=None) -> str:
    result = _run(root, "latest_signal", config)
    assert not result.success
    return result.get_step_failure_events()[0].step_failure_data.error.message


def _now() -> pd.Timestamp:
    return pd.Timestamp.now(tz="UTC").floor("min")


def test_a_fresh_window_is_sized_with_the_backtested_strategy(tmp_path):
    _prepare(tmp_path, _now())
    signal = _signal(tmp_path)
    assert signal["actionable"] is True and signal["signal"] == "LONG"
    assert value_of(signal["p_up"]) > 0.99 and minutes_of(signal["closed"]) < 2
    assert signal["suggested_fraction"] == "25%"  # SPEC default: Kelly edge capped at 25%
    assert signal["summary"].startswith("LONG: p_up ") and "25% of equity" in signal["summary"]
    assert list(signal)[:2] == ["signal", "summary"]  # what the UI lists first
    assert signal["strategy_config"].startswith("SPEC defaults")
    stored = DatasetSplits.load(tmp_path / "datasets" / SYMBOL).fingerprint
    assert signal["dataset_fingerprint"] == stored

    report = tmp_path / "reports" / SYMBOL / "backtest_metrics.json"
    report.parent.mkdir(parents=True)
    report.write_text(
        json.dumps({"config": {"sizing": "fixed", "threshold": 0.6}, "run_id": "run-7"})
    )
    signal = _signal(tmp_path)
    assert signal["signal"] == "LONG" and signal["suggested_fraction"] == "10%"
    assert signal["sizing"] == "fixed" and "backtest_report run run-7" in signal["strategy_config"]
    report.write_text(json.dumps({"config": {"threshold": 2.0}}))  # not a strategy
    assert "backtest_metrics.json holds no usable strategy config" in _failure(tmp_path)


def test_a_stale_window_is_not_actionable(tmp_path):
    _prepare(tmp_path, _now() - pd.Timedelta(minutes=10))
    signal = _signal(tmp_path)
    assert signal["actionable"] is False and signal["signal"] == "NOT ACTIONABLE"
    assert signal["suggested_fraction"] == "0%" and "p_up" not in signal
    assert 9 <= minutes_of(signal["closed"]) <= 12 and signal["closed"].endswith(" min ago")
    assert re.search(r"closed \d+(\.\d)? min ago \(> max_age_minutes=5\)", signal["reason"])
    assert "max_age_minutes=5" in signal["reason"]
    assert "--select raw_candles,features,labels --partition" in signal["reason"]
    assert _signal(tmp_path, {"max_age_minutes": 15})["signal"] == "LONG"  # configurable
    assert _signal(tmp_path, {"max_age_minutes": None})["actionable"] is True  # replaying


def test_gaps_are_measured_on_the_assembled_timestamps(tmp_path):
    # 10 candles missing inside the newest window while every stored gap_minutes says 1
    features = _prepare(tmp_path, _now(), drop=slice(ROWS - 30, ROWS - 20))
    assert (features["gap_minutes"] == 1.0).all()
    signal = _signal(tmp_path)
    assert signal["actionable"] is False and "p_up" not in signal
    assert "gap of 11 minutes" in signal["reason"]


def test_a_nan_window_fails_naming_the_channel(tmp_path):
    features = _prepare(tmp_path, _now())
    newest = features[
        features["timestamp"].dt.strftime("%Y-%m") == features["timestamp"].max().strftime("%Y-%m")
    ]
    newest = newest.reset_index(drop=True)
    newest.loc[len(newest) - 3, "rsi_14"] = np.nan
    write_parquet_atomic(
        newest,
        Layout.at(tmp_path).partition(
            "features", SYMBOL, newest["timestamp"].iloc[0].date().replace(day=1)
        ),
    )
    message = _failure(tmp_path)
    assert "NaN/inf" in message and "rsi_14" in message
    assert "re-materialize features" in message


def test_a_model_of_another_dataset_is_refused(tmp_path):
    _prepare(tmp_path, _now())
    trained_on = DatasetSplits.load(tmp_path / "datasets" / SYMBOL).fingerprint
    assert _run(tmp_path, "dataset_splits", {"window": 64, "max_gap_minutes": 10}).success
    current = DatasetSplits.load(tmp_path / "datasets" / SYMBOL).fingerprint
    message = _failure(tmp_path)
    assert trained_on in message and current in message
    assert "--select trained_model --partition BTCUSDT" in message


def _fold(root, month: str, bias=(0.0, 20.0, 0.0), **lineage) -> None:
    """A walk-forward fold model for ``month`` saying Neutral, with its lineage and fold.json
    as wf_model writes them."""
    first = pd.Timestamp(f"{month}-01", tz="UTC")
    folder = root / "walk_forward" / SYMBOL / month
    _model_saying_up(
        root,
        path=folder / "model.pt",
        lineage={
            "symbol": SYMBOL,
            "fold_month": month,
            "val_last": str(first - pd.Timedelta(minutes=13)),
            **lineage,
        },
        bias=bias,
    )
    info = {"month": month, MODEL_DIGEST_KEY: file_sha256(folder / "model.pt")}
    (folder / "fold.json").write_text(json.dumps(info))


def test_the_newest_fold_model_signals_when_it_exists(tmp_path):
    now = _now()
    _prepare(tmp_path, now)
    this_month = now.strftime("%Y-%m")
    next_month = (now + pd.offsets.MonthBegin(1)).strftime("%Y-%m")
    _fold(tmp_path, next_month)  # a fold of a later month has seen these candles: never used
    assert _signal(tmp_path)["model"] == "trained_model"
    _fold(tmp_path, this_month)
    signal = _signal(tmp_path)
    assert (signal["model"], signal["signal"]) == (f"wf_model {this_month}", "NEUTRAL")
    pinned = _signal(tmp_path, {"model": "trained_model"})
    assert (pinned["model"], pinned["signal"]) == ("trained_model", "LONG")


def test_a_fold_whose_model_and_fold_json_disagree_is_refused(tmp_path):
    now = _now()
    _prepare(tmp_path, now)
    month = now.strftime("%Y-%m")
    _fold(tmp_path, month)
    assert _signal(tmp_path)["model"] == f"wf_model {month}"
    folder = tmp_path / "walk_forward" / SYMBOL / month
    info = json.loads((folder / "fold.json").read_text())
    _fold(tmp_path, month, bias=(0.0, 0.0, 20.0))  # wf_model replaced model.pt, then was killed
    (folder / "fold.json").write_text(json.dumps(info))
    message = _failure(tmp_path)
    assert f"fold {month}: fold.json describes model {info[MODEL_DIGEST_KEY][:12]}" in message
    assert f"--select wf_model --partition '{month}-01|{SYMBOL}'" in message


def test_a_fold_model_that_does_not_prove_its_month_is_refused(tmp_path):
    now = _now()
    _prepare(tmp_path, now)
    month = now.strftime("%Y-%m")
    _fold(tmp_path, month, val_last=str(now))  # trained on the month it would signal
    message = _failure(tmp_path)
    assert f"fold model for {month}" in message
    assert f"--select wf_model --partition '{month}-01|{SYMBOL}'" in message
    assert "unknown" in _failure(tmp_path, {"model": "unknown"})


def test_without_a_backtest_a_spot_signal_never_says_short(tmp_path):
    _prepare(tmp_path, _now())
    _model_saying_up(tmp_path, bias=(20.0, 0.0, 0.0))  # the model says Down
    spot = _signal(tmp_path)
    assert spot["signal"] == "NEUTRAL" and "on spot" in spot["strategy_config"]
    assert _signal(tmp_path, market="linear")["signal"] == "SHORT"


def test_a_model_on_selected_channels_signals_on_the_same_channels_of_the_newest_candles(
    tmp_path,
):
    from resnet_pipeline_tests._walk_forward_helpers import store_months

    store_months(tmp_path, SYMBOL, [date(2024, 1, 1), date(2024, 2, 1)], hours=24)
    chosen = {"channels": ["spec", "calendar"], "window": 32}
    assert _run(tmp_path, "dataset_splits", chosen).success
    _model_saying_up(tmp_path)
    signal = _signal(tmp_path, {"max_age_minutes": None})
    assert signal["signal"] == "LONG" and value_of(signal["p_up"]) > 0.99
    assert signal["as_of"].startswith("2024-02-01 23:59")
