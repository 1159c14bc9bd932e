"""Checkpoints are self-contained, load with weights_only, and refuse what does not fit."""

import numpy as np
import pytest
import torch

from resnet_pipeline.features.channels import FEATURE_CHANNELS
from resnet_pipeline.ml.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from resnet_pipeline.ml.normalization import Normalizer
from resnet_pipeline.ml.resnet import ModelConfig, build_model

CFG = ModelConfig(window=64)


def _save(path, cfg=CFG, names=FEATURE_CHANNELS):
    model = build_model(cfg).eval()
    norm = (
        Normalizer(mean=np.zeros(len(names)), std=np.ones(len(names)), channel_names=names)
        if len(names) == 15
        else Normalizer(mean=np.zeros(15), std=np.ones(15))
    )
    save_checkpoint(
        path,
        model,
        cfg,
        feature_names=tuple(names),
        normalizer=norm,
        label_config={"forward_window": 12, "threshold": 0.002},
        split_config={"window": 64},
        lineage={"symbol": "BTCUSDT"},
        metrics={"best_val_loss": 1.0},
        history=[{"epoch": 1, "val_loss": 1.0}],
        train_config={"class_weights": (1.2, 0.8, 1.2)},
    )
    return model


def test_round_trip_gives_the_same_predictions(tmp_path):
    model = _save(tmp_path / "model.pt")
    ckpt = load_checkpoint(tmp_path / "model.pt")
    x = torch.randn(3, 15, 64)
    with torch.no_grad():
        assert torch.allclose(ckpt.model(x), model(x))
    assert ckpt.feature_names == FEATURE_CHANNELS
    assert ckpt.model_config == CFG
    assert ckpt.lineage == {"symbol": "BTCUSDT"}
    assert not ckpt.model.training


def test_refuses_other_channels(tmp_path):
    _save(tmp_path / "model.pt")
    ckpt = load_checkpoint(tmp_path / "model.pt")
    with pytest.raises(CheckpointError, match="15 channels.*has 14"):
        ckpt.check_features(FEATURE_CHANNELS[:14])


def test_loading_never_unpickles_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"format_version": 1, "evil": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="not a loadable"):
        load_checkpoint(tmp_path / "evil.pt")


def test_missing_and_foreign_files_fail_clearly(tmp_path):
    with pytest.raises(CheckpointError, match="materialize trained_model"):
        load_checkpoint(tmp_path / "nope.pt")
    torch.save({"state_dict": {}}, tmp_path / "partial.pt")
    with pytest.raises(CheckpointError, match="lacks"):
        load_checkpoint(tmp_path / "partial.pt")
    _save(tmp_path / "model.pt")
    data = torch.load(tmp_path / "model.pt", weights_only=True)
    data["model_config"]["arch"] = "resnet34"
    torch.save(data, tmp_path / "mismatch.pt")
    with pytest.raises(CheckpointError, match="do not fit"):
        load_checkpoint(tmp_path / "mismatch.pt")
