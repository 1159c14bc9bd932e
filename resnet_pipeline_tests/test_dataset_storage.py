"""A stored dataset survives a killed save, and a damaged one says which file and what to run."""

import json
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from resnet_pipeline.ml.data.dataset import DatasetSplits, build_splits
from resnet_pipeline.ml.data.dataset_store import DatasetError
from resnet_pipeline.ml.data.splits import SplitConfig
from resnet_pipeline_tests._dataset_helpers import feature_frames
from resnet_pipeline_tests.conftest import REPO

CFG = SplitConfig(window=64)
REBUILD = "dagster asset materialize -m resnet_pipeline.definitions --select dataset_splits"

# Saves a 2000-row dataset over the one at argv[1] and is killed (SIGKILL: no finally, no
# cleanup) right after the first rename, i.e. between moving the old dataset aside and
# renaming the new one in.
KILLED_SAVE = textwrap.dedent(
    """
    import os, pathlib, signal, sys
    from resnet_pipeline.ml.data.dataset import build_splits
    from resnet_pipeline.ml.data.splits import SplitConfig
    from resnet_pipeline_tests._dataset_helpers import feature_frames

    splits = build_splits(*feature_frames(2000, seed=9), SplitConfig(window=64))
    real_rename = pathlib.Path.rename

    def rename_then_die(self, target):
        result = real_rename(self, target)
        os.kill(os.getpid(), signal.SIGKILL)
        return result

    pathlib.Path.rename = rename_then_die
    splits.save(sys.argv[1])
    """
)


@pytest.fixture
def stored(tmp_path):
    splits = build_splits(*feature_frames(3000), CFG)
    splits.lineage = {"symbol": "BTCUSDT", "months": ["2024-01"]}
    return splits, splits.save(tmp_path / "BTCUSDT")


def test_a_save_killed_between_its_renames_keeps_the_previous_dataset(stored, tmp_path):
    splits, path = stored
    done = subprocess.run(
        [sys.executable, "-c", KILLED_SAVE, str(path)], cwd=REPO, capture_output=True, text=True
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert not (path / "meta.json").exists()  # the kill really fell between the renames
    recovered = DatasetSplits.load(path)
    assert len(recovered.matrix) == 3000 and recovered.fingerprint == splits.fingerprint
    np.testing.assert_array_equal(recovered.test_ends, splits.test_ends)
    assert not list(tmp_path.glob(".BTCUSDT.*.aside"))
    smaller = build_splits(*feature_frames(2000, seed=9), CFG)
    smaller.save(path)  # and the next save replaces it as usual
    assert len(DatasetSplits.load(path).matrix) == 2000


def test_a_failed_second_rename_puts_the_previous_dataset_back(stored, tmp_path, monkeypatch):
    splits, path = stored
    real_rename = type(path).rename
    calls = []

    def second_rename_fails(self, target):
        calls.append(self)
        if len(calls) == 2:
            raise OSError("Input/output error")
        return real_rename(self, target)

    monkeypatch.setattr(type(path), "rename", second_rename_fails)
    with pytest.raises(OSError, match="Input/output"):
        build_splits(*feature_frames(2000, seed=9), CFG).save(path)
    monkeypatch.undo()
    assert len(DatasetSplits.load(path).matrix) == 3000
    assert [p.name for p in tmp_path.iterdir()] == ["BTCUSDT"]


@pytest.mark.parametrize("name", ["matrix.npy", "labels.npy", "timestamps.npy", "splits.npz"])
def test_a_truncated_file_names_itself_and_the_rebuild_command(stored, name):
    _, path = stored
    data = (path / name).read_bytes()
    (path / name).write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetError) as error:
        DatasetSplits.load(path)
    message = str(error.value)
    assert str(path / name) in message and f"{REBUILD} --partition BTCUSDT" in message


def test_an_edited_meta_is_refused(stored):
    _, path = stored
    meta = json.loads((path / "meta.json").read_text())
    meta["normalizer"]["mean"][5] += 0.1  # statistics no longer those the fingerprint names
    (path / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(DatasetError, match="fingerprint does not match its content"):
        DatasetSplits.load(path)
    (path / "meta.json").write_text("{")
    with pytest.raises(DatasetError, match="meta.json is unreadable"):
        DatasetSplits.load(path)


def test_an_old_format_dataset_asks_for_a_rebuild(stored):
    _, path = stored
    meta = json.loads((path / "meta.json").read_text())
    (path / "meta.json").write_text(json.dumps({**meta, "format": 1}))
    with pytest.raises(DatasetError, match=f"format 1.*{REBUILD} --partition BTCUSDT"):
        DatasetSplits.load(path)
