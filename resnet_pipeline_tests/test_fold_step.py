"""One research path: the walk-forward is the experiment of one variant. Its Launchpad config is
that variant, and its fold, trained and predicted through the one fold step, equals the
experiment fold of that variant on the same data: same samples, weights, baselines,
temperature and probabilities, and the same files."""

from dataclasses import asdict
from datetime import date

import numpy as np
import pandas as pd
import pytest
import torch

from resnet_pipeline.defs.walk_forward.wf_model import WalkForwardConfig, walk_forward_config
from resnet_pipeline.experiments.fold_files import (
    read_fold_record,
    write_fold_predictions,
    write_fold_record,
)
from resnet_pipeline.experiments.fold_inputs import read_history, read_months
from resnet_pipeline.experiments.fold_step import FoldSeries, fold_fingerprint, train_fold_step
from resnet_pipeline.experiments.variant_config import resolve_config
from resnet_pipeline.experiments.variant_fold import (
    EXPERIMENT_COLUMNS,
    predict_and_score,
    predict_variant_fold,
)
from resnet_pipeline.layout import Layout
from resnet_pipeline.ml.data.lineage import FINGERPRINT_KEY
from resnet_pipeline.ml.evaluation.baselines import FoldBaselines
from resnet_pipeline.ml.folds.fold_identity import (
    MODEL_DIGEST_KEY,
    check_fold_info,
    check_predictions,
)
from resnet_pipeline.ml.model.checkpoint import load_checkpoint
from resnet_pipeline.storage import read_parquet
from resnet_pipeline_tests._walk_forward_helpers import store_months

SYMBOL = "BTCUSDT"
JAN, FEB, MAR = (date(2024, m, 1) for m in (1, 2, 3))
KNOBS = {
    "folds": {"window": 32, "min_train_samples": 16},
    "model": {"width": 8},
    "training": {
        "epochs": 2,
        "batch_size": 16,
        "max_train_samples": 32,
        "max_val_samples": 64,
        "augment": False,
        "device": "cpu",
        "num_threads": 1,
        "precision": "fp32",
    },
}


def _flat(sections: dict) -> dict:
    return {k: v for values in sections.values() for k, v in values.items()}


def test_the_walk_forward_config_is_the_variant_of_the_same_knobs():
    walk_forward = walk_forward_config(WalkForwardConfig(**_flat(KNOBS)))
    variant = resolve_config(KNOBS | {"calibration": {"calibrated_strategy": False}})
    assert walk_forward == variant
    assert walk_forward.config_hash == variant.config_hash
    assert walk_forward_config(WalkForwardConfig()) == resolve_config(
        {"calibration": {"calibrated_strategy": False}}
    )


def _series(layout: Layout, name: str, configuration: dict) -> FoldSeries:
    config = resolve_config(KNOBS | {"calibration": {"calibrated_strategy": False}})
    return FoldSeries(
        symbol=SYMBOL,
        config=config,
        train=config.train,
        augment=None,
        root=layout.root,
        files=lambda month: layout.experiment(name, SYMBOL).trial("t").fold(month),
        configuration=configuration,
        asset=name,
        partition=lambda month: f"{month:%Y-%m-%d}|{SYMBOL}",
    )


@pytest.fixture(scope="module")
def two_paths(tmp_path_factory):
    """March's fold through the walk-forward's path (stored labels; predictions later, from the
    stored model) and through an experiment's (labels from the candles; predicted at once)."""
    root = tmp_path_factory.mktemp("fold_step")
    store_months(root, SYMBOL, [JAN, FEB, MAR], hours=3)
    layout = Layout.at(root)
    folds = _series(layout, "walk", {}).config.folds
    walk = _series(layout, "walk", asdict(folds))
    trial = _series(layout, "trial", {"config_hash": walk.config.config_hash})
    wf_data = read_history(layout, SYMBOL, [MAR], folds).fold(MAR)
    torch.manual_seed(123)  # the fold step seeds its own training
    wf = train_fold_step(walk, wf_data)
    write_fold_record(walk.files(MAR), wf.record)
    checkpoint = load_checkpoint(walk.files(MAR).model)
    month = read_months(layout, SYMBOL, [FEB, MAR], folds, labels=None).samples
    wf_frame = predict_variant_fold(
        checkpoint.model,
        checkpoint.normalizer,
        FoldBaselines.from_dict(checkpoint.metrics["baselines"]),
        checkpoint.metrics["temperature"],
        month,
        MAR,
    )
    write_fold_predictions(walk.files(MAR), wf_frame, wf.model_sha256)
    history = read_history(layout, SYMBOL, [MAR], folds, labels=trial.config.labels, predicted=True)
    ex_data = history.fold(MAR)
    torch.manual_seed(456)
    ex = train_fold_step(trial, ex_data)
    run = predict_and_score(ex.done, ex_data.samples, trial.config, ex_data.candles)
    write_fold_predictions(trial.files(MAR), run.predictions, ex.model_sha256)
    write_fold_record(trial.files(MAR), ex.record)
    return layout, walk, trial, (wf_data, wf, wf_frame), (ex_data, ex, run)


def test_both_paths_train_the_same_fold_on_the_same_data(two_paths):
    layout, walk, trial, (wf_data, wf, _), (ex_data, ex, _) = two_paths
    for split in ("train", "val"):
        np.testing.assert_array_equal(
            wf_data.fold.splits.ends(split), ex_data.fold.splits.ends(split)
        )
    assert wf_data.fold.info == ex_data.fold.info
    assert wf_data.fold.splits.normalizer.to_dict() == ex_data.fold.splits.normalizer.to_dict()
    wf_state, ex_state = wf.done.trained.model.state_dict(), ex.done.trained.model.state_dict()
    assert wf_state.keys() == ex_state.keys()
    assert all(torch.equal(wf_state[k], ex_state[k]) for k in wf_state)
    assert wf.done.trained.baselines.to_dict() == ex.done.trained.baselines.to_dict()
    assert wf.done.calibration == ex.done.calibration
    # one identity function; the configuration and the files read name each path's fold
    assert wf.lineage[FINGERPRINT_KEY] == fold_fingerprint(
        SYMBOL, wf_data.digests, walk.configuration, wf_data.fold, None
    )
    assert ex.lineage[FINGERPRINT_KEY] == fold_fingerprint(
        SYMBOL, ex_data.digests, trial.configuration, ex_data.fold, None
    )
    assert sorted(wf_data.digests) == [
        f"{a}/{m}" for a in ("features", "labels") for m in ("2024-01", "2024-02")
    ]
    assert {k.split("/")[0] for k in ex_data.digests} == {"features", "raw_candles"}


def test_both_paths_predict_the_same_probabilities_and_write_the_same_files(two_paths):
    _, walk, trial, (_, wf, wf_frame), (_, ex, run) = two_paths
    shared = ["timestamp", "label"] + [
        c
        for name in ("model", "majority", "logistic", "calibrated")
        for c in EXPERIMENT_COLUMNS[name]
    ]
    assert len(wf_frame) > 0
    pd.testing.assert_frame_equal(wf_frame[shared], run.predictions[shared])
    assert set(run.predictions.columns) - set(wf_frame.columns) == set(EXPERIMENT_COLUMNS["trees"])
    for series, trained in ((walk, wf), (trial, ex)):
        files = series.files(MAR)
        assert sorted(p.name for p in files.folder.iterdir()) == [
            "fold.json",
            "model.pt",
            "predictions.parquet",
        ]
        record = read_fold_record(files)
        check_fold_info(record, trained.model_sha256, MAR)
        check_predictions(read_parquet(files.predictions), trained.model_sha256, MAR)
        assert record[MODEL_DIGEST_KEY] == trained.model_sha256
        checkpoint = load_checkpoint(files.model)
        assert checkpoint.metrics["temperature"] == trained.done.calibration.temperature
        assert checkpoint.lineage["training_months"] == ["2024-01", "2024-02"]
    assert set(read_fold_record(walk.files(MAR))) == set(read_fold_record(trial.files(MAR)))
