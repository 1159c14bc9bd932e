"""Real processes the tests start: a free port on 127.0.0.1, waiting for them to be ready,
stopping a process group, and the pid of a process that has exited."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def dead_pid() -> int:
    """The pid of a child that has already exited: a writer that died."""
    return int(
        subprocess.run(
            [sys.executable, "-c", "import os; print(os.getpid())"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )


def wait_for(check: Callable[[], T | None], timeout: float, what: str) -> T:
    """Poll ``check`` until it returns something truthy; fail naming ``what`` after ``timeout``
    seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)  # poll interval, not synchronization: the deadline bounds the wait


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def stop_group(proc: subprocess.Popen, grace: float = 30.0) -> None:
    """SIGTERM the process group ``proc`` leads (started with ``start_new_session``); SIGKILL
    what is left after ``grace`` seconds.

    The whole group, not only its leader: a child can outlive its launcher (a celery worker's
    main process outlives the ``dagster-celery`` command, a code server outlives ``dagster
    dev``) and would keep a port or retry a stopped broker forever."""
    if _group_alive(proc.pid):
        os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while _group_alive(proc.pid) and time.monotonic() < deadline:
            proc.poll()  # reap the leader, or the group never looks empty
            time.sleep(0.1)
        if _group_alive(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=20)
