"""An experiment end to end through real Dagster on a tiny synthetic market: the file's
partitions registered by the command line (a real process) and by the sensor, a trial's folds
as one CLI run (``--partition-range``) and another's in process, the report, the ledger and
MLflow; then the file edited: a deleted variant and an edited one never lower N."""

import dataclasses
import json
import shutil
import subprocess
import sys
from datetime import date
from html import escape
from pathlib import Path

import dagster as dg
import pytest

from resnet_pipeline.definitions import resources_on
from resnet_pipeline.defs.experiments import experiment_partitions as partitions_sensor
from resnet_pipeline.experiments.ledger import ledger
from resnet_pipeline.features.labels import LabelConfig, compute_labels
from resnet_pipeline.layout import Layout
from resnet_pipeline.partitions import EXPERIMENT_MONTHS, EXPERIMENT_REPORTS, EXPERIMENT_TRIALS
from resnet_pipeline.resources.candle_source import SyntheticCandles
from resnet_pipeline.resources.experiment_directory import ExperimentDirectory
from resnet_pipeline.resources.mlflow_tracking import MlflowTracking
from resnet_pipeline.resources.venue import TradingVenue
from resnet_pipeline.storage import read_parquet, read_partitions
from resnet_pipeline_tests._experiment_cli import REPORT_CONFIG, experiment_env
from resnet_pipeline_tests._figures import value_of
from resnet_pipeline_tests._pipeline import PARTITIONS, asset
from resnet_pipeline_tests._walk_forward_helpers import store_months
from resnet_pipeline_tests.conftest import REPO, run_cli

experiment_fold = asset("experiment_fold")
experiment_report = asset("experiment_report")
experiment_variant = asset("experiment_variant")

pytestmark = pytest.mark.slow

SYMBOL = "BTCUSDT"
MONTHS = [date(2024, 1, 1), date(2024, 2, 1), date(2024, 3, 1)]
TINY = """
months: [2024-02, 2024-03]
symbols: [BTCUSDT]
base:
  folds: {window: 32, min_train_samples: 16, warm_start: true, warm_start_epochs: 1}
  training: {epochs: 2, batch_size: 16, max_train_samples: 32, max_val_samples: 64,
             augment: false, device: cpu}
variants:
  - name: spec
  - name: short
    labels: {forward_window: 6, vol_k: 0.5, vol_window: 60, vol_min_returns: 30}
"""
SHORT_VARIANT = (
    "  - name: short\n"
    "    labels: {forward_window: 6, vol_k: 0.5, vol_window: 60, vol_min_returns: 30}\n"
)
EDITED = TINY.replace(SHORT_VARIANT, "").replace(
    "  - name: spec\n", "  - name: spec\n    model: {dropout: 0.1}\n"
)
SPEC, SHORT = "tiny:BTCUSDT:spec", "tiny:BTCUSDT:short"
ASSETS = [experiment_variant, experiment_fold, experiment_report]
EXPERIMENT_PLOTS = [
    "plot_trial_sharpes",
    "plot_calibration",
    "plot_equity",
    "plot_confusion",
    "plot_confusion_per_fold",
    "plot_reliability",
    "plot_probability_histograms",
    "plot_threshold_sweep",
    "plot_importance_model_channels",
    "plot_importance_model_families",
    "plot_importance_model_folds",
]


def _env(root: Path) -> dict[str, str]:
    return experiment_env(root, SYMBOL)


def _resources(root: Path, mlflow: bool = False) -> dict:
    return resources_on(
        str(root / "data"),
        SyntheticCandles(),
        TradingVenue(),
        ExperimentDirectory(directory=str(root / "experiments"), symbols=[SYMBOL]),
        MlflowTracking(enabled=mlflow),
    )


def _materialize(root, instance, selection, partition, config=None):
    ops = {"experiment_report": {"config": config}} if config else {}
    result = dg.materialize(
        ASSETS,
        selection=selection,
        partition_key=partition,
        resources=_resources(root),
        instance=instance,
        run_config={"ops": ops},
        raise_on_error=False,
    )
    failures = [e.step_failure_data.error.message for e in result.get_step_failure_events()]
    assert result.success, failures
    return result


def _metadata(result, asset) -> dict:
    event = result.asset_materializations_for_node(asset)[0]
    return {k: getattr(v, "value", v) for k, v in event.metadata.items()}


def _sensor(root: Path, instance: dg.DagsterInstance) -> dg.SensorResult:
    resources = _resources(root)
    context = dg.build_sensor_context(
        instance=instance,
        resources={"experiments": resources["experiments"], "venue": resources["venue"]},
    )
    return partitions_sensor.build(PARTITIONS.months)(context)


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    root = tmp_path_factory.mktemp("experiment")
    store_months(root / "data", SYMBOL, MONTHS, hours=6)
    (root / "experiments").mkdir()
    (root / "experiments" / "tiny.yaml").write_text(TINY)
    (root / "home").mkdir()
    shutil.copy(REPO / "dagster.yaml", root / "home" / "dagster.yaml")
    env = _env(root)
    registered = subprocess.run(
        [sys.executable, "-m", "resnet_pipeline.cli.experiments", "register",
         "experiments/tiny.yaml"],
        env=env, cwd=root, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert registered.returncode == 0, registered.stderr[-3000:]
    folds = run_cli(
        ["asset", "materialize", "-m", "resnet_pipeline.definitions", "--select",
         "experiment_fold", "--partition-range", f"2024-02-01|{SPEC}...2024-03-01|{SPEC}",
         "--config-json", json.dumps({"execution": {"config": {"in_process": {}}}})],
        env, REPO,
    )  # fmt: skip
    assert folds.returncode == 0, folds.stderr[-3000:]
    instance = dg.DagsterInstance.from_config(str(root / "home"))
    for month in ("2024-02-01", "2024-03-01"):
        _materialize(root, instance, ["experiment_fold"], f"{month}|{SHORT}")
    report = _materialize(root, instance, ["experiment_report"], "tiny:BTCUSDT", REPORT_CONFIG)
    return root, instance, registered.stdout, report


def test_the_command_line_registers_the_partitions_and_resolves_the_variants(experiment):
    root, instance, stdout, _ = experiment
    assert instance.get_dynamic_partitions(EXPERIMENT_TRIALS.name) == [SPEC, SHORT]
    assert instance.get_dynamic_partitions(EXPERIMENT_REPORTS.name) == ["tiny:BTCUSDT"]
    assert instance.get_dynamic_partitions(EXPERIMENT_MONTHS.name) == ["2024-02-01", "2024-03-01"]
    records = instance.fetch_materializations(experiment_variant.key, limit=10).records
    assert sorted(r.partition_key for r in records) == [SHORT, SPEC]
    assert (
        "--partition-range '2024-02-01|tiny:BTCUSDT:spec...2024-03-01|tiny:BTCUSDT:spec'" in stdout
    )


def test_the_sensor_adds_nothing_registered_and_asks_for_nothing_unchanged(experiment):
    root, instance, _, _ = experiment
    fresh = dg.DagsterInstance.ephemeral()
    first = _sensor(root, fresh)
    added = {r.partitions_def_name: r.partition_keys for r in first.dynamic_partitions_requests}
    assert added == {
        EXPERIMENT_TRIALS.name: [SPEC, SHORT],
        EXPERIMENT_MONTHS.name: ["2024-02-01", "2024-03-01"],
        EXPERIMENT_REPORTS.name: ["tiny:BTCUSDT"],
    }
    assert sorted(r.partition_key for r in first.run_requests) == [SHORT, SPEC]
    again = _sensor(root, instance)  # the registered instance: nothing to add or resolve
    assert again.dynamic_partitions_requests == [] and again.run_requests == []


def test_each_trial_s_folds_train_before_their_month_and_warm_start(experiment):
    root, _, _, _ = experiment
    for record in ledger(Layout.at(root / "data").experiment("tiny", SYMBOL)):
        trial = Layout.at(root / "data").experiment("tiny", SYMBOL).trial(record.config_hash)
        march = json.loads(trial.fold(date(2024, 3, 1)).info.read_text())
        assert march["start"] == "warm from 2024-02" and march["training_months"] == [
            "2024-01",
            "2024-02",
        ]
        assert march["config_hash"] == record.config_hash and march["temperature"] > 0
        predictions = read_parquet(trial.fold(date(2024, 3, 1)).predictions)
        columns = {"p_up", "calibrated_up", "majority_up", "logistic_up", "trees_up", "label"}
        assert columns <= set(predictions.columns)
        assert predictions["timestamp"].dt.strftime("%Y-%m").eq("2024-03").all()
    records = {r.variant: r for r in ledger(Layout.at(root / "data").experiment("tiny", SYMBOL))}
    assert records["spec"].config["labels"] == dataclasses.asdict(LabelConfig())
    short = records["short"].config["labels"]
    assert (short["forward_window"], short["vol_k"]) == (6, 0.5)
    # the variant's labels come from the stored candles with its rule; the stored labels
    # asset keeps the SPEC rule
    folder = Layout.at(root / "data").experiment("tiny", SYMBOL).trial(records["short"].config_hash)
    predicted = read_parquet(folder.fold(date(2024, 3, 1)).predictions).set_index("timestamp")
    candles = read_partitions(Layout.at(root / "data"), "raw_candles", SYMBOL, MONTHS)
    expected = compute_labels(candles, None, LabelConfig(**short)).set_index("timestamp")
    labels = expected["label"].reindex(predicted.index).astype("int64")
    assert (labels == predicted["label"]).all()
    stored = read_partitions(Layout.at(root / "data"), "labels", SYMBOL, MONTHS)
    stored = stored.set_index("timestamp")["label"].reindex(predicted.index)
    assert (stored != predicted["label"]).any()


def test_the_report_and_the_ledger_are_written(experiment):
    root, _, _, report = experiment
    meta = _metadata(report, "experiment_report")
    assert list(meta)[0] == "verdict"
    assert meta["verdict"].startswith("too few trades to judge (0 trades on 0 days) after 2 trials")
    assert meta["n_trials"] == meta["scored_trials"] == "2"  # text: trials are no time series
    files = Layout.at(root / "data").experiment("tiny", SYMBOL)
    summary = json.loads(files.report.summary.read_text())
    assert summary["n_trials"] == len(ledger(files)) == 2
    assert "None" not in files.report.html.read_text().split("<style>")[0]
    html = files.report.html.read_text()
    assert "Leaderboard" in html and "n/a" in html
    best = next(line for line in summary["leaderboard"] if line["trial"] == summary["best_trial"])
    folds = [  # the training the best trial's result rests on, from its fold.json files
        json.loads(files.trial(best["config_hash"]).fold(date(2024, m, 1)).info.read_text())
        for m in (2, 3)
    ]
    epochs = sorted({f["epochs_run"] for f in folds})
    assert best["run_settings"]["training"]["epochs"] == [f["epochs_run"] for f in folds]
    first_screen = html.split("<h2>Plots</h2>")[0]
    assert "Training: 2 models (one per month), each trained " + "-".join(map(str, epochs)) in (
        first_screen
    )
    importance = summary["importance"]  # what the best trial looks at, over its folds
    assert importance["trial"] == summary["best_trial"]
    assert list(importance["folds"]) == ["2024-02", "2024-03"]
    assert escape(f"{summary['best_trial']}'s model looks at ") in first_screen
    assert "Permutation importance per channel on log_loss" in html
    for plot in EXPERIMENT_PLOTS:  # every plot in the page and as its own metadata entry
        assert f'data-plot="{plot}"' in html
        assert meta[plot].startswith("![") and "data:image/png;base64," in meta[plot]
    for record in ledger(files):
        assert len(read_parquet(files.trial(record.config_hash).daily_returns)) == value_of(
            meta["days"]
        )


def test_the_cli_run_logged_each_variant_fold_to_mlflow(experiment):
    from mlflow import MlflowClient

    root, _, _, _ = experiment
    client = MlflowClient(tracking_uri=f"sqlite:///{root / 'data' / 'mlruns' / 'mlflow.db'}")
    found = client.get_experiment_by_name(f"tiny/{SYMBOL}")
    runs = client.search_runs([found.experiment_id])
    assert sorted(r.info.run_name for r in runs) == ["spec 2024-02", "spec 2024-03"]
    assert {r.data.params["labels.forward_window"] for r in runs} == {"12"}
    assert all("accuracy" in r.data.metrics and "ece_after" in r.data.metrics for r in runs)


def test_deleting_a_variant_never_lowers_n_and_editing_one_adds_a_trial(experiment):
    root, instance, _, _ = experiment
    (root / "experiments" / "tiny.yaml").write_text(EDITED)
    tick = _sensor(root, instance)
    assert tick.dynamic_partitions_requests == []  # nothing removed, nothing new
    assert [r.partition_key for r in tick.run_requests] == [SPEC]  # its configuration changed
    _materialize(root, instance, ["experiment_variant"], SPEC)
    _materialize(root, instance, ["experiment_fold"], f"2024-02-01|{SPEC}")  # one of two months
    report = _materialize(root, instance, ["experiment_report"], "tiny:BTCUSDT", REPORT_CONFIG)
    meta = _metadata(report, "experiment_report")
    assert meta["n_trials"] == "3" and meta["scored_trials"] == "2"
    assert meta["verdict"].startswith("too few trades to judge (0 trades on 0 days) after 3 trials")
    summary = json.loads(
        Layout.at(root / "data").experiment("tiny", SYMBOL).report.summary.read_text()
    )
    standing = {
        row["variant"] + ("" if row["scored"] else "*"): row["standing"]
        for row in summary["ledger"]
    }
    assert standing == {
        "spec": "edited since (the new configuration is another trial)",
        "short": "deleted from the file",
        "spec*": "in the file",
    }
    assert "1 of 2 months" in summary["incomplete"][0]
    assert f"--partition-range '2024-02-01|{SPEC}...2024-03-01|{SPEC}'" in summary["incomplete"][0]
