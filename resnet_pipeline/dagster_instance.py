"""The instance class dagster.yaml names: SQLite storage whose pool-slot claims are atomic.

Dagster's SQL event log claims a pool slot in several statements (is a slot unassigned? queue the
step as assigned; take the first free slot row) and relies on SELECT ... FOR UPDATE, which SQLite
ignores. Two runs claiming at the same moment both took the `trainer` pool's one slot (2 of 8
fresh-instance trials, with the pool row created beforehand). Here every claim and release holds
an exclusive lock on a file beside the databases, so check and claim are one step across
processes. Instances on Postgres (`storage: postgres:`) lock rows and need none of this.
"""

from __future__ import annotations

import fcntl
import functools
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import dagster as dg
import yaml
from dagster._core.instance.ref import InstanceRef
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage, _event_logs_directory
from dagster._serdes import ConfigurableClassData

LOCK_FILE = "pool_slots.lock"
# Every storage method that reads and then changes pool slots or pending steps.
SLOT_METHODS = (
    "claim_concurrency_slot",
    "free_concurrency_slot_for_step",
    "free_concurrency_slots_for_run",
    "set_concurrency_slots",
    "delete_concurrency_limit",
    "initialize_concurrency_limit_to_default",
)


class PoolLockedSqliteEventLogStorage(SqliteEventLogStorage):
    """SQLite event log whose slot methods run one at a time across all processes."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None) -> None:
        super().__init__(base_dir, inst_data)
        self._slot_lock_path = os.path.join(self._base_dir, LOCK_FILE)
        self._slot_thread_lock = threading.RLock()  # flock is per open file, not per thread
        self._slot_lock_depth = 0

    @contextmanager
    def slot_lock(self) -> Iterator[None]:
        with self._slot_thread_lock:
            self._slot_lock_depth += 1
            try:
                if self._slot_lock_depth > 1:  # nested call in this thread: already held
                    yield
                    return
                with open(self._slot_lock_path, "a") as handle:
                    fcntl.flock(handle, fcntl.LOCK_EX)  # released by the kernel if we die
                    try:
                        yield
                    finally:
                        fcntl.flock(handle, fcntl.LOCK_UN)
            finally:
                self._slot_lock_depth -= 1


def _locked(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def run_locked(self: PoolLockedSqliteEventLogStorage, *args: Any, **kwargs: Any) -> Any:
        with self.slot_lock():
            return method(self, *args, **kwargs)

    return run_locked


for _name in SLOT_METHODS:
    setattr(
        PoolLockedSqliteEventLogStorage,
        _name,
        _locked(getattr(SqliteEventLogStorage, _name)),
    )


class PoolLockedSqliteStorage(DagsterSqliteStorage):
    """Dagster's default SQLite storage with the locked event log."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None) -> None:
        super().__init__(base_dir, inst_data)
        self._event_log_storage = PoolLockedSqliteEventLogStorage(_event_logs_directory(base_dir))

    @classmethod
    def from_config_value(  # type: ignore[override]
        cls, inst_data: ConfigurableClassData, config_value: Mapping[str, Any]
    ) -> PoolLockedSqliteStorage:
        return cls.from_local(inst_data=inst_data, **config_value)


class PoolSafeInstance(dg.DagsterInstance):
    """A DagsterInstance whose default storage (no `storage:` in dagster.yaml) is the above."""

    @classmethod
    def config_schema(cls) -> dict[str, Any]:
        return {}

    @staticmethod
    def config_defaults(base_dir: str) -> Mapping[str, ConfigurableClassData | None]:
        storage = yaml.dump({"base_dir": base_dir}, default_flow_style=False)
        return {
            **InstanceRef.config_defaults(base_dir),
            "storage": ConfigurableClassData(__name__, PoolLockedSqliteStorage.__name__, storage),
        }
