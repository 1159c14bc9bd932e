"""Every artifact proves what it was built from (SPEC 11): dataset fingerprints, the data
version Dagster sees, and evaluation refusing a model trained on another dataset."""

import json
import os
from datetime import date

import dagster as dg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from resnet_pipeline.defs.training import dataset_splits as dataset_module
from resnet_pipeline.layout import Layout
from resnet_pipeline.ml.data.dataset import DatasetSplits
from resnet_pipeline.ml.data.lineage import (
    FINGERPRINT_KEY,
    LineageError,
    dataset_fingerprint,
    relative_paths,
)
from resnet_pipeline.ml.data.normalization import Normalizer
from resnet_pipeline.ml.model.checkpoint import load_checkpoint, save_checkpoint
from resnet_pipeline.ml.model.model_config import ModelConfig
from resnet_pipeline.ml.model.resnet import build_model
from resnet_pipeline.resources.io_manager import DataStore
from resnet_pipeline.resources.venue import TradingVenue
from resnet_pipeline.storage import read_parquet, write_parquet_atomic
from resnet_pipeline_tests._dataset_helpers import feature_frames
from resnet_pipeline_tests._pipeline import asset

backtest_report = asset("backtest_report")
dataset_splits = asset("dataset_splits")
metrics_asset = asset("test_metrics")
trained_model = asset("trained_model")

MONTHS = [date(2024, 1, 1), date(2024, 2, 1), date(2024, 3, 1)]
ASSETS = [dataset_splits, trained_model, metrics_asset, backtest_report]
TINY_TRAINING = {
    "epochs": 1,
    "batch_size": 32,
    "max_train_samples": 64,
    "max_val_samples": 64,
    "augment": False,
}


def _write_months(root, months=MONTHS):
    for i, month in enumerate(months):
        warmup = 30 if i == 0 else 0  # later months were computed with history before them
        features, labels = feature_frames(2500, seed=i, start=str(month), warmup=warmup)
        write_parquet_atomic(features, Layout.at(root).partition("features", "BTCUSDT", month))
        write_parquet_atomic(labels, Layout.at(root).partition("labels", "BTCUSDT", month))


def _materialize(root, instance, selection, dataset=None):
    ops = {
        "dataset_splits": {"config": {"window": 64, **(dataset or {})}},
        "trained_model": {"config": TINY_TRAINING},
    }
    return dg.materialize(
        ASSETS,
        selection=selection,
        partition_key="BTCUSDT",
        resources={"store": DataStore(root=str(root)), "venue": TradingVenue()},
        run_config={"ops": {k: v for k, v in ops.items() if k in selection}},
        instance=instance,
        raise_on_error=False,
    )


def _event(result, asset):
    [event] = [
        e for e in result.get_asset_materialization_events() if e.asset_key == dg.AssetKey(asset)
    ]
    return event.materialization


def _failure(result) -> str:
    assert not result.success
    return result.get_step_failure_events()[0].step_failure_data.error.message


def _absolute_paths(value) -> list[str]:
    if isinstance(value, dict):
        return [p for v in value.values() for p in _absolute_paths(v)]
    if isinstance(value, list):
        return [p for v in value for p in _absolute_paths(v)]
    return [value] if isinstance(value, str) and os.path.isabs(value) else []


def test_fingerprint_is_the_data_version_and_follows_the_content(tmp_path):
    _write_months(tmp_path)
    instance = dg.DagsterInstance.ephemeral()
    first = _materialize(tmp_path, instance, ["dataset_splits"])
    assert first.success
    event = _event(first, "dataset_splits")
    stored = DatasetSplits.load(tmp_path / "datasets" / "BTCUSDT")
    fingerprint = stored.fingerprint
    assert len(fingerprint) == 64 and event.metadata["fingerprint"].value == fingerprint
    assert event.tags["dagster/data_version"] == fingerprint  # the UI's staleness follows it
    meta = json.loads((tmp_path / "datasets" / "BTCUSDT" / "meta.json").read_text())
    assert meta["fingerprint"] == meta["lineage"][FINGERPRINT_KEY] == fingerprint
    assert set(meta["lineage"]["partitions"]) == {"2024-01", "2024-02", "2024-03"}
    assert (
        meta["lineage"]["code_version"]
        == dataset_splits.code_versions_by_key[dg.AssetKey("dataset_splits")]
    )

    again = _materialize(tmp_path, instance, ["dataset_splits"])
    assert _event(again, "dataset_splits").tags["dagster/data_version"] == fingerprint  # stable

    # silently rewrite one test-period value of March: the normalizer (train rows) and the
    # config stay equal, only the file's content changes, and so must the fingerprint
    path = Layout.at(tmp_path).partition("features", "BTCUSDT", MONTHS[-1])
    features = read_parquet(path)
    features.loc[len(features) - 1, "rsi_14"] += 1.0
    write_parquet_atomic(features, path)
    rewritten = _materialize(tmp_path, instance, ["dataset_splits"])
    changed = DatasetSplits.load(tmp_path / "datasets" / "BTCUSDT")
    assert changed.normalizer.to_dict() == stored.normalizer.to_dict()
    assert changed.fingerprint != fingerprint
    assert _event(rewritten, "dataset_splits").tags["dagster/data_version"] == changed.fingerprint

    shorter = _materialize(tmp_path, instance, ["dataset_splits"], {"end_month": "2024-02"})
    assert DatasetSplits.load(tmp_path / "datasets" / "BTCUSDT").fingerprint not in (
        fingerprint,
        changed.fingerprint,
    )
    assert _event(shorter, "dataset_splits").metadata["months"].value == "2024-01..2024-02"


HEX = st.text("0123456789abcdef", min_size=64, max_size=64)
PARTITIONS = st.dictionaries(
    st.sampled_from(["2024-01", "2024-02", "2024-03", "2024-04"]),
    st.fixed_dictionaries({"features": HEX, "labels": st.one_of(st.none(), HEX)}),
    min_size=1,
)


@given(PARTITIONS, st.integers(1, 60), st.floats(-1e6, 1e6, allow_nan=False))
def test_fingerprint_depends_on_every_input_and_nothing_else(partitions, gap, mean):
    config = {"window": 256, "max_gap_minutes": gap, "purge_minutes": None}
    normalizer = {"mean": [mean, 1.0], "std": [1.0, 2.0], "price_norm": "zscore"}
    base = dataset_fingerprint("BTCUSDT", partitions, config, normalizer, "3")
    # the same values spelled differently: key order, int vs float, tuple vs list
    respelled = {k: dict(reversed(list(v.items()))) for k, v in reversed(partitions.items())}
    float_config = {**config, "max_gap_minutes": float(gap)}
    tuple_normalizer = {**normalizer, "mean": (mean, 1)}
    assert dataset_fingerprint("BTCUSDT", respelled, float_config, tuple_normalizer, "3") == base
    month = next(iter(partitions))
    flipped = {**partitions, month: {**partitions[month], "features": "0" * 63 + "x"}}
    others = [
        dataset_fingerprint("ETHUSDT", partitions, config, normalizer, "3"),
        dataset_fingerprint("BTCUSDT", flipped, config, normalizer, "3"),
        dataset_fingerprint("BTCUSDT", partitions, {**config, "window": 128}, normalizer, "3"),
        dataset_fingerprint(
            "BTCUSDT", partitions, config, {**normalizer, "mean": [mean + 1, 1.0]}, "3"
        ),
        dataset_fingerprint("BTCUSDT", partitions, config, normalizer, "4"),
    ]
    assert base not in others


@pytest.mark.slow  # trains a (tiny) model and runs test_metrics three times
def test_evaluation_refuses_a_model_trained_on_another_dataset(tmp_path):
    _write_months(tmp_path)
    instance = dg.DagsterInstance.ephemeral()
    built = _materialize(tmp_path, instance, ["dataset_splits", "trained_model", "test_metrics"])
    assert built.success, _failure(built)
    trained_on = DatasetSplits.load(tmp_path / "datasets" / "BTCUSDT").fingerprint
    model_path = tmp_path / "models" / "BTCUSDT" / "model.pt"
    checkpoint = load_checkpoint(model_path)
    assert checkpoint.lineage[FINGERPRINT_KEY] == trained_on
    assert _absolute_paths(checkpoint.lineage) == []  # no local paths stored
    assert checkpoint.lineage["dataset"] == "datasets/BTCUSDT"
    report = json.loads((tmp_path / "reports" / "BTCUSDT" / "test_metrics.json").read_text())
    assert report["lineage"][FINGERPRINT_KEY] == trained_on
    assert _absolute_paths(report["lineage"]) == []

    # the dataset is rebuilt over fewer months: its test split now overlaps the model's
    # training rows, and test_metrics must not evaluate the model there
    assert _materialize(tmp_path, instance, ["dataset_splits"], {"end_month": "2024-02"}).success
    current = DatasetSplits.load(tmp_path / "datasets" / "BTCUSDT").fingerprint
    message = _failure(_materialize(tmp_path, instance, ["test_metrics"]))
    assert trained_on in message and current in message
    assert "months 2024-01, 2024-02, 2024-03" in message and "months 2024-01, 2024-02)" in message
    assert (
        "dagster asset materialize -m resnet_pipeline.definitions --select trained_model "
        "--partition BTCUSDT" in message
    )
    # the backtest refuses the mismatched model the same way
    message = _failure(_materialize(tmp_path, instance, ["backtest_report"]))
    assert trained_on in message and current in message

    # a checkpoint written before fingerprints existed is refused the same way
    assert _materialize(tmp_path, instance, ["dataset_splits"]).success
    assert _materialize(tmp_path, instance, ["test_metrics"]).success  # matches again

    # test predictions left by another training are not backtested as this model's
    metrics_path = tmp_path / "reports" / "BTCUSDT" / "test_metrics.json"
    stored = json.loads(metrics_path.read_text())
    stored["lineage"]["run_id"] = "an-older-training"
    metrics_path.write_text(json.dumps(stored))
    message = _failure(_materialize(tmp_path, instance, ["backtest_report"]))
    assert "made by another model or dataset" in message and "an-older-training" in message
    assert "--select test_metrics --partition BTCUSDT" in message
    old = {k: v for k, v in checkpoint.lineage.items() if k != FINGERPRINT_KEY}
    save_checkpoint(
        model_path,
        checkpoint.model,
        checkpoint.model_config,
        feature_names=checkpoint.feature_names,
        normalizer=checkpoint.normalizer,
        label_config=checkpoint.label_config,
        split_config=checkpoint.split_config,
        lineage=old,
        metrics=checkpoint.metrics,
        history=checkpoint.history,
        train_config=checkpoint.train_config,
    )
    message = _failure(_materialize(tmp_path, instance, ["test_metrics"]))
    assert "without fingerprint (old format)" in message and trained_on in message
    assert "--select trained_model --partition BTCUSDT" in message


def test_equal_fingerprints_with_other_statistics_are_refused(tmp_path):
    _write_months(tmp_path, MONTHS[:1])
    assert _materialize(tmp_path, dg.DagsterInstance.ephemeral(), ["dataset_splits"]).success
    splits = DatasetSplits.load(tmp_path / "datasets" / "BTCUSDT")
    shifted = splits.normalizer.to_dict()
    shifted["mean"] = [m + 0.5 for m in shifted["mean"]]
    path = tmp_path / "models" / "BTCUSDT" / "model.pt"
    config = ModelConfig(window=64)
    save_checkpoint(
        path,
        build_model(config),
        config,
        feature_names=splits.channel_names,
        normalizer=Normalizer.from_dict(shifted),
        label_config={},
        split_config={},
        lineage=splits.lineage,
        metrics={},
        history=[],
        train_config={},
    )
    checkpoint = load_checkpoint(path)
    with pytest.raises(LineageError, match="other statistics"):
        checkpoint.check_dataset(splits.lineage, splits.normalizer, "BTCUSDT")


def test_relative_paths_only_rewrites_paths_under_the_root(tmp_path):
    lineage = {
        "dataset": str(tmp_path / "datasets" / "BTCUSDT"),
        "nested": {"files": [str(tmp_path / "a.parquet"), "relative/b.parquet"]},
        "elsewhere": "/opt/other/file",
        "months": ["2024-01"],
    }
    out = relative_paths(lineage, tmp_path)
    assert out == {
        "dataset": "datasets/BTCUSDT",
        "nested": {"files": ["a.parquet", "relative/b.parquet"]},
        "elsewhere": "/opt/other/file",
        "months": ["2024-01"],
    }


def test_a_month_rewritten_while_it_is_read_fails_instead_of_a_wrong_fingerprint(
    tmp_path, monkeypatch
):
    """Another run's write lands between hashing and reading: the fingerprint would name
    content that was not read, so the run fails and stores nothing."""
    _write_months(tmp_path, MONTHS[:1])
    real_read = dataset_module.read_partitions
    path = Layout.at(tmp_path).partition("labels", "BTCUSDT", MONTHS[0])

    def read_then_another_run_writes(root, asset, *args, **kwargs):
        frame = real_read(root, asset, *args, **kwargs)
        if asset == "labels":
            labels = read_parquet(path)
            write_parquet_atomic(labels.iloc[:-1], path)  # the concurrent run's rewrite
        return frame

    monkeypatch.setattr(dataset_module, "read_partitions", read_then_another_run_writes)
    message = _failure(_materialize(tmp_path, dg.DagsterInstance.ephemeral(), ["dataset_splits"]))
    assert "changed while dataset_splits read them" in message
    assert not (tmp_path / "datasets" / "BTCUSDT").exists()
