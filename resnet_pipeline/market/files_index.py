"""The time range of every undated candle file already read (its name says nothing about
its period), so later fetches read only the files that can hold their minutes.

One JSON file per candle directory and column mapping, under the download cache
(``artifacts.cache_root()``), shared by every process on the machine: a backfill starts a
process per run, and each finds what the earlier ones read. An entry is trusted only while
the file's size, mtime and ctime are the ones recorded, so a re-written file is read again.
Saving re-reads the JSON, merges and writes atomically: concurrent runs may drop each other's
new entries (those files are read again later), never keep a wrong one. An unreadable index
is an empty one: it is a cache, never the data.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from resnet_pipeline.artifacts import cache_root, write_json_atomic

INDEX_FORMAT = 1
INDEX_FOLDER = "files-index"


@dataclass(frozen=True)
class FileStamp:
    """What identifies one version of a file without reading it."""

    size: int
    mtime_ns: int
    ctime_ns: int

    @classmethod
    def of(cls, stat: os.stat_result) -> FileStamp:
        return cls(stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)


@dataclass(frozen=True)
class FileRange:
    """First and last candle open time of a file (epoch ns), None for a file without rows."""

    stamp: FileStamp
    first_ns: int | None
    last_ns: int | None

    def overlaps(self, start_ns: int, end_ns: int) -> bool:
        """Whether the file holds a minute in [start, end) as far as its range tells."""
        if self.first_ns is None or self.last_ns is None:
            return False
        return self.first_ns < end_ns and self.last_ns >= start_ns

    def as_json(self) -> list[Any]:
        s = self.stamp
        return [s.size, s.mtime_ns, s.ctime_ns, self.first_ns, self.last_ns]

    @classmethod
    def from_json(cls, row: list[Any]) -> FileRange:
        size, mtime_ns, ctime_ns, first_ns, last_ns = row
        return cls(
            FileStamp(int(size), int(mtime_ns), int(ctime_ns)),
            None if first_ns is None else int(first_ns),
            None if last_ns is None else int(last_ns),
        )


def default_index_path(directory: Path, columns: Mapping[str, str]) -> Path:
    """The index of ``directory`` read with ``columns`` (a mapping can change the time column)."""
    key = json.dumps([str(directory.resolve()), sorted(columns.items())])
    name = hashlib.sha256(key.encode()).hexdigest()[:24]
    return cache_root() / INDEX_FOLDER / f"{name}.json"


def _read_entries(path: Path) -> dict[str, FileRange]:
    try:
        raw = json.loads(path.read_text())
        if raw.get("format") != INDEX_FORMAT:
            return {}
        return {name: FileRange.from_json(row) for name, row in raw["files"].items()}
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return {}


class IndexNotSavedWarning(UserWarning):
    """The index of undated files could not be stored; the next run reads them again."""


class FilesIndex:
    """Ranges keyed by the file's path relative to the candle directory."""

    def __init__(self, path: Path, directory: Path) -> None:
        self.path = path
        self.directory = directory
        self._entries = _read_entries(path)
        self._new: dict[str, FileRange] = {}

    def _key(self, file: Path) -> str:
        return file.relative_to(self.directory).as_posix()

    def get(self, file: Path, stamp: FileStamp) -> FileRange | None:
        """The recorded range of this very version of ``file``, if any."""
        entry = self._entries.get(self._key(file))
        return entry if entry is not None and entry.stamp == stamp else None

    def put(self, file: Path, entry: FileRange) -> None:
        key = self._key(file)
        if self._entries.get(key) != entry:
            self._entries[key] = self._new[key] = entry

    def save(self) -> None:
        """Merge what this process learned into the stored index (atomic; no-op when nothing)."""
        if not self._new:
            return
        entries = _read_entries(self.path) | self._new
        gone = [k for k in entries if not (self.directory / k).is_file()]
        rows = {k: v.as_json() for k, v in sorted(entries.items()) if k not in gone}
        payload = {"format": INDEX_FORMAT, "directory": str(self.directory), "files": rows}
        try:
            write_json_atomic(self.path, payload)
        except OSError as error:  # a cache: the candles are right without it, only slower
            warnings.warn(
                f"the files index {self.path} could not be written ({error}): undated files "
                "will be read again by the next run; point TMPDIR at a writable directory",
                IndexNotSavedWarning,
                stacklevel=2,
            )
            return
        self._entries = {k: v for k, v in entries.items() if k not in gone}
        self._new = {}
