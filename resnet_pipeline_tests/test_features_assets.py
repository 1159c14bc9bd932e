"""features and labels through Dagster: the chain, the checks, and automation after ingestion."""

from datetime import UTC, date, datetime

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from resnet_pipeline.defs.features.features import feature_problems
from resnet_pipeline.defs.features.labels import label_problems
from resnet_pipeline.defs.monthly import check_stored
from resnet_pipeline.features.channel_names import FEATURE_CHANNELS
from resnet_pipeline.features.channels import compute_features
from resnet_pipeline.layout import Layout
from resnet_pipeline.storage import read_parquet
from resnet_pipeline_tests._pipeline import asset, asset_check
from resnet_pipeline_tests._resources import pipeline_resources

features = asset("features")
features_sound = asset_check("features_sound")
labels = asset("labels")
labels_sound = asset_check("labels_sound")
raw_candles = asset("raw_candles")

ASSETS = [raw_candles, features, labels, features_sound, labels_sound]


def _materialize(selection, key, root, instance):
    return dg.materialize(
        ASSETS,
        selection=selection,
        partition_key=key,
        resources=pipeline_resources(root),
        instance=instance,
        raise_on_error=False,
    )


def test_two_months_chain_joins_exactly_and_passes_checks(tmp_path):
    instance = dg.DagsterInstance.ephemeral()
    for key in ("2024-01-01|BTCUSDT", "2024-02-01|BTCUSDT"):
        assert _materialize(["raw_candles"], key, tmp_path, instance).success
    for key in ("2024-01-01|BTCUSDT", "2024-02-01|BTCUSDT"):
        result = _materialize(["features", "labels"], key, tmp_path, instance)
        assert result.success
        checks = result.get_asset_check_evaluations()
        assert {c.check_name for c in checks} == {"features_sound", "labels_sound"}
        assert all(c.passed for c in checks)

    def stored(asset, month):
        return read_parquet(Layout.at(tmp_path).partition(asset, "BTCUSDT", month))

    jan, feb = date(2024, 1, 1), date(2024, 2, 1)
    raw = pd.concat([stored("raw_candles", jan), stored("raw_candles", feb)], ignore_index=True)
    monthly = pd.concat([stored("features", jan), stored("features", feb)], ignore_index=True)
    whole = compute_features(raw)
    for name in FEATURE_CHANNELS:
        np.testing.assert_allclose(monthly[name], whole[name], rtol=1e-6, equal_nan=True)
    # January's tail labels used February's first candles; February's tail is unknown.
    assert stored("labels", jan)["label"].notna().all()
    assert stored("labels", feb)["label"].isna().sum() == 12


def test_features_without_raw_candles_fail_with_the_command_to_run(tmp_path):
    result = _materialize(
        ["features"], "2024-03-01|ETHUSDT", tmp_path, dg.DagsterInstance.ephemeral()
    )
    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.error
    assert "raw_candles 2024-03-01|ETHUSDT is not materialized" in failure.message
    assert "dagster asset materialize" in failure.message


def test_check_rules_catch_bad_partitions():
    good = compute_features(
        pd.DataFrame(
            {
                "timestamp": pd.date_range("2024-01-01", periods=500, freq="1min", tz="UTC"),
                "open": 100.0,
                "high": 101.0,
                "low": 99.0,
                "close": 100.5,
                "volume": 3.0,
            }
        )
    )
    assert feature_problems(good) == []
    bad = good.copy()
    bad.loc[450, "rsi_14"] = np.nan
    assert "outside warm-up hold NaN" in feature_problems(bad)[0]
    bad = good.copy()
    bad.loc[10, "macd"] = np.inf
    assert "inf" in feature_problems(bad)[0]
    assert "missing channels" in feature_problems(good.drop(columns=["vwap_distance"]))[0]
    assert "float32" in feature_problems(good.astype({"atr_14": "float64"}))[0]

    lab = pd.DataFrame(
        {"label": pd.array([0, 1, None], dtype="Int8"), "future_return": [-0.01, 0.0, np.nan]}
    )
    assert label_problems(lab) == []
    assert "outside" in label_problems(lab.assign(label=pd.array([0, 5, None], dtype="Int8")))[0]
    assert "xor" in label_problems(lab.assign(future_return=[-0.01, 0.0, 0.3]))[0]


@pytest.mark.parametrize(
    ("asset", "rule"), [("features", feature_problems), ("labels", label_problems)]
)
def test_check_fails_on_a_crafted_bad_partition(tmp_path, asset, rule):
    instance = dg.DagsterInstance.ephemeral()
    key = "2024-01-01|BTCUSDT"
    _materialize(["raw_candles"], key, tmp_path, instance)
    _materialize(["features", "labels"], key, tmp_path, instance)
    assert check_stored(Layout.at(tmp_path), asset, key, rule).passed
    path = Layout.at(tmp_path).partition(asset, "BTCUSDT", date(2024, 1, 1))
    frame = read_parquet(path)
    if asset == "features":
        frame.loc[1000, "close"] = np.inf
    else:
        frame.loc[5, "future_return"] = np.nan  # a label whose return is unknown
    frame.to_parquet(path)
    assert not check_stored(Layout.at(tmp_path), asset, key, rule).passed
    assert not check_stored(
        Layout.at(tmp_path), asset, "2024-05-01|BTCUSDT", rule
    ).passed  # nothing stored


def _requested(result) -> set[tuple[str, str]]:
    return {
        (key.to_user_string(), partition)
        for key in (dg.AssetKey("features"), dg.AssetKey("labels"))
        for partition in result.get_requested_partitions(key)
    }


def test_daily_ingestion_leaves_features_and_labels_fresh(tmp_path):
    """Automation: new candles (the running month, and the next) trigger features and labels;
    months whose candles were never ingested are not attempted."""
    from resnet_pipeline_tests._pipeline import pipeline_defs

    defs = pipeline_defs()

    instance = dg.DagsterInstance.ephemeral()
    day = datetime(2024, 2, 1, 0, 15, tzinfo=UTC)
    graph = [defs.resolve_assets_def(k) for k in ("raw_candles", "features", "labels")]
    first = dg.evaluate_automation_conditions(defs=graph, instance=instance, evaluation_time=day)
    assert _requested(first) == set()  # nothing ingested yet: nothing to compute
    for key in ("2024-01-01|BTCUSDT", "2024-02-01|BTCUSDT"):  # what the schedule ran on Feb 1st
        _materialize(["raw_candles"], key, tmp_path, instance)
    second = dg.evaluate_automation_conditions(
        defs=graph, instance=instance, evaluation_time=day, cursor=first.cursor
    )
    requested = _requested(second)
    for name in ("features", "labels"):
        for key in ("2024-01-01|BTCUSDT", "2024-02-01|BTCUSDT"):
            assert (name, key) in requested, (name, key, requested)
    assert not any(p.endswith("ETHUSDT") for _, p in requested)  # no ETH candles arrived
