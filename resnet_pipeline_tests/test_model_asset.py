"""`trained_model` through real Dagster: progress in the run log, lineage, resume decisions."""

import uuid

import dagster as dg
import pytest
import torch

from resnet_pipeline.defs.training.training_config import TrainingConfig, training_plan
from resnet_pipeline.features.channel_names import FEATURE_CHANNELS
from resnet_pipeline.ml.data.dataset import DatasetSplits, build_splits
from resnet_pipeline.ml.data.splits import SplitConfig
from resnet_pipeline.ml.data.windows import WindowDataset
from resnet_pipeline.ml.model.checkpoint import load_checkpoint
from resnet_pipeline.ml.model.resnet import build_model
from resnet_pipeline.ml.training.device import FOLLOW_LOAD, fixed_threads
from resnet_pipeline.ml.training.trainer import train
from resnet_pipeline.resources.io_manager import DataStore
from resnet_pipeline.resources.venue import TradingVenue
from resnet_pipeline_tests._dataset_helpers import feature_frames
from resnet_pipeline_tests._figures import value_of
from resnet_pipeline_tests._pipeline import asset

trained_model = asset("trained_model")

SYMBOL = "BTCUSDT"
QUICK = {
    "epochs": 2,
    "batch_size": 32,
    "max_train_samples": 64,
    "max_val_samples": 64,
    "min_steps": 0,
    "augment": False,
    "num_threads": 1,
}


def _dataset(root, seed: int) -> DatasetSplits:
    splits = build_splits(*feature_frames(1500, seed=seed), SplitConfig(window=32))
    splits.lineage = {"symbol": SYMBOL, "months": [f"seed-{seed}"]}
    splits.save(root / "datasets" / SYMBOL)
    return DatasetSplits.load(root / "datasets" / SYMBOL)


def _materialize(root, instance=None, **config):
    instance = instance or dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        [trained_model],
        partition_key=SYMBOL,
        resources={"store": DataStore(root=str(root)), "venue": TradingVenue()},
        run_config={"ops": {"trained_model": {"config": QUICK | config}}},
        instance=instance,
        raise_on_error=False,
    )
    logs = [e for e in instance.all_logs(result.run_id) if e.user_message]
    return result, logs


def _failure(result) -> str:
    return result.get_step_failure_events()[0].step_failure_data.error.message


def _interrupted_state(root, splits, **config):
    """The training_state.pt a training killed after its first epoch leaves behind."""
    plan = training_plan(TrainingConfig(**(QUICK | config)), 32, FEATURE_CHANNELS, 1)
    model_cfg, train_cfg = plan.model, plan.train
    torch.manual_seed(0)

    class Killed(Exception):
        pass

    def kill(record):
        if record.get("kind") is None:
            raise Killed

    with pytest.raises(Killed):
        train(
            build_model(model_cfg),
            WindowDataset(splits, "train"),
            WindowDataset(splits, "val"),
            train_cfg,
            kill,
            state_path=root / "models" / SYMBOL / "training_state.pt",
            identity={"dataset_fingerprint": splits.fingerprint},
        )


def test_progress_lines_inside_epochs_and_a_lineage_that_proves_its_origin(tmp_path):
    splits = _dataset(tmp_path, seed=1)
    result, logs = _materialize(tmp_path, progress_every_seconds=0)
    assert result.success
    progress = [e.user_message for e in logs if "/64 samples" in e.user_message]
    assert any("32/64 samples" in m and "samples/s" in m and "ETA" in m for m in progress)
    lineage = load_checkpoint(tmp_path / "models" / SYMBOL / "model.pt").lineage
    assert lineage["code_version"] == trained_model.code_versions_by_key[trained_model.key]
    assert lineage["dataset"] == f"datasets/{SYMBOL}"  # relative to the data root
    assert str(tmp_path) not in repr(lineage)
    assert lineage["dataset_fingerprint"] == splits.fingerprint


def test_a_state_of_the_same_training_is_resumed(tmp_path):
    splits = _dataset(tmp_path, seed=1)
    _interrupted_state(tmp_path, splits)
    result, logs = _materialize(tmp_path)
    assert result.success
    assert any("resuming the interrupted training" in e.user_message for e in logs)


def test_a_state_from_another_dataset_starts_afresh_and_the_log_says_why(tmp_path):
    _interrupted_state(tmp_path, _dataset(tmp_path, seed=1))
    _dataset(tmp_path, seed=2)  # dataset_splits re-materialized on other data since
    result, logs = _materialize(tmp_path)
    assert result.success
    assert any(
        "starting afresh" in e.user_message and "dataset_fingerprint" in e.user_message
        for e in logs
    )


def test_resume_true_fails_naming_what_differs_and_the_config_that_starts_afresh(tmp_path):
    _interrupted_state(tmp_path, _dataset(tmp_path, seed=1))
    result, _ = _materialize(tmp_path, lr=3e-3, resume=True)
    assert not result.success
    message = _failure(result)
    assert "train_config.lr: 0.001 -> 0.003" in message and "resume: false" in message


def test_a_corrupt_state_names_the_file_and_resume_false_starts_afresh(tmp_path):
    _dataset(tmp_path, seed=1)
    state = tmp_path / "models" / SYMBOL / "training_state.pt"
    state.parent.mkdir(parents=True)
    state.write_bytes(b"\x80\x02truncated")
    result, _ = _materialize(tmp_path)
    assert not result.success
    message = _failure(result)
    assert str(state) in message and "resume: false" in message
    result, _ = _materialize(tmp_path, resume=False)
    assert result.success and not state.exists()  # finished: the state is removed


@pytest.mark.parametrize(
    ("num_threads", "expected"),
    [(FOLLOW_LOAD, 1), (None, fixed_threads())],
    ids=["following the load: one thread", "the default: its fixed count"],
)
def test_threads_while_another_run_is_in_progress(tmp_path, num_threads, expected):
    _dataset(tmp_path, seed=1)
    instance = dg.DagsterInstance.ephemeral()
    instance.add_run(
        dg.DagsterRun(
            job_name="ingestion_job", run_id=str(uuid.uuid4()), status=dg.DagsterRunStatus.STARTED
        )
    )
    config = QUICK | {"epochs": 1, "num_threads": num_threads}
    result = dg.materialize(
        [trained_model],
        partition_key=SYMBOL,
        resources={"store": DataStore(root=str(tmp_path)), "venue": TradingVenue()},
        run_config={"ops": {"trained_model": {"config": config}}},
        instance=instance,
    )
    metadata = result.get_asset_materialization_events()[0].materialization.metadata
    assert value_of(metadata["threads"].value) == expected


def test_launchpad_model_options_reach_the_model_config():
    model_cfg = training_plan(
        TrainingConfig(norm="group", zero_init_residual=True, block="bottleneck"),
        64,
        FEATURE_CHANNELS,
        1,
    ).model
    assert (model_cfg.norm, model_cfg.zero_init_residual, model_cfg.window) == ("group", True, 64)
    with pytest.raises(dg.Failure, match="norm"):
        training_plan(TrainingConfig(norm="layer"), 64, FEATURE_CHANNELS, 1)
