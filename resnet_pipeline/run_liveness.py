"""Every step subprocess dies with its run, so a killed run never trains on or writes afterwards.

Dagster's multiprocess executor runs each step in a child of the run process (``spawn``, its
default) or in a child of a forkserver the run process started (``start_method: forkserver``).
Nothing stops such a step when the run process is killed: it would keep training and rewrite
the checkpoint minutes after the run was seen to die. The forkserver does not help: it exits
only once every process holding its "alive" pipe is gone, the steps included.

``die_with_run`` binds the step to the run process: under ``spawn`` the Linux kernel SIGKILLs
the step the moment its parent exits (``PR_SET_PDEATHSIG``); under a forkserver a thread waits
on a pidfd of the run process and SIGKILLs the step when it exits. A run that died before the
arming is caught too: the parent is checked after ``prctl``, and a pidfd of an exited process is
readable at once (or cannot be opened).

Every step is bound, not only trainings: ``bind_step`` runs when a step process initializes the
``store`` resource (``DataStore``), which every asset of the pipeline that writes uses, directly
or through the IO manager; a training binds again, idempotently, under its lock
(``training_lock.one_training_at_a_time``). So a dead run's ``wf_predictions`` or report step
writes nothing and records no success afterwards.

Only steps that Dagster's multiprocess executor started are bound (``steps_in_subprocesses``):
a step that is the run process itself (``in_process`` executor) has nothing above it to follow,
and a run launched from the UI is a ``multiprocessing`` child of its code server, which is not
the run (the run goes on, and reports its end, when the code server is gone). Celery tasks and
other executors' steps are left alone too. A resource does not see its job's executor: there
the executor is the definitions' (``executors.executor_name``: ``RESNET_EXECUTOR``, which the
caller passes), as no job of the pipeline names its own.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import select
import signal
import sys
import threading
from collections.abc import Mapping
from typing import Any, NoReturn

import dagster as dg

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_armed: list[int] = []  # the pid of this process once it is bound (a fork starts unbound)


def _die() -> NoReturn:
    os.kill(os.getpid(), signal.SIGKILL)
    raise SystemExit(1)  # not reached: SIGKILL cannot be caught


def _kill_on_parent_death() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, ctypes.c_ulong(signal.SIGKILL), 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")


def _exited(pidfd: int, timeout_ms: int | None) -> bool:
    """Whether the pidfd's process has exited (a pidfd turns readable then), waiting up to
    ``timeout_ms`` (None: for as long as it takes)."""
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    return bool(poller.poll(timeout_ms))


def _die_when_it_exits(pidfd: int) -> None:
    _exited(pidfd, None)
    _die()


def runs_steps_in_subprocesses(executor: str, run_config: Mapping[str, Any]) -> bool:
    """Whether a run of ``executor`` (its name) with ``run_config`` executes its steps in child
    processes of the run process: Dagster's multiprocess executor, chosen or as the default of
    ``multi_or_in_process_executor``."""
    if executor == dg.multi_or_in_process_executor.name:
        chosen = (run_config.get("execution") or {}).get("config") or {}
        return "in_process" not in chosen
    return executor == dg.multiprocess_executor.name


def steps_in_subprocesses(context: dg.AssetExecutionContext) -> bool:
    """``runs_steps_in_subprocesses`` for the step of ``context``."""
    return runs_steps_in_subprocesses(context.job_def.executor_def.name, context.run.run_config)


def bind_step(run: dg.DagsterRun | None, executor: str) -> bool:
    """Bind this process to ``run``'s process when it is a step subprocess of the run, whose
    jobs use ``executor`` (see the module); True when bound. Outside a run (``run`` None),
    nothing changes."""
    if run is None or not runs_steps_in_subprocesses(executor, run.run_config):
        return False
    return die_with_run()


def die_with_run() -> bool:
    """Have this step subprocess killed when its run process (the process that started it)
    dies; True when armed. Not on Linux, or in no ``multiprocessing`` child: False, nothing
    changes."""
    run_process = multiprocessing.parent_process()
    if run_process is None or not sys.platform.startswith("linux"):
        return False
    if _armed == [os.getpid()]:  # bound already: one watcher is enough
        return True
    parent = os.getppid()
    if parent == run_process.pid:
        _kill_on_parent_death()
        if os.getppid() != run_process.pid:  # the run died before the arming
            _die()
        _armed[:] = [os.getpid()]
        return True
    try:
        pidfd = os.pidfd_open(run_process.pid)  # readable once the run process has exited
    except ProcessLookupError:  # the run died before the arming
        _die()
    if _exited(pidfd, 0):
        _die()
    threading.Thread(
        target=_die_when_it_exits, args=(pidfd,), name="die-with-run", daemon=True
    ).start()
    _armed[:] = [os.getpid()]
    return True
