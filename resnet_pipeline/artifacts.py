"""Atomic writes, reads and local cached copies of artifacts under one fsspec root.

Every artifact (Parquet partitions, datasets, checkpoints, training state, reports) goes
through these helpers, so the data root can be a local directory or object storage
(``s3://bucket/prefix``; s3fs reads credentials and ``AWS_ENDPOINT_URL`` from the environment).

Atomicity:
- local: write a temp file beside the target (``.<name>.<host>.<pid>.<hex>.tmp``), then
  ``os.replace``: a crash never leaves a half file.
- object storage: the content is staged in a local temp file, uploaded to a temporary key
  beside the target (same naming), then copied onto the target in one server-side copy and
  the temporary key deleted. A streamed ``fs.open(..., "wb")`` is not used: fsspec commits
  it on ``close()`` even when the block raised, which would publish half a file.
- multi-file artifacts on object storage (a dataset directory): the files go under a fresh
  version prefix, then ``manifest.json`` is written last (atomically, as above). Readers
  trust only what the manifest lists; without a manifest there is no artifact.

Reads that need a local file (memory-mapped matrices, DuckDB, torch) use ``local_copy`` /
``local_dir_copy``: a download into a cache under ``tempfile.gettempdir()`` keyed by the
object's checksum (S3 ETag) or the manifest's digest, so it happens once per content and a
changed artifact is downloaded again.
"""

from __future__ import annotations

import calendar
import hashlib
import json
import os
import shutil
import socket
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from upath import UPath

MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1

# A temp file older than this belongs to a dead writer whatever its pid says (pids are reused,
# and a writer on another host cannot be asked): an artifact is written in seconds to minutes.
STALE_TEMP_SECONDS = 6 * 3600
# An unlisted version prefix of a multi-file artifact younger than this may be a concurrent
# writer's upload whose manifest is not written yet: it is left alone until then.
VERSION_GRACE_SECONDS = 3600
_HOST = socket.gethostname().replace(".", "-") or "host"
_CACHE_DIR = "resnet_pipeline-cache"
_BLOCK = 1 << 20
_VERSION_TIME = "%Y%m%dT%H%M%SZ"
P = TypeVar("P", Path, UPath)


def as_path(path: str | os.PathLike[str]) -> UPath:
    """A local path or an fsspec URL (s3://, gs://) as one path type."""
    return path if isinstance(path, UPath) else UPath(path)


def is_local(path: str | os.PathLike[str]) -> bool:
    return as_path(path).protocol in ("", "file", "local")


def local_path(path: str | os.PathLike[str]) -> Path:
    """A local UPath as a plain ``pathlib.Path`` (renames and mmaps act on real files)."""
    return Path(as_path(path).path)


def temp_path_for(target: P) -> P:
    """A temp name beside ``target``, unique per writer, naming its host and pid.

    ``.<name>.<host>.<pid>.<random>.tmp``: a later writer can tell a dead writer's leftover
    (``remove_stale_temps``) from a live writer's file in progress.
    """
    return target.with_name(f".{target.name}.{_HOST}.{os.getpid()}.{uuid.uuid4().hex}.tmp")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _is_stale(name: str, prefix: str, age: float, max_age_seconds: float) -> bool:
    writer = name[len(prefix) : -len(".tmp")].rsplit(".", 2)
    if len(writer) != 3:  # not one of ours (or the legacy ``.<name>.<hex>.tmp``)
        host, pid = None, None
    else:
        host, pid = writer[0], int(writer[1]) if writer[1].isdigit() else None
    dead_here = host == _HOST and pid is not None and not _pid_alive(pid)
    return dead_here or age > max_age_seconds


def _timestamp(info: dict) -> float | None:
    """Modification time of an fsspec ``info`` entry (S3: LastModified), if it has one."""
    for key in ("LastModified", "mtime", "last_modified", "updated", "created"):
        value = info.get(key)
        if isinstance(value, datetime):
            return value.timestamp()
        if isinstance(value, int | float):
            return float(value)
    return None


def remove_stale_temps(target: Any, max_age_seconds: float = STALE_TEMP_SECONDS) -> list[Any]:
    """Delete the temp files of ``target`` left by writers that died (kill -9, power loss).

    A temp is stale when its writer's pid is gone on this host, or when it is older than
    ``max_age_seconds`` (another host's writer, or a reused pid). Works on object storage
    too (age from the listing's LastModified). Returns what was removed.
    """
    prefix = f".{target.name}."
    if not is_local(target):
        return _remove_stale_remote(as_path(target), prefix, max_age_seconds)
    target, removed = local_path(target), []
    if not target.parent.is_dir():
        return removed
    now = time.time()
    for tmp in target.parent.glob(f"{prefix}*.tmp"):
        try:
            age = now - tmp.stat().st_mtime
        except FileNotFoundError:  # its writer just renamed or removed it
            continue
        if _is_stale(tmp.name, prefix, age, max_age_seconds):
            if tmp.is_dir():  # a dataset directory whose save was killed
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def _remove_stale_remote(target: UPath, prefix: str, max_age_seconds: float) -> list[UPath]:
    fs, parent = target.fs, target.parent.path
    fs.invalidate_cache(parent)
    try:
        entries = fs.ls(parent, detail=True)
    except FileNotFoundError:
        return []
    now, removed = time.time(), []
    for entry in entries:
        name = entry["name"].rstrip("/").rsplit("/", 1)[-1]
        if entry.get("type") != "file" or not (name.startswith(prefix) and name.endswith(".tmp")):
            continue
        modified = _timestamp(entry)
        age = 0.0 if modified is None else now - modified  # unknown age: only a dead pid
        if _is_stale(name, prefix, age, max_age_seconds):
            try:
                fs.rm_file(entry["name"])
            except FileNotFoundError:  # another writer removed it first
                continue
            removed.append(target.with_name(name))
    return removed


@contextmanager
def atomic_write_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A local file to write ``path``'s new content into; when the block exits without error
    it replaces ``path`` in one step (local rename, or temporary key + copy on object storage).
    On error nothing is published and the temp file is removed."""
    target = as_path(path)
    if is_local(target):
        final = local_path(target)
        final.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(final)  # left by writers killed before their rename
        tmp = temp_path_for(final)  # unique per writer: two writers never share one
        try:
            yield tmp
            os.replace(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)
        return
    staging = Path(tempfile.mkdtemp(prefix="resnet-upload-"))
    try:
        local = staging / target.name
        yield local
        _publish(local, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _publish(local: Path, target: UPath) -> None:
    """Upload to a temporary key beside ``target``, then one copy onto it."""
    fs = target.fs
    remove_stale_temps(target)
    tmp = temp_path_for(target)
    try:
        fs.put_file(str(local), tmp.path)
        fs.cp_file(tmp.path, target.path)
    finally:
        try:
            fs.rm_file(tmp.path)
        except FileNotFoundError:  # the upload itself failed
            pass
        fs.invalidate_cache(target.path)


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    with atomic_write_path(path) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    write_bytes_atomic(path, text.encode())


def write_json_atomic(path: str | os.PathLike[str], value: Any) -> None:
    """``value`` as indented JSON (plain Python values only)."""
    write_text_atomic(path, json.dumps(value, indent=2))


def fresh(path: str | os.PathLike[str]) -> UPath:
    """``path`` with fsspec's cached listings of it dropped: a long-lived worker process
    must see what other machines wrote since it last listed the prefix."""
    target = as_path(path)
    if not is_local(target):
        fs = target.fs
        fs.invalidate_cache(target.path)  # the path and its parents
        listings = getattr(fs, "dircache", None)  # and the prefixes below it (glob, walk)
        if listings is not None:
            below = target.path.rstrip("/") + "/"
            for key in [k for k in list(listings) if k.startswith(below)]:
                listings.pop(key, None)
    return target


def exists(path: str | os.PathLike[str]) -> bool:
    return fresh(path).exists()


def read_bytes(path: str | os.PathLike[str]) -> bytes:
    return as_path(path).read_bytes()


def read_text(path: str | os.PathLike[str]) -> str:
    return read_bytes(path).decode()


def read_json(path: str | os.PathLike[str]) -> Any:
    return json.loads(read_bytes(path))


def remove(path: str | os.PathLike[str]) -> None:
    """Delete one file; a missing one is fine."""
    target = as_path(path)
    if is_local(target):
        local_path(target).unlink(missing_ok=True)
        return
    try:
        target.fs.rm_file(target.path)
    except FileNotFoundError:
        pass


def file_sha256(path: str | os.PathLike[str]) -> str:
    """sha256 of a file's bytes, streamed (a local path or an fsspec URL)."""
    digest = hashlib.sha256()
    with as_path(path).open("rb") as fh:
        while block := fh.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def cache_root() -> Path:
    """Where downloads are cached: ``<tempfile.gettempdir()>/resnet_pipeline-cache`` (TMPDIR)."""
    return Path(tempfile.gettempdir()) / _CACHE_DIR


def _cache_slot(target: UPath) -> Path:
    """One cache folder per remote artifact; its entries are content versions."""
    return cache_root() / hashlib.sha256(str(target).encode()).hexdigest()[:24]


def _install(slot: Path, key: str, fill: Callable[[Path], None]) -> Path:
    """Fill a fresh temp folder, rename it to ``slot/key`` (another process may have won the
    race: then its copy is used) and drop the slot's other versions."""
    entry = slot / key
    if entry.is_dir():
        return entry
    slot.mkdir(parents=True, exist_ok=True)
    tmp = temp_path_for(entry)
    tmp.mkdir()
    try:
        fill(tmp)
        try:
            tmp.rename(entry)
        except OSError:
            if not entry.is_dir():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for other in slot.iterdir():  # earlier versions; an open memory map keeps its pages
        if other.name != key and not other.name.startswith("."):
            shutil.rmtree(other, ignore_errors=True)
    remove_stale_temps(entry)
    return entry


def local_copy(path: str | os.PathLike[str]) -> Path:
    """A local file with ``path``'s content: ``path`` itself when local, else a cached download
    keyed by the object's checksum (downloaded again only when the object changed)."""
    target = as_path(path)
    if is_local(target):
        return local_path(target)
    fs = fresh(target).fs
    size = fs.size(target.path)
    key = f"{fs.checksum(target.path):x}-{size}"

    def fill(folder: Path) -> None:
        fs.get_file(target.path, str(folder / target.name))
        got = (folder / target.name).stat().st_size
        if got != size:
            raise OSError(f"downloaded {got} of {size} bytes of {target}")

    return _install(_cache_slot(target), key, fill) / target.name


def put_dir_with_manifest(
    local_dir: Path, target: str | os.PathLike[str], extra: dict | None = None
) -> dict:
    """Publish the files of ``local_dir`` as one artifact at ``target`` on object storage:
    each under ``<target>/<version>/``, then ``<target>/manifest.json`` last, listing them
    with size and sha256. Versions no manifest names (older than VERSION_GRACE_SECONDS) are
    removed, except the previous one (a reader may be downloading it)."""
    root = as_path(target)
    fs = root.fs
    version = f"{time.strftime(_VERSION_TIME, time.gmtime())}-{uuid.uuid4().hex[:12]}"
    files = {}
    for file in sorted(p for p in local_dir.iterdir() if p.is_file()):
        key = f"{version}/{file.name}"
        fs.put_file(str(file), (root / key).path)
        files[file.name] = {
            "key": key,
            "size": file.stat().st_size,
            "sha256": file_sha256(file),
        }
    try:
        previous = read_manifest(root).get("version")
    except (FileNotFoundError, ValueError):
        previous = None
    manifest = {"format": MANIFEST_FORMAT, "version": version, "files": files, **(extra or {})}
    write_json_atomic(root / MANIFEST, manifest)  # the commit point
    _prune_versions(root, keep={version, previous})
    return manifest


def _prune_versions(root: UPath, keep: set[str | None]) -> None:
    fs, now = root.fs, time.time()
    fs.invalidate_cache(root.path)
    for entry in fs.ls(root.path, detail=True):
        name = entry["name"].rstrip("/").rsplit("/", 1)[-1]
        if entry.get("type") != "directory" or name in keep or name.startswith("."):
            continue
        try:
            made = calendar.timegm(time.strptime(name.split("-", 1)[0], _VERSION_TIME))
        except ValueError:
            continue  # not a version prefix of ours
        if now - made > VERSION_GRACE_SECONDS:
            fs.rm(entry["name"], recursive=True)


def read_manifest(target: str | os.PathLike[str]) -> dict:
    """``<target>/manifest.json``; FileNotFoundError when there is none."""
    manifest = read_json(as_path(target) / MANIFEST)
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise ValueError(f"{as_path(target) / MANIFEST} is not a manifest")
    return manifest


def has_objects(target: str | os.PathLike[str]) -> bool:
    """Whether anything is stored under ``target`` (a file or a non-empty prefix)."""
    root = fresh(target)
    try:
        return bool(root.fs.ls(root.path, detail=False))
    except FileNotFoundError:
        return False


def local_dir_copy(target: str | os.PathLike[str], manifest: dict) -> Path:
    """A local folder holding the files ``manifest`` lists (names as in the manifest),
    downloaded once per manifest and verified against its sizes and sha256."""
    root = as_path(target)
    key = hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()[:32]

    def fill(folder: Path) -> None:
        for name, info in manifest["files"].items():
            local = folder / name
            root.fs.get_file((root / info["key"]).path, str(local))
            if local.stat().st_size != info["size"] or file_sha256(local) != info["sha256"]:
                raise OSError(f"{root / info['key']} does not match its manifest entry")

    return _install(_cache_slot(root), key, fill)
