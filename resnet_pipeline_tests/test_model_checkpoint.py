"""Checkpoints are self-contained, load with weights_only, and refuse what does not fit."""

import os
import socket
import threading

import numpy as np
import pytest
import torch

from resnet_pipeline.artifacts import file_sha256
from resnet_pipeline.features.channel_names import FEATURE_CHANNELS
from resnet_pipeline.ml.data.normalization import Normalizer
from resnet_pipeline.ml.model.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from resnet_pipeline.ml.model.model_config import ModelConfig
from resnet_pipeline.ml.model.resnet import build_model
from resnet_pipeline_tests._processes import dead_pid

CFG = ModelConfig(window=64)


def _save(path, cfg=CFG, names=FEATURE_CHANNELS, lineage=None, **kwargs):
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
        lineage={"symbol": "BTCUSDT"} if lineage is None else lineage,
        metrics={"best_val_loss": 1.0},
        history=[{"epoch": 1, "val_loss": 1.0}],
        train_config={"class_weights": (1.2, 0.8, 1.2)},
        **kwargs,
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
        load_checkpoint(tmp_path / "nope.pt", asset="trained_model", partition="BTCUSDT")
    torch.save({"state_dict": {}}, tmp_path / "partial.pt")
    with pytest.raises(CheckpointError, match="lacks"):
        load_checkpoint(tmp_path / "partial.pt")
    _save(tmp_path / "model.pt")
    data = torch.load(tmp_path / "model.pt", weights_only=True)
    data["model_config"]["arch"] = "resnet34"
    torch.save(data, tmp_path / "mismatch.pt")
    with pytest.raises(CheckpointError, match="do not fit"):
        load_checkpoint(tmp_path / "mismatch.pt")


def test_two_writers_never_share_a_temp_file(tmp_path, monkeypatch):
    """Both writers finish torch.save before either renames (a barrier inside torch.save):
    with one fixed temp name the second rename finds nothing, or installs the other's file."""
    barrier = threading.Barrier(2, timeout=60)
    real_save = torch.save

    def save_then_wait(obj, f, *args, **kwargs):
        real_save(obj, f, *args, **kwargs)
        barrier.wait()

    monkeypatch.setattr(torch, "save", save_then_wait)
    path = tmp_path / "models" / "BTCUSDT" / "model.pt"
    errors = []

    def write():
        try:
            _save(path)
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=write) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert load_checkpoint(path).model_config == CFG
    assert [p.name for p in path.parent.iterdir()] == ["model.pt"]  # no temp file left


def test_a_truncated_checkpoint_names_the_file_and_the_command(tmp_path):
    path = tmp_path / "models" / "ETHUSDT" / "model.pt"
    _save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(path, asset="trained_model", partition="ETHUSDT")
    message = str(error.value)
    assert str(path) in message and "weights_only=False" not in message
    assert (
        "dagster asset materialize -m resnet_pipeline.definitions --select trained_model "
        "--partition ETHUSDT" in message
    )


def test_lineage_paths_are_stored_relative_to_the_data_root(tmp_path):
    path = tmp_path / "models" / "BTCUSDT" / "model.pt"
    _save(
        path,
        lineage={"symbol": "BTCUSDT", "dataset": str(tmp_path / "datasets" / "BTCUSDT")},
        data_root=tmp_path,
    )
    assert load_checkpoint(path).lineage == {"symbol": "BTCUSDT", "dataset": "datasets/BTCUSDT"}
    elsewhere = tmp_path / "exported.pt"  # any path: the caller names the root
    _save(elsewhere, lineage={"dataset": str(tmp_path / "d")}, data_root=tmp_path)
    assert load_checkpoint(elsewhere).lineage == {"dataset": "d"}


def test_without_a_data_root_the_lineage_is_stored_as_given(tmp_path):
    """The checkpoint never guesses a root from the shape of its path."""
    path = tmp_path / "models" / "BTCUSDT" / "model.pt"
    lineage = {"dataset": str(tmp_path / "datasets" / "BTCUSDT")}
    _save(path, lineage=lineage)
    assert load_checkpoint(path).lineage == lineage


def test_errors_name_the_command_of_the_asset_that_wrote_the_checkpoint(tmp_path):
    """A fold model's error names wf_model's command only (never trained_model's)."""
    path = tmp_path / "models" / "BTCUSDT" / "model.pt"  # the shape of trained_model's path
    _save(path)
    path.write_bytes(path.read_bytes()[:100])
    fold = "2024-03-01|BTCUSDT"
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(path, asset="wf_model", partition=fold)
    message = str(error.value)
    assert "--select wf_model --partition '2024-03-01|BTCUSDT'" in message
    assert "trained_model" not in message
    with pytest.raises(CheckpointError, match="materialize wf_model first"):
        load_checkpoint(tmp_path / "absent.pt", asset="wf_model", partition=fold)


def test_the_checkpoint_knows_the_digest_of_the_bytes_it_loaded(tmp_path):
    path = tmp_path / "model.pt"
    _save(path)
    assert load_checkpoint(path).sha256 == file_sha256(path)


def test_a_killed_writers_temp_file_is_removed_by_the_next_save(tmp_path):
    path = tmp_path / "models" / "BTCUSDT" / "model.pt"
    _save(path)
    dead = dead_pid()
    host = socket.gethostname().replace(".", "-")
    leftover = path.with_name(f".model.pt.{host}.{dead}.{'0' * 32}.tmp")
    in_progress = path.with_name(f".model.pt.{host}.{os.getpid()}.{'1' * 32}.tmp")
    leftover.write_bytes(b"half a checkpoint")
    in_progress.write_bytes(b"a live writer's file")
    _save(path)
    assert not leftover.exists() and in_progress.exists()
