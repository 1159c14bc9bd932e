"""A stored dataset's files: atomic save by directory swap, recovery of an interrupted swap,
and reads that name the broken file and the command that rebuilds it.

Layout of ``<root>/<SYMBOL>/``: matrix.npy ([N, C] float32), labels.npy (int8),
timestamps.npy (int64 ns), splits.npz (train/val/test window ends) and meta.json (written
last: a directory without it is incomplete).
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
import zipfile
from pathlib import Path

import numpy as np

from resnet_pipeline.ml.lineage import rebuild_command
from resnet_pipeline.storage import remove_stale_temps, temp_path_for

FORMAT_VERSION = 2  # 2: fingerprint and partition content hashes
_ASIDE = ".aside"


class DatasetError(ValueError):
    """A stored dataset that cannot be used, with the command that rebuilds it."""


def write_dataset(
    directory: str | os.PathLike[str],
    matrix: np.ndarray,
    labels: np.ndarray,
    timestamps: np.ndarray,
    ends: dict[str, np.ndarray],
    meta: dict,
) -> Path:
    """Write into a fresh temp directory (meta.json last), then swap it in: the previous
    dataset is renamed aside, the new one renamed in, the aside deleted. A kill between
    the two renames leaves the aside, which ``read_meta`` renames back."""
    final = Path(directory)
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(final)  # temp directories of saves that were killed
    tmp = temp_path_for(final)
    old = final.with_name(f".{final.name}.{uuid.uuid4().hex}{_ASIDE}")
    tmp.mkdir()
    try:
        np.save(tmp / "matrix.npy", np.ascontiguousarray(matrix, np.float32))
        np.save(tmp / "labels.npy", labels.astype(np.int8))
        np.save(tmp / "timestamps.npy", timestamps.astype("datetime64[ns]").view(np.int64))
        np.savez(tmp / "splits.npz", **ends)
        (tmp / "meta.json").write_text(json.dumps({"format": FORMAT_VERSION, **meta}, indent=2))
        if final.exists():
            final.rename(old)
        try:
            tmp.rename(final)
        except BaseException:
            if old.exists() and not final.exists():
                old.rename(final)  # the new one did not land: put the previous one back
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    shutil.rmtree(old, ignore_errors=True)
    return final


def read_meta(directory: str | os.PathLike[str]) -> dict:
    """meta.json of a stored dataset (after recovering from an interrupted save)."""
    root = Path(directory)
    _recover_aside(root)
    meta_path = root / "meta.json"
    if not meta_path.exists():
        raise FileNotFoundError(
            f"no dataset at {root}: materialize dataset_splits for this symbol first "
            f"({rebuild_command('dataset_splits', root.name)})"
        )
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError) as error:
        raise unreadable(meta_path, root.name, error) from error
    if meta.get("format", 1) != FORMAT_VERSION:
        raise DatasetError(
            f"dataset at {root} has format {meta.get('format', 1)}, this code reads "
            f"{FORMAT_VERSION}: re-materialize it with "
            f"{rebuild_command('dataset_splits', root.name)}"
        )
    return meta


def read_arrays(
    directory: str | os.PathLike[str], mmap: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """(matrix, labels int64, timestamps datetime64[ns], split ends) of a stored dataset;
    ``mmap``: the matrix stays on disk and pages in as windows are read."""
    root = Path(directory)
    symbol = root.name

    def read(name: str, **kwargs) -> np.ndarray:
        try:
            return np.load(root / name, **kwargs)
        except (OSError, ValueError, EOFError) as error:
            raise unreadable(root / name, symbol, error) from error

    try:
        with np.load(root / "splits.npz") as stored:
            ends = {split: stored[split] for split in ("train", "val", "test")}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as error:
        raise unreadable(root / "splits.npz", symbol, error) from error
    matrix = read("matrix.npy", mmap_mode="r" if mmap else None)
    labels = read("labels.npy").astype(np.int64)
    timestamps = read("timestamps.npy").view("datetime64[ns]")
    if not len(matrix) == len(labels) == len(timestamps):
        raise unreadable(
            root,
            symbol,
            f"{len(matrix)} matrix rows, {len(labels)} labels, {len(timestamps)} timestamps",
        )
    return matrix, labels, timestamps, ends


def unreadable(path: Path, symbol: str, error: object) -> DatasetError:
    return DatasetError(
        f"dataset file {path} is unreadable ({error}): it was truncated or corrupted. "
        f"Rebuild the dataset with {rebuild_command('dataset_splits', symbol)}"
    )


def _recover_aside(final: Path) -> None:
    """After a save killed between its two renames only the previous dataset's aside copy
    exists: rename it back. A complete directory always has meta.json (written last)."""
    if (final / "meta.json").exists():
        return
    asides = final.parent.glob(f".{final.name}.*{_ASIDE}")
    asides = [p for p in asides if (p / "meta.json").exists()]
    for aside in sorted(asides, key=lambda p: p.stat().st_mtime, reverse=True):
        try:
            if final.exists():
                final.rmdir()  # an empty directory left by hand; a non-empty one stays
            aside.rename(final)
            return
        except OSError:  # another reader recovered it first, or a new save landed
            if (final / "meta.json").exists():
                return
