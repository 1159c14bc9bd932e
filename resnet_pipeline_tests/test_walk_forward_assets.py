"""wf_model, wf_predictions and wf_report through real Dagster on stored synthetic months,
and a fold range from the CLI in one run (`--partition-range`)."""

import json
import re
import shutil
from datetime import date

import dagster as dg
import pandas as pd
import pytest
import torch

from resnet_pipeline.artifacts import file_sha256
from resnet_pipeline.ml.folds.fold_identity import PREDICTIONS_DIGEST_COLUMN
from resnet_pipeline.ml.model.checkpoint import load_checkpoint
from resnet_pipeline.resources.io_manager import DataStore
from resnet_pipeline.resources.venue import TradingVenue
from resnet_pipeline.storage import read_parquet
from resnet_pipeline_tests._figures import value_of
from resnet_pipeline_tests._pipeline import asset
from resnet_pipeline_tests._report_fixtures import PLOTS
from resnet_pipeline_tests._walk_forward_helpers import store_months
from resnet_pipeline_tests.conftest import run_cli

wf_model = asset("wf_model")
wf_predictions = asset("wf_predictions")
wf_report = asset("wf_report")

pytestmark = pytest.mark.slow

ASSETS = [wf_model, wf_predictions, wf_report]
MONTHS = [date(2024, 1, 1), date(2024, 2, 1), date(2024, 3, 1)]
HOURS = 3  # per month: a fold trains and predicts in seconds
TINY = {
    "window": 32,
    "epochs": 2,
    "warm_start_epochs": 1,
    "batch_size": 16,
    "max_train_samples": 32,
    "max_val_samples": 32,
    "augment": False,
    "device": "cpu",
}


def _run(root, selection, partition, config=None, instance=None, report=None):
    ops = {"wf_model": {"config": TINY | (config or {})}} if "wf_model" in selection else {}
    if "wf_report" in selection:
        ops["wf_report"] = {"config": {"n_boot": 200} | (report or {})}
    return dg.materialize(
        ASSETS,
        selection=selection,
        partition_key=partition,
        resources={"store": DataStore(root=str(root)), "venue": TradingVenue()},
        run_config={"ops": ops},
        instance=instance or dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


def _failure(result, asset) -> str:
    return str(result.failure_data_for_node(asset).user_failure_data.description)


def _metadata(result, asset):
    event = result.asset_materializations_for_node(asset)[0]
    return {k: v.value for k, v in event.metadata.items()}


@pytest.fixture(scope="module")
def folds(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    store_months(root, "BTCUSDT", MONTHS, HOURS)
    instance = dg.DagsterInstance.ephemeral()
    runs = {}
    for month, extra in (("2024-02", {}), ("2024-03", {"warm_start": True})):
        runs[month] = _run(
            root, ["wf_model", "wf_predictions"], f"{month}-01|BTCUSDT", extra, instance
        )
        assert runs[month].success, runs[month].all_events[-5:]
    runs["report"] = _run(root, ["wf_report"], "BTCUSDT", instance=instance)
    assert runs["report"].success
    return root, runs


def test_each_fold_trains_before_its_month_and_says_how_it_started(folds):
    root, runs = folds
    assert _metadata(runs["2024-02"], "wf_model")["start"] == "cold"
    assert _metadata(runs["2024-03"], "wf_model")["start"] == "warm from 2024-02"
    march = load_checkpoint(root / "walk_forward" / "BTCUSDT" / "2024-03" / "model.pt")
    assert march.lineage["fold_month"] == "2024-03"
    assert pd.Timestamp(march.lineage["val_last"]) < pd.Timestamp("2024-03-01", tz="UTC")
    assert march.split_config["months"] == ["2024-01", "2024-02"]  # expanding window
    assert len(march.history) == 1  # warm start: warm_start_epochs, not the cold 2
    fold = json.loads((root / "walk_forward" / "BTCUSDT" / "2024-03" / "fold.json").read_text())
    assert fold["start"] == "warm from 2024-02" and fold["train_samples"] > 0


def test_stitched_predictions_equal_the_fold_predictions(folds):
    root, _ = folds
    stitched = read_parquet(
        root / "reports" / "BTCUSDT" / "walk_forward" / "stitched_predictions.parquet"
    )
    for month in ("2024-02", "2024-03"):
        fold = read_parquet(root / "walk_forward" / "BTCUSDT" / month / "predictions.parquet")
        part = stitched[stitched["fold"] == month].drop(columns="fold").reset_index(drop=True)
        pd.testing.assert_frame_equal(part, fold)
        assert fold["timestamp"].dt.strftime("%Y-%m").eq(month).all()
    assert len(stitched) == sum(
        len(read_parquet(root / "walk_forward" / "BTCUSDT" / m / "predictions.parquet"))
        for m in ("2024-02", "2024-03")
    )


def test_report_gives_the_verdict_with_intervals(folds):
    root, runs = folds
    meta = _metadata(runs["report"], "wf_report")
    assert meta["verdict"].startswith("no edge detected at 95%")  # the synthetic market
    assert meta["folds"] == "2"
    summary = json.loads(
        (root / "reports" / "BTCUSDT" / "walk_forward" / "walk_forward.json").read_text()
    )
    intervals = summary["intervals"]["classification"]
    assert {"model_minus_majority_accuracy", "model_minus_logistic_auc"} <= set(intervals)
    assert [r["month"] for r in summary["monthly"]] == ["2024-02", "2024-03"]
    html = (root / "reports" / "BTCUSDT" / "walk_forward" / "report.html").read_text()
    assert "no edge detected at 95%" in html and "data:image/png;base64," in html


FLAT = (
    "accuracy_minus_majority",
    "accuracy_minus_majority_low",
    "accuracy_minus_majority_high",
    "auc_minus_logistic",
    "trades",
    "total_return",
    "buy_and_hold_total_return",
    "model_accuracy",
    "majority_accuracy",
    "logistic_auc",
)


def test_report_metadata_leads_with_the_headline_and_key_figure_then_figures_as_text(folds):
    _, runs = folds
    event = runs["report"].asset_materializations_for_node("wf_report")[0]
    assert next(iter(event.metadata)) == "headline"  # the first entry the UI lists
    headline = event.metadata["headline"].value
    assert headline.startswith(("**NO EDGE**", "**EDGE**"))
    assert "- accuracy over " in headline and "- Sharpe after costs over 0: " in headline
    assert list(event.metadata)[1] == "key_figure"  # the equity curve, shown without a click
    assert "data:image/svg+xml," in event.metadata["key_figure"].value
    numbers = (dg.FloatMetadataValue, dg.IntMetadataValue)
    assert not [k for k, v in event.metadata.items() if isinstance(v, numbers)]  # no Plots
    meta = {k: v.value for k, v in event.metadata.items()}
    for key in FLAT:  # text: a symbol's figures are no series; at most 4 significant digits
        assert isinstance(meta[key], str), key
        digits = re.sub(r"\D", "", meta[key].split("e")[0]).lstrip("0")
        assert "." not in meta[key] or len(digits) <= 4, (key, meta[key])
    assert set(PLOTS) <= set(meta)
    for name in PLOTS:
        assert meta[name].startswith("![") and "(data:image/png;base64," in meta[name], name


def test_report_checks_warn_on_zero_trades_and_on_a_worse_verdict(folds):
    _, runs = folds
    meta = _metadata(runs["report"], "wf_report")
    checks = {c.check_name: c for c in runs["report"].get_asset_check_evaluations()}
    assert set(checks) == {"has_trades", "not_worse_than_baselines"}
    for check in checks.values():
        assert check.severity == dg.AssetCheckSeverity.WARN
        assert check.partition == "BTCUSDT"  # per symbol partition
    assert checks["has_trades"].passed == (value_of(meta["trades"]) > 0)
    if not value_of(meta["trades"]):
        assert checks["has_trades"].description.startswith("warning: 0 trades: ")
    worse = "worse (" in meta["headline"]
    assert checks["not_worse_than_baselines"].passed == (not worse)


def test_the_folds_table_counts_each_months_predictions_and_shows_its_windows(folds):
    root, _ = folds
    html = (root / "reports" / "BTCUSDT" / "walk_forward" / "report.html").read_text()
    for month in ("2024-02", "2024-03"):
        predicted = len(
            read_parquet(root / "walk_forward" / "BTCUSDT" / month / "predictions.parquet")
        )
        fold = json.loads((root / "walk_forward" / "BTCUSDT" / month / "fold.json").read_text())
        row = re.search(rf"<tr><td>{month}</td>(.*?)</tr>", html.split("Folds: windows")[1])
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row.group(1))
        assert f"{predicted:,}" in cells and predicted > 0
        assert pd.Timestamp(fold["val_first"]).strftime("%Y-%m-%d %H:%M") in cells
        assert fold["start"] in cells and str(fold["epochs_run"]) in cells
    assert "None" not in html and "{" not in html.split("<body>")[1]  # no raw None or dict


def test_each_fold_partition_carries_its_own_months_figures(folds):
    _, runs = folds
    model = _metadata(runs["2024-03"], "wf_model")
    assert model["month"] == "2024-03" and model["start"] == "warm from 2024-02"
    assert {"train_first", "train_last", "val_first", "val_last", "epochs_run"} <= set(model)
    assert "plot_training_curves" in model and "folds" not in model and "wall_time_s" not in model
    event = runs["2024-02"].asset_materializations_for_node("wf_predictions")[0]
    assert next(iter(event.metadata)) == "headline"
    predictions = {k: v.value for k, v in event.metadata.items()}
    assert "- accuracy over " in predictions["headline"]
    assert {"model_accuracy", "majority_accuracy", "accuracy_minus_majority"} <= set(predictions)
    assert predictions["samples"] == len(
        read_parquet(folds[0] / "walk_forward" / "BTCUSDT" / "2024-02" / "predictions.parquet")
    )


def test_predictions_refuse_another_months_model_and_name_the_fix(folds, tmp_path):
    root, _ = folds
    copy = tmp_path / "data"
    shutil.copytree(root, copy)
    fold = copy / "walk_forward" / "BTCUSDT"
    shutil.copy(fold / "2024-02" / "model.pt", fold / "2024-03" / "model.pt")
    result = _run(copy, ["wf_predictions"], "2024-03-01|BTCUSDT")
    assert not result.success
    text = _failure(result, "wf_predictions")
    assert "BTCUSDT's fold model for 2024-03" in text and "fold_month=2024-02" in text
    assert "--select wf_model --partition '2024-03-01|BTCUSDT'" in text


def test_a_fold_without_history_names_the_ingestion_command(tmp_path):
    store_months(tmp_path, "BTCUSDT", [date(2024, 2, 1)], HOURS)
    result = _run(tmp_path, ["wf_model"], "2024-02-01|BTCUSDT")
    assert not result.success
    text = str(result.failure_data_for_node("wf_model").user_failure_data.description)
    assert "--select raw_candles,features,labels --partition '2024-01-01|BTCUSDT'" in text


def test_a_range_of_folds_from_the_cli_in_one_run(cli_env, tmp_path):
    store_months(tmp_path / "data", "BTCUSDT", MONTHS, HOURS)
    config = {
        "execution": {"config": {"in_process": {}}},
        "ops": {"wf_model": {"config": TINY | {"warm_start": True}}},
    }
    run = run_cli(
        [
            "asset",
            "materialize",
            "-m",
            "resnet_pipeline.definitions",
            "--select",
            "wf_model,wf_predictions",
            "--partition-range",
            "2024-02-01|BTCUSDT...2024-03-01|BTCUSDT",
            "--config-json",
            json.dumps(config),
        ],
        cli_env,
        tmp_path,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    for month in ("2024-02", "2024-03"):
        assert (
            tmp_path / "data" / "walk_forward" / "BTCUSDT" / month / "predictions.parquet"
        ).exists()
    assert "BTCUSDT fold 2024-03: warm from 2024-02" in run.stderr  # one run, oldest first
    fold = json.loads(
        (tmp_path / "data" / "walk_forward" / "BTCUSDT" / "2024-03" / "fold.json").read_text()
    )
    assert fold["start"] == "warm from 2024-02"
    with dg.DagsterInstance.from_config(cli_env["DAGSTER_HOME"]) as instance:
        done = instance.get_materialized_partitions(dg.AssetKey("wf_predictions"))
    assert {"2024-02-01|BTCUSDT", "2024-03-01|BTCUSDT"} <= {str(k) for k in done}


def _data_version(result, asset) -> str:
    [event] = result.asset_materializations_for_node(asset)
    return event.tags["dagster/data_version"]


def test_a_retrained_fold_marks_its_predictions_stale_and_the_report_refuses_them(folds, tmp_path):
    root, _ = folds
    copy = tmp_path / "data"
    shutil.copytree(root, copy)
    march = copy / "walk_forward" / "BTCUSDT" / "2024-03"
    instance = dg.DagsterInstance.ephemeral()
    both = _run(copy, ["wf_model", "wf_predictions"], "2024-03-01|BTCUSDT", instance=instance)
    assert both.success
    first = file_sha256(march / "model.pt")
    assert _data_version(both, "wf_model") == first  # the partition's data version
    assert _metadata(both, "wf_predictions")["fold_model_sha256"] == first
    predictions = read_parquet(march / "predictions.parquet")
    assert set(predictions[PREDICTIONS_DIGEST_COLUMN]) == {first}

    again = _run(copy, ["wf_model"], "2024-03-01|BTCUSDT", {"seed": 1}, instance)
    assert again.success
    second = file_sha256(march / "model.pt")
    # Dagster marks wf_predictions stale when its wf_model partition's data version changed
    assert second != first and _data_version(again, "wf_model") == second
    assert json.loads((march / "fold.json").read_text())["model_sha256"] == second

    report = _run(copy, ["wf_report"], "BTCUSDT")
    assert not report.success
    text = _failure(report, "wf_report")
    assert f"fold 2024-03: the predictions were made by model {first[:12]}" in text
    assert f"current model is {second[:12]}" in text
    assert "re-run dagster asset materialize" in text
    assert "--select wf_predictions --partition '2024-03-01|BTCUSDT'" in text
    assert "2024-02" not in text  # February's fold is up to date
    assert _run(copy, ["wf_predictions"], "2024-03-01|BTCUSDT").success
    assert _run(copy, ["wf_report"], "BTCUSDT").success


def test_a_report_refuses_a_fold_json_of_another_model(folds, tmp_path):
    root, _ = folds
    copy = tmp_path / "data"
    shutil.copytree(root, copy)
    fold = copy / "walk_forward" / "BTCUSDT"
    shutil.copy(fold / "2024-02" / "fold.json", fold / "2024-03" / "fold.json")
    report = _run(copy, ["wf_report"], "BTCUSDT")
    assert not report.success
    text = _failure(report, "wf_report")
    assert "fold 2024-03: fold.json describes model" in text
    assert "--select wf_model --partition '2024-03-01|BTCUSDT'" in text
    assert "then dagster asset materialize" in text and "--select wf_predictions" in text


def test_a_corrupt_fold_model_names_only_the_wf_model_command(folds, tmp_path):
    root, _ = folds
    copy = tmp_path / "data"
    shutil.copytree(root, copy)
    model = copy / "walk_forward" / "BTCUSDT" / "2024-03" / "model.pt"
    model.write_bytes(model.read_bytes()[:200])
    result = _run(copy, ["wf_predictions"], "2024-03-01|BTCUSDT")
    assert not result.success
    text = _failure(result, "wf_predictions")
    assert str(model) in text and "trained_model" not in text
    assert text.count("dagster asset materialize") == 1
    assert "--select wf_model --partition '2024-03-01|BTCUSDT'" in text


def test_a_fold_model_from_before_calibration_is_refused_naming_the_wf_model_command(
    folds, tmp_path
):
    root, _ = folds
    copy = tmp_path / "data"
    shutil.copytree(root, copy)
    model = copy / "walk_forward" / "BTCUSDT" / "2024-03" / "model.pt"
    payload = torch.load(model, weights_only=True)
    assert payload["metrics"].pop("temperature") > 0
    torch.save(payload, model)
    result = _run(copy, ["wf_predictions"], "2024-03-01|BTCUSDT")
    assert not result.success
    text = _failure(result, "wf_predictions")
    assert "has no temperature" in text
    assert "--select wf_model --partition '2024-03-01|BTCUSDT'" in text


@pytest.mark.parametrize("n_boot", [-5, 0])
def test_a_report_without_enough_resamples_is_refused_naming_the_range(folds, n_boot):
    root, _ = folds
    result = _run(root, ["wf_report"], "BTCUSDT", report={"n_boot": n_boot})
    assert not result.success
    text = _failure(result, "wf_report")
    assert f"n_boot={n_boot}: use a whole number in [100, 100,000]" in text
    assert "\n" not in text
