"""Reruns cost nothing (issue 30, part 4): a fold already finished from the same configuration,
inputs and warm start is skipped by ``experiments run`` (a real process) and by a run of
``experiment_fold`` (a UI backfill); a variant added to the file trains alone; two runs of one
fold at once train it once. A ``trial.json`` cut short is named with its repair and leaves the
other trials' report; a stale fold names the experiment fold and its command (part 7)."""

import json
import logging
import shutil
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.definitions.partitions.context import partition_loading_context

from resnet_pipeline.definitions import build_definitions
from resnet_pipeline.defs.experiments.experiment_fold import SKIPPED
from resnet_pipeline.defs.experiments.experiment_partitions import (
    apply_requests,
    partition_requests,
)
from resnet_pipeline.defs.experiments.trial_folds import finished, trial_series
from resnet_pipeline.defs.experiments.trials import resolve_trial
from resnet_pipeline.experiments.fold_inputs import fold_digests, read_history
from resnet_pipeline.experiments.registration import Registration, month_requests
from resnet_pipeline.features.labels import LabelConfig
from resnet_pipeline.layout import Layout
from resnet_pipeline.ml.folds.monthly_folds import FoldConfig
from resnet_pipeline.partitions import EXPERIMENT_FOLDS, EXPERIMENT_MONTHS, EXPERIMENT_TRIALS
from resnet_pipeline.settings import load_settings
from resnet_pipeline.storage import read_parquet, write_parquet_atomic
from resnet_pipeline.training_lock import lock_file, training_lock
from resnet_pipeline_tests._experiment_cli import REPORT_CONFIG, experiment_env
from resnet_pipeline_tests._pipeline import pipeline_defs
from resnet_pipeline_tests._walk_forward_helpers import month_frames, store_months
from resnet_pipeline_tests.conftest import REPO

pytestmark = pytest.mark.slow

SYMBOL = "BTCUSDT"
FEB = date(2024, 2, 1)
ONE = """
months: [2024-02]
symbols: [BTCUSDT]
base:
  folds: {window: 32, min_train_samples: 16, warm_start: true, warm_start_epochs: 1}
  training: {epochs: 1, batch_size: 16, max_train_samples: 32, max_val_samples: 64,
             augment: false, device: cpu}
  importance: {measure_importance: false}
variants:
  - name: a
"""
TWO = ONE + "  - name: b\n    model: {dropout: 0.2}\n"


def _env(root: Path) -> dict[str, str]:
    return experiment_env(root, SYMBOL)


def _run_file(root: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "resnet_pipeline.cli.experiments", "run", "experiments/r.yaml",
         "--n-boot", "100"],
        env=_env(root), cwd=root, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return done.stdout


def _model(root: Path, variant: str) -> Path:
    defs, _ = _dagster(root)
    trial = _trial(defs, variant)
    return Path(trial_series(defs.resources["store"].layout, trial).files(FEB).model)


def _dagster(root: Path) -> tuple[dg.Definitions, dg.DagsterInstance]:
    env = _env(root)
    defs = build_definitions(load_settings(env), env={})
    return defs, dg.DagsterInstance.from_config(env["DAGSTER_HOME"])


def _trial(defs: dg.Definitions, variant: str):
    resources = defs.resources
    return resolve_trial(
        f"r:{SYMBOL}:{variant}", resources["experiments"], _layout(defs), resources["venue"].market
    )


def _layout(defs: dg.Definitions) -> Layout:
    return defs.resources["store"].layout


def _fold_run(defs, instance, variant: str) -> dg.ExecuteInProcessResult:
    return defs.resolve_job_def("experiment_job").execute_in_process(
        partition_key=f"2024-02-01|r:{SYMBOL}:{variant}", instance=instance
    )


def _skipped(result: dg.ExecuteInProcessResult) -> int:
    """1 when the run found its fold finished and skipped it, 0 when it trained it."""
    event = result.asset_materializations_for_node("experiment_fold")[0]
    return int(event.metadata[SKIPPED].value)


@pytest.fixture(scope="module")
def reruns(tmp_path_factory):
    """The file run with one variant, then again with a second added."""
    root = tmp_path_factory.mktemp("reruns")
    store_months(root / "data", SYMBOL, [date(2024, 1, 1), FEB], hours=6)
    (root / "experiments").mkdir()
    (root / "home").mkdir()
    shutil.copy(REPO / "dagster.yaml", root / "home" / "dagster.yaml")
    (root / "experiments" / "r.yaml").write_text(ONE)
    first = _run_file(root)
    trained = _model(root, "a").stat().st_mtime_ns
    (root / "experiments" / "r.yaml").write_text(TWO)
    second = _run_file(root)
    return root, first, second, trained


def test_adding_a_variant_and_running_the_file_again_trains_only_that_variant(reruns):
    root, first, second, trained = reruns
    assert f"-> experiment_fold 2024-02-01|r:{SYMBOL}:a" in first
    assert f"-> experiment_fold 2024-02-01|r:{SYMBOL}:a" not in second
    assert (
        f"fold 2024-02 of trial a ({SYMBOL}) is complete (same config, inputs and warm start): "
        "skipped" in second
    )
    assert f"-> experiment_fold 2024-02-01|r:{SYMBOL}:b" in second
    assert _model(root, "a").stat().st_mtime_ns == trained  # a's model was not written again
    assert _model(root, "b").exists()


def test_a_run_of_a_finished_fold_returns_its_record_and_a_changed_input_trains_it(reruns):
    root, _, _, _ = reruns
    defs, instance = _dagster(root)
    model = _model(root, "a")
    before = model.stat().st_mtime_ns
    again = _fold_run(defs, instance, "a")  # what a UI backfill of the partition runs
    assert _skipped(again) == 1 and model.stat().st_mtime_ns == before
    said = [e.message for e in instance.all_logs(again.run_id) if e.message]
    assert any("fold 2024-02 of trial a (BTCUSDT) is complete" in m for m in said)
    meta = again.asset_materializations_for_node("experiment_fold")[0].metadata
    record = json.loads(model.with_name("fold.json").read_text())
    assert meta["model_sha256"].value == record["model_sha256"]  # the fold's own record

    series = trial_series(_layout(defs), _trial(defs, "a"))
    warm = series.files(date(2024, 1, 1)).model  # a warm start's model appears: another fold
    warm.parent.mkdir(parents=True, exist_ok=True)
    warm.write_bytes(b"another January model")
    assert finished(_layout(defs), series, FEB) is None
    warm.unlink()
    warm.parent.rmdir()
    assert finished(_layout(defs), series, FEB) is not None

    _, features, _ = month_frames(SYMBOL, FEB, hours=5)  # February's features change
    write_parquet_atomic(features, _layout(defs).partition("features", SYMBOL, FEB))
    assert finished(_layout(defs), series, FEB) is None
    retrained = _fold_run(defs, instance, "a")
    assert _skipped(retrained) == 0 and model.stat().st_mtime_ns > before
    assert finished(_layout(defs), series, FEB) is not None


def test_two_runs_of_the_file_at_once_train_each_fold_once(reruns):
    root, _, _, _ = reruns
    defs, instance = _dagster(root)
    shutil.rmtree(_model(root, "b").parent)  # b's fold is to be trained again
    # the test holds the training lock until both runs wait for it: they both found b's fold
    # to train before either could train it
    with training_lock(lock_file(instance), "the test", logging.getLogger(__name__)):
        runs = [_start_file(root) for _ in range(2)]
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and _waiting(instance) < 2:
            assert all(run.poll() is None for run in runs), runs[0].communicate()
            time.sleep(0.5)
        assert _waiting(instance) == 2
    said = [run.communicate(timeout=300)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], said
    line = f"fold 2024-02 of trial b ({SYMBOL}) is complete"
    assert sorted(line in out for out in said) == [False, True], said  # trained once
    assert all(f"-> experiment_fold 2024-02-01|r:{SYMBOL}:b" in out for out in said)
    assert finished(_layout(defs), trial_series(_layout(defs), _trial(defs, "b")), FEB)


def _start_file(root: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "resnet_pipeline.cli.experiments", "run", "experiments/r.yaml",
         "--n-boot", "100"],
        env=_env(root), cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def _waiting(instance: dg.DagsterInstance) -> int:
    """Runs whose log says they wait for the training lock."""
    started = instance.get_run_records(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
    return sum(
        any(
            "to finish training" in (e.message or "")
            for e in instance.all_logs(r.dagster_run.run_id)
        )
        for r in started
    )


def test_fold_months_stay_in_calendar_order_when_an_earlier_month_is_registered():
    assert month_requests([], ["2024-03-01", "2024-02-01"]) == ([], ["2024-02-01", "2024-03-01"])
    assert month_requests(["2024-02-01", "2024-03-01"], ["2024-03-01"]) == ([], [])
    assert month_requests(["2024-02-01"], ["2024-04-01"]) == ([], ["2024-04-01"])
    known = ["2024-02-01", "2024-05-01", "2024-06-01"]
    out, back = month_requests(known, ["2024-04-01", "2024-06-01", "2023-12-01"])
    assert (out, back) == (known, ["2023-12-01", "2024-02-01", "2024-04-01", "2024-05-01",
                                   "2024-06-01"])  # fmt: skip
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(EXPERIMENT_MONTHS.name, known)
    plan = Registration()
    plan.months = {date(2024, 4, 1)}
    apply_requests(instance, partition_requests(instance, plan))
    assert instance.get_dynamic_partitions(EXPERIMENT_MONTHS.name) == sorted(known + ["2024-04-01"])
    # so a partition range (what `register` prints) is the span of months between its ends
    instance.add_dynamic_partitions(EXPERIMENT_TRIALS.name, ["e:BTCUSDT:t"])
    folds = EXPERIMENT_FOLDS.get_partition_keys_in_range(
        dg.PartitionKeyRange("2024-02-01|e:BTCUSDT:t", "2024-05-01|e:BTCUSDT:t"),
        dynamic_partitions_store=instance,
    )
    assert [str(k).split("|")[0] for k in folds] == ["2024-02-01", "2024-04-01", "2024-05-01"]


def test_a_fold_links_to_its_month_of_features_and_its_variant():
    graph = pipeline_defs().resolve_asset_graph()
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(EXPERIMENT_MONTHS.name, ["2024-02-01"])
    instance.add_dynamic_partitions(EXPERIMENT_TRIALS.name, ["r:BTCUSDT:a"])
    fold, key = dg.AssetKey("experiment_fold"), "2024-02-01|r:BTCUSDT:a"
    with partition_loading_context(dynamic_partitions_store=instance):
        features = graph.get_parent_partition_keys_for_child(key, dg.AssetKey("features"), fold)
        variant = graph.get_parent_partition_keys_for_child(
            key, dg.AssetKey("experiment_variant"), fold
        )
    assert sorted(features.partitions_subset.get_partition_keys()) == [
        "2024-02-01|BTCUSDT",
        "2024-02-01|ETHUSDT",
    ]
    assert list(variant.partitions_subset.get_partition_keys()) == ["r:BTCUSDT:a"]
    assert EXPERIMENT_FOLDS.get_partition_keys(dynamic_partitions_store=instance) == [key]


@pytest.mark.parametrize("labels", [None, LabelConfig(forward_window=6)])
def test_a_finished_fold_is_known_from_its_files_digests_without_reading_them(tmp_path, labels):
    months = [date(2024, 1, 1), FEB, date(2024, 3, 1)]
    store_months(tmp_path, SYMBOL, months, hours=2)
    layout, config = Layout.at(tmp_path), FoldConfig(window=32, min_train_samples=16)
    history = read_history(layout, SYMBOL, months[1:], config, labels=labels, predicted=True)
    for month in months[1:]:
        assert fold_digests(layout, SYMBOL, month, config, labels) == history.fold(month).digests


def _report(defs, instance) -> dg.ExecuteInProcessResult:
    return defs.resolve_job_def("experiment_report_job").execute_in_process(
        partition_key=f"r:{SYMBOL}",
        instance=instance,
        run_config={"ops": {"experiment_report": {"config": REPORT_CONFIG}}},
        raise_on_error=False,
    )


def _summary(defs) -> dict:
    return json.loads(_layout(defs).experiment("r", SYMBOL).report.summary.read_text())


def test_a_cut_trial_json_is_named_with_its_repair_and_the_other_trials_are_reported(reruns):
    root, _, _, _ = reruns
    defs, instance = _dagster(root)
    record = _model(root, "a").parent.parent / "trial.json"
    record.write_text(record.read_text()[:40])  # cut short, as a full disk leaves it
    assert _report(defs, instance).success
    summary = _summary(defs)
    assert (summary["n_trials"], summary["scored_trials"]) == (2, 1)  # N still counts it
    (said,) = [line for line in summary["incomplete"] if "trial.json" in line]
    assert str(record) in said and "JSONDecodeError" in said
    repair = f"--partition-range '2024-02-01|r:{SYMBOL}:a...2024-02-01|r:{SYMBOL}:a'"
    assert repair in said
    assert _skipped(_fold_run(defs, instance, "a")) == 1  # the repair: nothing retrained
    assert json.loads(record.read_text())["variant"] == "a"
    assert _report(defs, instance).success
    assert (_summary(defs)["n_trials"], _summary(defs)["scored_trials"]) == (2, 2)


def test_a_stale_fold_names_the_experiment_fold_and_its_command(reruns):
    root, _, _, _ = reruns
    defs, instance = _dagster(root)
    predictions = _model(root, "b").with_name("predictions.parquet")
    frame = read_parquet(predictions)
    write_parquet_atomic(frame.assign(fold_model_sha256="0" * 64), predictions)
    report = _report(defs, instance)
    assert not report.success
    (failure,) = report.get_step_failure_events()
    message = failure.step_failure_data.user_failure_data.description
    assert message.startswith("experiment_fold 2024-02 of trial b (")
    assert "the fold was trained again since" in message and "wf_model" not in message
    assert f"--partition-range '2024-02-01|r:{SYMBOL}:b...2024-02-01|r:{SYMBOL}:b'" in message
    assert _skipped(_fold_run(defs, instance, "b")) == 0  # a stale fold is trained again
    assert _report(defs, instance).success
