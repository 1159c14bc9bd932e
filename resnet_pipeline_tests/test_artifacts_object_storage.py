"""Every artifact on object storage: datasets, checkpoints, training state, reports and the
chain itself, against a real S3-compatible server (moto) on 127.0.0.1 through s3fs; and the
artifact helpers on local paths.

The object-storage tests are skipped, with the reason, where the ``scale`` extra (s3fs,
moto) is missing: ``pip install -e '.[scale]'``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from resnet_pipeline import artifacts
from resnet_pipeline.artifacts import (
    atomic_write_path,
    cache_root,
    local_copy,
    read_bytes,
    read_json,
    remove_stale_temps,
    temp_path_for,
    write_bytes_atomic,
    write_json_atomic,
)
from resnet_pipeline.ml.data.dataset import DatasetSplits, build_splits
from resnet_pipeline.ml.data.dataset_store import DatasetError
from resnet_pipeline.ml.data.splits import SplitConfig
from resnet_pipeline.ml.model.checkpoint import CheckpointError, load_checkpoint
from resnet_pipeline.ml.model.model_config import ModelConfig
from resnet_pipeline.ml.model.resnet import build_model
from resnet_pipeline.ml.training.session import load_state, save_state
from resnet_pipeline.ml.training.train_config import TrainConfig
from resnet_pipeline.ml.training.trainer import train
from resnet_pipeline_tests._dataset_helpers import feature_frames
from resnet_pipeline_tests._processes import dead_pid
from resnet_pipeline_tests._resources import materialize_chain
from resnet_pipeline_tests._servers import S3Server
from resnet_pipeline_tests.test_model_checkpoint import CFG as MODEL
from resnet_pipeline_tests.test_model_checkpoint import _save

SCALE_EXTRA = "the object-storage tests need the scale extra: pip install -e '.[scale]'"
REBUILD = "dagster asset materialize -m resnet_pipeline.definitions --select dataset_splits"
CFG = SplitConfig(window=64)


# -- the helpers on local paths -------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(first=st.binary(max_size=256), second=st.binary(max_size=4096))
def test_a_local_atomic_write_replaces_the_content_and_leaves_nothing_else(first, second):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "deep" / "report.bin"
        write_bytes_atomic(path, first)
        write_bytes_atomic(path, second)
        assert read_bytes(path) == second
        assert [p.name for p in path.parent.iterdir()] == ["report.bin"]


@settings(max_examples=40, deadline=None)
@given(
    value=st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
        max_leaves=12,
    )
)
def test_json_round_trips_locally(value):
    with tempfile.TemporaryDirectory() as folder:
        write_json_atomic(Path(folder) / "x.json", value)
        assert read_json(Path(folder) / "x.json") == value


def test_a_local_write_that_fails_keeps_the_previous_file(tmp_path):
    path = tmp_path / "metrics.json"
    write_json_atomic(path, {"accuracy": 0.5})
    with pytest.raises(RuntimeError, match="killed"):
        with atomic_write_path(path) as tmp:
            tmp.write_text('{"accur')
            raise RuntimeError("killed mid-write")
    assert read_json(path) == {"accuracy": 0.5}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_a_local_file_is_its_own_local_copy(tmp_path):
    path = tmp_path / "model.pt"
    path.write_bytes(b"weights")
    assert local_copy(path) == path


# -- a real S3-compatible server -------------------------------------------------------------


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    for module in ("s3fs", "moto"):
        pytest.importorskip(module, reason=f"{module} is not installed: {SCALE_EXTRA}")
    import s3fs

    server = S3Server().start()
    with pytest.MonkeyPatch.context() as patch:
        for key, value in server.env().items():  # how s3fs finds credentials and endpoint
            patch.setenv(key, value)
        s3fs.S3FileSystem.clear_instance_cache()
        try:
            yield server
        finally:
            s3fs.S3FileSystem.clear_instance_cache()
            server.stop()


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """Downloads and upload staging go to this test's own temp dir."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@pytest.fixture
def root(s3, cache, request) -> str:
    return f"s3://{s3.bucket}/{re.sub(r'[^A-Za-z0-9_-]', '_', request.node.name)}"


def _keys(s3: S3Server, root: str) -> list[str]:
    prefix = root.removeprefix("s3://")
    return sorted(k.removeprefix(prefix + "/") for k in s3.filesystem().find(prefix))


def test_an_s3_write_that_fails_publishes_nothing(s3, root):
    path = f"{root}/reports/BTCUSDT/test_metrics.json"
    write_json_atomic(path, {"accuracy": 0.5})
    with pytest.raises(RuntimeError, match="killed"):
        with atomic_write_path(path) as tmp:  # a streamed upload would commit on close
            tmp.write_text('{"accur')
            raise RuntimeError("killed mid-write")
    assert read_json(path) == {"accuracy": 0.5}
    write_json_atomic(path, {"accuracy": 0.7, "notes": ["a"]})
    assert json.loads(s3.filesystem().cat_file(path.removeprefix("s3://"))) == {
        "accuracy": 0.7,
        "notes": ["a"],
    }
    assert _keys(s3, root) == ["reports/BTCUSDT/test_metrics.json"]  # no temporary key left


def test_temporary_keys_of_dead_writers_are_removed_on_s3(s3, root):
    target = artifacts.as_path(f"{root}/report.html")
    fs = s3.filesystem()
    host = socket.gethostname().replace(".", "-")
    dead = target.with_name(f".report.html.{host}.{dead_pid()}.{'0' * 32}.tmp")
    live = temp_path_for(target)  # this process: a writer still at work
    other_host = target.with_name(f".report.html.otherhost.1.{'1' * 32}.tmp")  # fresh
    for tmp in (dead, live, other_host):
        fs.pipe_file(tmp.path, b"half a report")
    artifacts.write_text_atomic(target, "<html></html>")
    assert read_bytes(target) == b"<html></html>"
    assert _keys(s3, root) == sorted(["report.html", live.name, other_host.name])
    assert remove_stale_temps(target) == []  # nothing else is stale yet
    removed = remove_stale_temps(target, max_age_seconds=-1)  # as if hours had passed
    assert sorted(p.name for p in removed) == sorted([live.name, other_host.name])
    assert _keys(s3, root) == ["report.html"]


def test_local_copy_downloads_once_and_again_when_the_object_changed(s3, root, cache):
    path = f"{root}/models/BTCUSDT/model.pt"
    write_bytes_atomic(path, b"first version")
    first = local_copy(path)
    assert cache in first.parents and first.read_bytes() == b"first version"
    stamp = first.stat().st_mtime_ns
    assert local_copy(path) == first and first.stat().st_mtime_ns == stamp  # no new download
    write_bytes_atomic(path, b"second, longer version")
    second = local_copy(path)
    assert second != first and second.read_bytes() == b"second, longer version"
    assert not first.exists()  # the outdated copy is dropped


# -- datasets ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_datasets() -> tuple[DatasetSplits, DatasetSplits]:
    big = build_splits(*feature_frames(3000), CFG)
    small = build_splits(*feature_frames(2000, seed=9), CFG)
    for splits in (big, small):
        splits.lineage = {"symbol": "BTCUSDT", "months": ["2024-01"]}
    return big, small


def _same(loaded: DatasetSplits, saved: DatasetSplits) -> None:
    np.testing.assert_array_equal(np.asarray(loaded.matrix), saved.matrix)
    np.testing.assert_array_equal(loaded.labels, saved.labels)
    np.testing.assert_array_equal(loaded.timestamps, saved.timestamps)
    np.testing.assert_array_equal(loaded.test_ends, saved.test_ends)
    assert loaded.fingerprint == saved.fingerprint


def test_a_dataset_on_s3_is_published_by_a_manifest_and_memory_mapped_from_a_cached_copy(
    s3, root, cache, two_datasets, monkeypatch
):
    big, small = two_datasets
    directory = f"{root}/datasets/BTCUSDT"
    big.save(directory)
    keys = _keys(s3, root)
    manifest = read_json(f"{directory}/manifest.json")
    assert keys == sorted(
        ["datasets/BTCUSDT/manifest.json"]
        + [f"datasets/BTCUSDT/{entry['key']}" for entry in manifest["files"].values()]
    )
    assert sorted(manifest["files"]) == sorted(
        ["matrix.npy", "labels.npy", "timestamps.npy", "splits.npz", "meta.json"]
    )
    assert manifest["fingerprint"] == big.fingerprint
    assert list(cache.rglob("*.npy")) == []  # the save staged locally and cleaned up

    loaded = DatasetSplits.load(directory)
    _same(loaded, big)
    assert isinstance(loaded.matrix, np.memmap)
    mapped = Path(loaded.matrix.filename)
    assert cache in mapped.parents
    assert DatasetSplits.read_meta(directory)["fingerprint"] == big.fingerprint

    stamp = mapped.stat().st_mtime_ns
    again = DatasetSplits.load(directory)
    assert Path(again.matrix.filename) == mapped and mapped.stat().st_mtime_ns == stamp

    small.save(directory)  # a changed dataset: a new manifest, a new download
    changed = DatasetSplits.load(directory)
    _same(changed, small)
    assert (
        Path(changed.matrix.filename) != mapped and cache in Path(changed.matrix.filename).parents
    )
    assert not mapped.exists()  # the outdated cached copy is dropped

    monkeypatch.setattr(artifacts, "VERSION_GRACE_SECONDS", -1)  # no upload in flight
    big.save(directory)
    versions = {k.split("/")[2] for k in _keys(s3, root) if k.count("/") == 3}
    current = read_json(f"{directory}/manifest.json")["version"]
    assert current in versions and len(versions) == 2  # and the previous one: a reader's
    _same(DatasetSplits.load(directory), big)


def test_a_dataset_without_its_manifest_is_refused(s3, root, two_datasets):
    big, _ = two_datasets
    directory = f"{root}/datasets/BTCUSDT"
    with pytest.raises(FileNotFoundError, match="materialize dataset_splits"):
        DatasetSplits.load(directory)
    big.save(directory)
    s3.filesystem().rm_file(f"{directory}/manifest.json".removeprefix("s3://"))
    for read in (DatasetSplits.load, DatasetSplits.read_meta):
        with pytest.raises(DatasetError) as error:
            read(directory)
        message = str(error.value)
        assert f"{directory} has no manifest.json" in message
        assert f"{REBUILD} --partition BTCUSDT" in message


@pytest.mark.parametrize("dies_at", ["splits.npz", "manifest.json"])
def test_a_save_that_dies_midway_keeps_the_previous_dataset(
    s3, root, two_datasets, monkeypatch, dies_at
):
    big, small = two_datasets
    directory = f"{root}/datasets/BTCUSDT"
    big.save(directory)
    fs = artifacts.as_path(directory).fs  # the filesystem instance the code uses
    real_put = fs.put_file

    def connection_lost(lpath, rpath, *args, **kwargs):
        if Path(lpath).name == dies_at:
            raise OSError(f"connection reset while uploading {dies_at}")
        return real_put(lpath, rpath, *args, **kwargs)

    with monkeypatch.context() as patch:  # (undo() would also undo the cache fixture's)
        patch.setattr(fs, "put_file", connection_lost)
        with pytest.raises(OSError, match="connection reset"):
            small.save(directory)
    # a manifest written first would now list files that never arrived
    _same(DatasetSplits.load(directory), big)


def test_a_listed_file_that_changed_is_refused_naming_it(s3, root, two_datasets):
    big, _ = two_datasets
    directory = f"{root}/datasets/ETHUSDT"
    big.save(directory)
    key = read_json(f"{directory}/manifest.json")["files"]["labels.npy"]["key"]
    s3.filesystem().pipe_file(f"{directory}/{key}".removeprefix("s3://"), b"not labels")
    with pytest.raises(DatasetError) as error:
        DatasetSplits.load(directory)
    assert f"{directory}/{key}" in str(error.value)
    assert f"{REBUILD} --partition ETHUSDT" in str(error.value)


# -- checkpoints and training state ----------------------------------------------------------

TINY = ModelConfig(in_channels=2, window=32)


def _data(n: int, seed: int) -> torch.utils.data.TensorDataset:
    g = torch.Generator().manual_seed(seed)
    return torch.utils.data.TensorDataset(
        torch.randn(n, 2, 32, generator=g), torch.randint(0, 3, (n,), generator=g)
    )


def test_a_checkpoint_round_trips_on_s3(s3, root):
    path = f"{root}/models/BTCUSDT/model.pt"
    with pytest.raises(CheckpointError, match="--select trained_model --partition BTCUSDT"):
        load_checkpoint(path, asset="trained_model", partition="BTCUSDT")
    model = _save(path)
    checkpoint = load_checkpoint(path)
    x = torch.randn(2, 15, 64)
    with torch.no_grad():
        assert torch.allclose(checkpoint.model(x), model(x))
    assert checkpoint.model_config == MODEL and checkpoint.path == path
    assert _keys(s3, root) == ["models/BTCUSDT/model.pt"]
    data = s3.filesystem().cat_file(path.removeprefix("s3://"))
    s3.filesystem().pipe_file(path.removeprefix("s3://"), data[: len(data) // 3])
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(path, asset="trained_model", partition="BTCUSDT")
    assert path in str(error.value) and "--partition BTCUSDT" in str(error.value)


def test_training_state_on_s3_is_written_each_epoch_and_resumed(s3, root):
    state = f"{root}/models/BTCUSDT/training_state.pt"
    cfg = TrainConfig(epochs=2, batch_size=16, num_threads=1, min_steps=0, class_weights=None)
    torch.manual_seed(0)
    train(build_model(TINY), _data(32, 0), _data(16, 1), cfg, state_path=state)
    saved = load_state(state)
    assert saved["epoch"] == 2 and "model" in saved
    notes = []
    result = train(
        build_model(TINY),
        _data(32, 0),
        _data(16, 1),
        cfg,
        progress=lambda m: notes.append(m.get("message", "")),
        state_path=state,
    )
    assert any("resuming" in n for n in notes) and len(result.history) == 2
    save_state(state, {"model": {}, "epoch": 0})
    assert load_state(state)["epoch"] == 0
    assert _keys(s3, root) == ["models/BTCUSDT/training_state.pt"]


# -- the chain, in process, on S3 -------------------------------------------------------------

MONTHS = ("2024-01-01", "2024-02-01")
QUICK = {
    "ops": {
        "dataset_splits": {
            "config": {"start_month": "2024-01", "end_month": "2024-02", "window": 64}
        },
        "trained_model": {
            "config": {"epochs": 2, "max_train_samples": 256, "max_val_samples": 256}
        },
    }
}


@pytest.mark.slow
def test_the_chain_on_s3_leaves_every_artifact_in_the_bucket_and_nothing_local(
    s3, tmp_path, monkeypatch
):
    root = f"s3://{s3.bucket}/chain"
    instance = dg.DagsterInstance.ephemeral()
    cache = tmp_path / "tmp"  # after the instance: only what the pipeline writes lands here
    cache.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(cache))
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)

    def run(selection: list[str], partition: str, config: dict | None = None) -> None:
        materialize_chain(root, instance, selection, partition, config)

    for selection in (["raw_candles"], ["features", "labels"]):
        for month in MONTHS:
            run(selection, f"{month}|BTCUSDT")
    run(["dataset_splits"], "BTCUSDT", {"ops": {"dataset_splits": QUICK["ops"]["dataset_splits"]}})
    shutil.rmtree(cache_root(), ignore_errors=True)  # the next steps: another machine's disk
    run(
        ["trained_model", "test_metrics", "backtest_report"],
        "BTCUSDT",
        {"ops": {"trained_model": QUICK["ops"]["trained_model"]}},
    )

    keys = _keys(s3, root)
    for asset in ("raw_candles", "features", "labels"):
        for month in MONTHS:
            assert f"{asset}/symbol=BTCUSDT/month={month[:7]}.parquet" in keys
    manifest = read_json(f"{root}/datasets/BTCUSDT/manifest.json")
    assert {f"datasets/BTCUSDT/{e['key']}" for e in manifest["files"].values()} <= set(keys)
    for name in (
        "models/BTCUSDT/model.pt",
        "reports/BTCUSDT/test_predictions.parquet",
        "reports/BTCUSDT/test_metrics.json",
        "reports/BTCUSDT/trades.parquet",
        "reports/BTCUSDT/equity.parquet",
        "reports/BTCUSDT/backtest_metrics.json",
        "reports/BTCUSDT/report.html",
    ):
        assert name in keys, f"{name} missing from the bucket: {keys}"
    assert [k for k in keys if k.startswith("reports/history/test_metrics/symbol=BTCUSDT/")]
    assert not [k for k in keys if k.endswith(".tmp") or "training_state" in k], keys

    splits = DatasetSplits.load(f"{root}/datasets/BTCUSDT")
    assert splits.lineage["months"] == ["2024-01", "2024-02"]
    checkpoint = load_checkpoint(f"{root}/models/BTCUSDT/model.pt")
    assert checkpoint.lineage["dataset_fingerprint"] == splits.fingerprint
    metrics = read_json(f"{root}/reports/BTCUSDT/test_metrics.json")
    assert metrics["lineage"]["dataset_fingerprint"] == splits.fingerprint
    assert "data:image/png;base64," in read_bytes(f"{root}/reports/BTCUSDT/report.html").decode()

    assert list(workdir.iterdir()) == []  # nothing relative to the working directory
    local = [
        p
        for p in tmp_path.rglob("*")
        if p.is_file() and cache_root() not in p.parents and p.suffix in _ARTIFACT_SUFFIXES
    ]
    assert local == []
    assert os.path.isdir(cache_root())  # the dataset and model were read from cached copies


_ARTIFACT_SUFFIXES = {".parquet", ".npy", ".npz", ".pt", ".json", ".html", ".tmp"}
