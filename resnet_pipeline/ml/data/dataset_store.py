"""A stored dataset's files: atomic save, recovery of an interrupted save, and reads that
name the broken file and the command that rebuilds it.

Files: matrix.npy ([N, C] float32), labels.npy (int8), timestamps.npy (int64 ns), splits.npz
(train/val/test window ends) and meta.json.

Local ``<root>/<SYMBOL>/``: written into a temp directory (meta.json last: a directory
without it is incomplete), then swapped in by renames. Object storage: the files under a
fresh version prefix, then ``manifest.json`` last (``artifacts.put_dir_with_manifest``);
a reader trusts only the manifest and memory-maps a cached local copy of what it lists.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from resnet_pipeline.artifacts import (
    MANIFEST,
    as_path,
    has_objects,
    is_local,
    local_dir_copy,
    local_path,
    put_dir_with_manifest,
    read_bytes,
    read_manifest,
    remove_stale_temps,
    temp_path_for,
)
from resnet_pipeline.commands import materialize

FORMAT_VERSION = 2  # 2: fingerprint and partition content hashes
FILES = ("matrix.npy", "labels.npy", "timestamps.npy", "splits.npz", "meta.json")
_ASIDE = ".aside"

Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]


class DatasetError(ValueError):
    """A stored dataset that cannot be used, with the command that rebuilds it."""


def _write_files(
    folder: Path,
    matrix: np.ndarray,
    labels: np.ndarray,
    timestamps: np.ndarray,
    ends: dict[str, np.ndarray],
    meta: dict,
) -> None:
    np.save(folder / "matrix.npy", np.ascontiguousarray(matrix, np.float32))
    np.save(folder / "labels.npy", labels.astype(np.int8))
    np.save(folder / "timestamps.npy", timestamps.astype("datetime64[ns]").view(np.int64))
    np.savez(folder / "splits.npz", **ends)
    (folder / "meta.json").write_text(json.dumps({"format": FORMAT_VERSION, **meta}, indent=2))


def write_dataset(
    directory: str | os.PathLike[str],
    matrix: np.ndarray,
    labels: np.ndarray,
    timestamps: np.ndarray,
    ends: dict[str, np.ndarray],
    meta: dict,
) -> Any:
    """Local: write into a fresh temp directory (meta.json last), then swap it in: the
    previous dataset is renamed aside, the new one renamed in, the aside deleted. A kill
    between the two renames leaves the aside, which ``read_meta`` renames back.
    Object storage: the same files, published under a manifest written last."""
    if not is_local(directory):
        staging = Path(tempfile.mkdtemp(prefix="resnet-dataset-"))
        try:
            _write_files(staging, matrix, labels, timestamps, ends, meta)
            extra = {"fingerprint": meta.get("fingerprint")}
            put_dir_with_manifest(staging, directory, extra)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return as_path(directory)
    final = local_path(directory)
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(final)  # temp directories of saves that were killed
    tmp = temp_path_for(final)
    old = final.with_name(f".{final.name}.{uuid.uuid4().hex}{_ASIDE}")
    tmp.mkdir()
    try:
        _write_files(tmp, matrix, labels, timestamps, ends, meta)
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


def _missing(root: Any) -> FileNotFoundError:
    return FileNotFoundError(
        f"no dataset at {root}: materialize dataset_splits for this symbol first "
        f"({materialize('dataset_splits', root.name)})"
    )


def _manifest(root: Any) -> dict:
    """The dataset's manifest on object storage; without one, nothing there is trusted."""
    try:
        return read_manifest(root)
    except FileNotFoundError:
        if not has_objects(root):
            raise _missing(root) from None
        raise DatasetError(
            f"dataset at {root} has no {MANIFEST}: its save did not finish, so none of its "
            f"files are trusted. Re-materialize it with "
            f"{materialize('dataset_splits', root.name)}"
        ) from None
    except ValueError as error:
        raise unreadable(root / MANIFEST, root.name, error) from error


def _parse_meta(text: str | bytes, meta_path: Any, root: Any) -> dict:
    try:
        meta = json.loads(text)
    except ValueError as error:
        raise unreadable(meta_path, root.name, error) from error
    if meta.get("format", 1) != FORMAT_VERSION:
        raise DatasetError(
            f"dataset at {root} has format {meta.get('format', 1)}, this code reads "
            f"{FORMAT_VERSION}: re-materialize it with "
            f"{materialize('dataset_splits', root.name)}"
        )
    return meta


def read_meta(directory: str | os.PathLike[str]) -> dict:
    """meta.json of a stored dataset (locally after recovering from an interrupted save; on
    object storage the one its manifest lists, without downloading the arrays)."""
    if not is_local(directory):
        root = as_path(directory)
        manifest = _manifest(root)
        meta_path = _listed(root, manifest, "meta.json")
        try:
            data = read_bytes(meta_path)
        except OSError as error:
            raise unreadable(meta_path, root.name, error) from error
        return _parse_meta(data, meta_path, root)
    root = local_path(directory)
    _recover_aside(root)
    meta_path = root / "meta.json"
    if not meta_path.exists():
        raise _missing(root)
    try:
        text = meta_path.read_text()
    except OSError as error:
        raise unreadable(meta_path, root.name, error) from error
    return _parse_meta(text, meta_path, root)


def read_dataset(directory: str | os.PathLike[str], mmap: bool = True) -> tuple[dict, Arrays]:
    """(meta, arrays) of one stored dataset, both from the same save. On object storage the
    listed files are downloaded once per manifest to a local cache, and memory-mapped there."""
    if is_local(directory):
        return read_meta(directory), read_arrays(directory, mmap)
    root = as_path(directory)
    manifest = _manifest(root)
    shown = {name: _listed(root, manifest, name) for name in FILES}
    try:
        folder = local_dir_copy(root, manifest)
    except OSError as error:  # a listed file is gone or differs from its manifest entry
        raise unreadable(root, root.name, error) from error
    meta = _parse_meta((folder / "meta.json").read_bytes(), shown["meta.json"], root)
    return meta, _read_arrays(folder, shown, root, mmap)


def read_arrays(directory: str | os.PathLike[str], mmap: bool = True) -> Arrays:
    """(matrix, labels int64, timestamps datetime64[ns], split ends) of a stored dataset;
    ``mmap``: the matrix stays on disk and pages in as windows are read."""
    if not is_local(directory):
        return read_dataset(directory, mmap)[1]
    root = local_path(directory)
    return _read_arrays(root, {name: root / name for name in FILES}, root, mmap)


def _listed(root: Any, manifest: dict, name: str) -> Any:
    """Where the manifest says ``name`` is stored."""
    entry = manifest["files"].get(name)
    if not isinstance(entry, dict) or "key" not in entry:
        raise unreadable(root / MANIFEST, root.name, f"it lists no {name}")
    return root / entry["key"]


def _read_arrays(folder: Path, shown: dict[str, Any], root: Any, mmap: bool) -> Arrays:
    """Read the local files in ``folder``; errors name ``shown[file]`` (the stored path) and
    the dataset ``root``."""
    symbol = root.name

    def read(name: str, **kwargs) -> np.ndarray:
        try:
            return np.load(folder / name, **kwargs)
        except (OSError, ValueError, EOFError) as error:
            raise unreadable(shown[name], symbol, error) from error

    try:
        with np.load(folder / "splits.npz") as stored:
            ends = {split: stored[split] for split in ("train", "val", "test")}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as error:
        raise unreadable(shown["splits.npz"], symbol, error) from error
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


def unreadable(path: Any, symbol: str, error: object) -> DatasetError:
    return DatasetError(
        f"dataset file {path} is unreadable ({error}): it was truncated or corrupted. "
        f"Rebuild the dataset with {materialize('dataset_splits', symbol)}"
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
