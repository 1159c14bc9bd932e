"""One training at a time per Dagster instance on one machine, however it is launched (UI, CLI,
schedule, in-process or multiprocess executor).

A training step holds an exclusive ``flock`` on ``<instance root>/locks/trainer.lock`` while it
trains and writes. The kernel releases the lock the moment its holder dies (``kill -9``, OOM, a
lost terminal), so a killed training never blocks the next one and nothing is freed by hand.
Processes the holder forks do not inherit the lock, and a step subprocess dies with its run
(``run_liveness``), so no orphan keeps it. A step that finds the lock taken sleeps and tries
again every ``POLL_SECONDS`` (no busy loop), saying who holds it; SIGTERM and Ctrl-C end the
wait like any other part of a run.

Waiters are served in arrival order: each takes a numbered ticket, a file in
``trainer.lock.queue/`` that it holds an ``flock`` on while it waits, and only the waiter with no
live ticket before its own tries the lock. A waiter that dies leaves a ticket nobody holds,
which the next waiter to look removes: a dead waiter never stalls the line.

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


def _queue(path: Path) -> Path:
    return path.with_name(f"{path.name}.queue")


def _tickets(queue: Path) -> list[Path]:
    """The published tickets, oldest first (names are zero-padded numbers)."""
    try:
        return sorted(p for p in queue.iterdir() if p.name.isdigit())
    except FileNotFoundError:
        return []


def _alive(ticket: Path) -> bool:
    """Whether the ticket's waiter lives (it holds the ticket's flock); a dead one's ticket
    is removed."""
    try:
        fd = os.open(ticket, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        ticket.unlink(missing_ok=True)
        return False
    finally:
        os.close(fd)


def waiting(path: Path, before: Path | None = None) -> int:
    """How many live waiters are in line for the lock at ``path`` (before ``before``: ahead
    of that ticket)."""
    tickets = _tickets(_queue(path))
    return sum(_alive(t) for t in tickets if before is None or t.name < before.name)


def _take_ticket(path: Path) -> tuple[Path, int]:
    """The next ticket in line, published under the queue's counter lock (numbers and
    publication in one order), and the descriptor that holds it."""
    queue = _queue(path)
    queue.mkdir(parents=True, exist_ok=True)
    counter = os.open(queue / ".counter", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(counter, fcntl.LOCK_EX)  # held for a few file operations
        number = int(os.pread(counter, 32, 0) or b"0") + 1
        os.ftruncate(counter, 0)
        os.pwrite(counter, str(number).encode(), 0)
        making = queue / f".{number}.{os.getpid()}"
        fd = os.open(making, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX)
        _held_fds.add(fd)
        ticket = queue / f"{number:012d}"
        making.rename(ticket)  # published already held: never seen as a dead waiter's
    finally:
        os.close(counter)
    return ticket, fd


def _first_in_line(path: Path, ticket: Path) -> bool:
    return waiting(path, before=ticket) == 0


def _drop_ticket(ticket: Path, fd: int) -> None:
    ticket.unlink(missing_ok=True)
    _held_fds.discard(fd)
    os.close(fd)


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


def _wait_in_line(path: Path, fd: int, log: logging.Logger) -> None:
    """Take the lock on ``fd`` once every earlier waiter has had it (or died)."""
    ticket, ticket_fd = _take_ticket(path)
    try:
        told = False
        while True:
            if _first_in_line(path, ticket):
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return
                except BlockingIOError:
                    pass
            if not told:
                log.info(
                    f"waiting for {_describe(holder(path))} to finish training ({path}; "
                    f"{waiting(path, before=ticket)} other training(s) waiting before this one)"
                )
                told = True
            time.sleep(POLL_SECONDS)
    finally:
        _drop_ticket(ticket, ticket_fd)


@contextmanager
def training_lock(path: Path, run_id: str, log: logging.Logger) -> Iterator[None]:
    """Hold the lock at ``path`` for the block, waiting (asleep) while another process holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    _held_fds.add(fd)
    try:
        _wait_in_line(path, fd, log)
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
