"""One training at a time per Dagster instance on one machine, however it is launched (UI, CLI,
schedule, in-process or multiprocess executor).

A training step holds an exclusive ``flock`` on ``<instance root>/locks/trainer.lock`` while it
trains and writes. The kernel releases the lock the moment its holder dies (``kill -9``, OOM, a
lost terminal), so a killed training never blocks the next one and nothing is freed by hand.
Processes the holder forks do not inherit the lock, and a step subprocess dies with its run
(``run_liveness``), so no orphan keeps it. A step that finds the lock taken sleeps and tries
again every ``POLL_SECONDS`` (no busy loop), saying who holds it; SIGTERM and Ctrl-C end the
wait like any other part of a run.

Across machines (a Postgres instance with Celery workers) one machine's lock does not reach the
others: there the assets' Dagster pool (``trainer``, limit 1 in
deploy/postgres-celery/dagster.yaml) keeps trainings apart.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg

from resnet_pipeline.run_liveness import die_with_run, steps_in_subprocesses

TRAINER_POOL = "trainer"
POLL_SECONDS = 1.0

_held_fds: set[int] = set()  # lock descriptors this process holds


def _drop_inherited_locks() -> None:
    """In a forked child: close the inherited lock descriptors, so that only the holder's own
    death (not the end of a child it forked) releases the lock."""
    for fd in _held_fds:
        os.close(fd)
    _held_fds.clear()


os.register_at_fork(after_in_child=_drop_inherited_locks)


def lock_file(instance: dg.DagsterInstance) -> Path:
    return Path(instance.root_directory) / "locks" / f"{TRAINER_POOL}.lock"


def holder(path: Path) -> dict[str, str]:
    """What the holder wrote into the lock file: run id, pid, host, since; empty when the last
    holder released it (a holder that was killed leaves its record)."""
    try:
        return json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return {}


def _describe(record: dict[str, str]) -> str:
    if not record:
        return "another training"
    return (
        f"run {record.get('run_id', '?')} (pid {record.get('pid', '?')} on "
        f"{record.get('host', '?')}, since {record.get('since', '?')})"
    )


@contextmanager
def training_lock(path: Path, run_id: str, log: logging.Logger) -> Iterator[None]:
    """Hold the lock at ``path`` for the block, waiting (asleep) while another process holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    _held_fds.add(fd)
    try:
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not told:
                    log.info(f"waiting for {_describe(holder(path))} to finish training ({path})")
                    told = True
                time.sleep(POLL_SECONDS)
        killed = holder(path)
        if killed:
            log.warning(
                f"the previous training, {_describe(killed)}, was killed while it held the "
                "training lock; the lock passed on when its process died"
            )
        record = {
            "run_id": run_id,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(record).encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)  # released, not killed: the next holder finds no record
    finally:
        _held_fds.discard(fd)
        os.close(fd)  # releases the lock, as the kernel does when the holder dies


@contextmanager
def one_training_at_a_time(context: dg.AssetExecutionContext) -> Iterator[None]:
    """Hold this instance's training lock for the block; a step subprocess is first bound to
    die with its run, so it never trains (or writes) for a run that is gone."""
    if steps_in_subprocesses(context):
        die_with_run()
    with training_lock(lock_file(context.instance), context.run.run_id, context.log):
        yield
