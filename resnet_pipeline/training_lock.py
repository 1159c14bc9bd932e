"""One training at a time per Dagster instance, however it is launched (UI, CLI, schedule).

A training step holds an exclusive ``flock`` on ``<instance root>/locks/trainer.lock`` while
it trains and writes. The kernel releases the lock the moment its holder dies (``kill -9``,
OOM, a lost terminal), so a killed training never blocks the next one, and nothing has to be
freed by hand. A step that finds the lock taken sleeps and tries again (no busy loop), logging
who holds it; SIGTERM and Ctrl-C end the wait like any other part of a run.

Across machines (a Postgres instance with Celery workers) the lock of one machine does not
reach the others: there the asset's Dagster pool (``trainer``, limit set in the deployment's
dagster.yaml) keeps trainings apart.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg

TRAINER_POOL = "trainer"
POLL_SECONDS = 1.0


def lock_file(instance: dg.DagsterInstance) -> Path:
    return Path(instance.root_directory) / "locks" / f"{TRAINER_POOL}.lock"


def _holder(fd: int) -> str:
    """What the current holder wrote into the lock file (run id, pid, host, since)."""
    try:
        record = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
    except (OSError, ValueError):
        return "another training"
    if not record:
        return "another training"
    return (
        f"run {record.get('run_id', '?')} (pid {record.get('pid', '?')} on "
        f"{record.get('host', '?')}, since {record.get('since', '?')})"
    )


@contextmanager
def one_training_at_a_time(context: dg.AssetExecutionContext) -> Iterator[None]:
    """Hold this instance's training lock for the block, waiting (asleep) while another
    training holds it."""
    path = lock_file(context.instance)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not told:
                    context.log.info(f"waiting for {_holder(fd)} to finish training ({path})")
                    told = True
                time.sleep(POLL_SECONDS)
        record = {
            "run_id": context.run.run_id,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(record).encode(), 0)
        yield
    finally:
        os.close(fd)  # closing releases the lock (as the kernel does when the holder dies)
