"""A search end to end on a tiny synthetic market: ``experiments search`` (a real process)
runs a grid of two learning rates whose second is far worse, so the median pruner stops it after
its first fold; ``experiment_search_job`` asks for one more (the grid is spent: a repeat, nothing
trained); the report counts the pruned trial in N and lists it as not scored."""

import json
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import dagster as dg
import optuna
import pytest

from resnet_pipeline.definitions import resources_on
from resnet_pipeline.defs.experiments import search_job
from resnet_pipeline.experiments.ledger import COMPLETE, PRUNED, ledger
from resnet_pipeline.experiments.search_study import DUPLICATE_ATTR, storage_url, study_name
from resnet_pipeline.layout import Layout
from resnet_pipeline.partitions import EXPERIMENT_TRIALS
from resnet_pipeline.resources.candle_source import SyntheticCandles
from resnet_pipeline.resources.experiment_directory import ExperimentDirectory
from resnet_pipeline.resources.mlflow_tracking import MlflowTracking
from resnet_pipeline.resources.venue import TradingVenue
from resnet_pipeline_tests._experiment_cli import REPORT_CONFIG, experiment_env
from resnet_pipeline_tests._pipeline import PARTITIONS, asset
from resnet_pipeline_tests._walk_forward_helpers import store_months
from resnet_pipeline_tests.conftest import REPO

pytestmark = pytest.mark.slow

SYMBOL = "BTCUSDT"
MONTHS = [date(2024, 1, 1), date(2024, 2, 1), date(2024, 3, 1)]
# Grid seed 1 proposes lr 1e-3 first, then 3e-2, whose validation loss is several times worse.
TINY = """
months: [2024-02, 2024-03]
symbols: [BTCUSDT]
base:
  folds: {window: 32, min_train_samples: 16}
  training: {epochs: 1, batch_size: 16, max_train_samples: 32, max_val_samples: 64,
             augment: false, device: cpu}
  importance: {measure_importance: false}
search:
  space:
    training.lr: {categorical: [1.0e-3, 3.0e-2]}
  sampler: grid
  seed: 1
  startup_trials: 1
"""
NAME = "tiny-search"


def _resources(root: Path) -> dict:
    return resources_on(
        str(root / "data"),
        SyntheticCandles(),
        TradingVenue(),
        ExperimentDirectory(directory=str(root / "experiments"), symbols=[SYMBOL]),
        MlflowTracking(enabled=False),
    )


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    root = tmp_path_factory.mktemp("search")
    store_months(root / "data", SYMBOL, MONTHS, hours=6)
    (root / "experiments").mkdir()
    (root / "experiments" / f"{NAME}.yaml").write_text(TINY)
    (root / "home").mkdir()
    shutil.copy(REPO / "dagster.yaml", root / "home" / "dagster.yaml")
    cli = subprocess.run(
        [sys.executable, "-m", "resnet_pipeline.cli.experiments", "search", NAME, "--trials", "2"],
        env=experiment_env(root, SYMBOL), cwd=root, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert cli.returncode == 0, cli.stderr[-3000:]
    instance = dg.DagsterInstance.from_config(str(root / "home"))
    defs = dg.Definitions.merge(
        search_job.build(PARTITIONS), dg.Definitions(resources=_resources(root))
    )
    job = defs.resolve_job_def("experiment_search_job").execute_in_process(
        run_config={"ops": {"experiment_search": {"config": {"experiment": NAME, "trials": 1}}}},
        instance=instance,
    )
    assert job.success
    report = dg.materialize(
        [asset("experiment_report")],
        partition_key=f"{NAME}:{SYMBOL}",
        resources=_resources(root),
        instance=instance,
        run_config={"ops": {"experiment_report": {"config": REPORT_CONFIG}}},
    )
    return root, instance, cli.stdout, report


def test_the_pruner_stops_the_worse_trial_after_its_first_fold(searched):
    root, _, stdout, _ = searched
    files = Layout.at(root / "data").experiment(NAME, SYMBOL)
    records = {r.variant: r for r in ledger(files)}
    assert sorted(records) == ["search-000", "search-001"]
    good, bad = records["search-000"], records["search-001"]
    assert (good.status, bad.status) == (COMPLETE, PRUNED)
    assert good.config["training"]["lr"] == 1.0e-3 and bad.config["training"]["lr"] == 3.0e-2
    assert bad.note.startswith("after 2024-02, 1 of 2 folds")
    # the pruned trial's second fold was never trained: the compute pruning saves
    assert files.trial(bad.config_hash).fold(date(2024, 2, 1)).info.exists()
    assert not files.trial(bad.config_hash).fold(date(2024, 3, 1)).info.exists()
    fold = json.loads(files.trial(good.config_hash).fold(date(2024, 3, 1)).info.read_text())
    assert fold["variant"] == "search-000" and fold["config_source"] == "the search"
    objective = (
        fold["calibration"]["val_log_loss_before"]
        + json.loads(files.trial(good.config_hash).fold(date(2024, 2, 1)).info.read_text())[
            "calibration"
        ]["val_log_loss_before"]
    ) / 2
    assert good.note == f"val_log_loss={objective:.6g}"
    lines = [line for line in stdout.splitlines() if line.startswith("search-")]
    assert lines[1].startswith("search-001 {'training.lr': 0.03}: pruned")
    assert "trials 2/2: 1 complete, 1 pruned, 0 failed" in lines[1]
    assert "best objective" in lines[1] and "ETA" in lines[1]


def test_the_study_holds_every_trial_and_the_job_s_repeat_trains_nothing(searched):
    root, instance, _, _ = searched
    files = Layout.at(root / "data").experiment(NAME, SYMBOL)
    study = optuna.load_study(study_name=study_name(NAME, SYMBOL), storage=storage_url(files))
    states = [t.state for t in study.trials]
    assert states[:2] == [optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED]
    repeat = study.trials[2]  # the grid is spent: a configuration already in the ledger
    assert repeat.user_attrs[DUPLICATE_ATTR] in ("search-000", "search-001")
    assert len(ledger(files)) == 2  # the same configuration is the same trial
    keys = instance.get_dynamic_partitions(EXPERIMENT_TRIALS.name)
    assert keys == [f"{NAME}:{SYMBOL}:search-000", f"{NAME}:{SYMBOL}:search-001"]
    folds = instance.fetch_materializations(dg.AssetKey("experiment_fold"), limit=10).records
    assert sorted(r.partition_key for r in folds) == [
        f"2024-02-01|{NAME}:{SYMBOL}:search-000",
        f"2024-02-01|{NAME}:{SYMBOL}:search-001",
        f"2024-03-01|{NAME}:{SYMBOL}:search-000",
    ]


def test_the_report_counts_the_pruned_trial_in_n_and_does_not_score_it(searched):
    root, _, _, report = searched
    summary = json.loads(
        Layout.at(root / "data").experiment(NAME, SYMBOL).report.summary.read_text()
    )
    assert summary["n_trials"] == 2 and summary["scored_trials"] == 1
    assert [line["variant"] for line in summary["leaderboard"]] == ["search-000"]
    (note,) = summary["incomplete"]
    assert note.startswith("search-001@")
    assert "1 of 2 months; pruned by the search (after 2024-02" in note
    assert note.endswith("counted in N, not scored")
    standing = {row["variant"]: row["standing"] for row in summary["ledger"]}
    assert standing["search-000"].startswith("search trial, complete")
    assert standing["search-001"].startswith("search trial, pruned")
    event = report.asset_materializations_for_node("experiment_report")[0]
    assert "after 2 trials" in event.metadata["verdict"].value
