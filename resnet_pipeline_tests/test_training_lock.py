"""The training lock and the step's bond to its run, on real processes (no Dagster run).

The lock is what keeps trainings apart on one machine, so: racing processes hold it one at a
time; waiters get it in the order they arrived, a killed waiter holding up no one; a killed
holder frees it at once, even while a child it forked lives on; and the next holder hears of the
killed one. A step whose run process is already gone when it arms `die_with_run` dies there.
"""

from __future__ import annotations

import fcntl
import json
import logging
import multiprocessing
import os
import signal
import time
from pathlib import Path

from resnet_pipeline import training_lock
from resnet_pipeline.run_liveness import die_with_run
from resnet_pipeline.training_lock import holder, waiting
from resnet_pipeline_tests._pool_processes import gone
from resnet_pipeline_tests._processes import wait_for

FORK = multiprocessing.get_context("fork")
LOG = logging.getLogger("test_training_lock")
RACERS = 6
HOLD_SECONDS = 0.05


def _race(path: Path, index: int, barrier, spans) -> None:
    barrier.wait()
    with training_lock.training_lock(path, f"run-{index}", LOG):
        start = time.monotonic()
        time.sleep(HOLD_SECONDS)
        spans.put((start, time.monotonic()))


def test_racing_processes_hold_the_lock_one_at_a_time(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(training_lock, "POLL_SECONDS", 0.01)  # forked racers inherit it
    path = tmp_path / "locks" / "trainer.lock"
    barrier, spans = FORK.Barrier(RACERS), FORK.Queue()
    racers = [FORK.Process(target=_race, args=(path, i, barrier, spans)) for i in range(RACERS)]
    for racer in racers:
        racer.start()
    held = sorted(spans.get(timeout=60) for _ in range(RACERS))
    for racer in racers:
        racer.join(timeout=60)
        assert racer.exitcode == 0
    for (_, end), (start, _) in zip(held, held[1:], strict=False):
        assert end <= start, f"two holders at once: {held}"
    assert holder(path) == {}, "a released lock keeps no holder record"


def _wait_in_line(path: Path, index: int, served: Path) -> None:
    """Take the lock and write down its turn while holding it (a queue's put returns before
    its item is sent, so another holder's could overtake it)."""
    with training_lock.training_lock(path, f"waiter-{index}", LOG):
        with served.open("a") as file:
            file.write(f"{index}\n")


def test_waiters_get_the_lock_in_the_order_they_arrived(tmp_path, monkeypatch) -> None:
    """Six waiters arrive one after another behind a holder; the third is killed while it
    waits. When the holder lets go, the lock goes to the others in arrival order."""
    monkeypatch.setattr(training_lock, "POLL_SECONDS", 0.01)  # every waiter polls eagerly
    path, turns = tmp_path / "locks" / "trainer.lock", tmp_path / "served.txt"
    waiters = []
    with training_lock.training_lock(path, "holder", LOG):
        for index in range(RACERS):
            waiter = FORK.Process(target=_wait_in_line, args=(path, index, turns))
            waiter.start()
            waiters.append(waiter)
            wait_for(lambda n=index + 1: waiting(path) == n, 30, f"waiter {index} in line")
        os.kill(waiters[2].pid, signal.SIGKILL)
        wait_for(lambda: waiting(path) == RACERS - 1, 30, "the killed waiter to leave the line")
    for waiter in waiters:
        waiter.join(timeout=60)
    served = [int(line) for line in turns.read_text().split()]
    assert served == [0, 1, 3, 4, 5]
    assert waiting(path) == 0 and holder(path) == {}


def _hold_and_fork(path: Path, child_pid, ready) -> None:
    """Hold the lock, fork a child that outlives us, then wait to be killed."""
    with training_lock.training_lock(path, "killed-run", LOG):
        child = FORK.Process(target=time.sleep, args=(120,), daemon=False)
        child.start()
        child_pid.value = child.pid
        ready.set()
        time.sleep(120)


def _free(path: Path) -> bool:
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True


def test_a_killed_holder_frees_the_lock_though_its_child_lives_on(tmp_path, caplog) -> None:
    path = tmp_path / "locks" / "trainer.lock"
    child_pid, ready = FORK.Value("i", 0), FORK.Event()
    holder_process = FORK.Process(target=_hold_and_fork, args=(path, child_pid, ready))
    holder_process.start()
    try:
        assert ready.wait(60)
        assert not _free(path)
        os.kill(holder_process.pid, signal.SIGKILL)
        wait_for(lambda: gone(holder_process.pid), 30, "the killed holder to exit")
        assert not gone(child_pid.value), "the holder's child should still be alive here"
        assert _free(path), "the dead holder's child kept the training lock"
        assert holder(path)["run_id"] == "killed-run"  # a killed holder leaves its record
        with caplog.at_level(logging.WARNING), training_lock.training_lock(path, "next", LOG):
            assert holder(path)["run_id"] == "next"
        assert "killed-run" in caplog.text and "was killed" in caplog.text
        assert holder(path) == {}
    finally:
        if child_pid.value:
            os.kill(child_pid.value, signal.SIGKILL)
        holder_process.join(timeout=30)


def _step(report: Path) -> None:
    """A step subprocess: arm once its run process is gone, report if still alive."""
    while os.getppid() == int(report.with_suffix(".run").read_text()):
        time.sleep(0.01)
    armed = die_with_run()
    report.write_text(json.dumps({"armed": armed}))


def _run(report: Path) -> None:
    """A run process: start the step, then die before the step arms."""
    report.with_suffix(".run").write_text(str(os.getpid()))
    step = FORK.Process(target=_step, args=(report,))
    step.start()
    report.with_suffix(".step").write_text(str(step.pid))
    os._exit(0)


def test_a_step_whose_run_died_before_it_armed_dies(tmp_path: Path) -> None:
    report = tmp_path / "step.json"
    run = FORK.Process(target=_run, args=(report,))
    run.start()
    step = int(wait_for(lambda: _read(report.with_suffix(".step")), 30, "the step's pid"))
    wait_for(lambda: gone(step), 30, "the step of a dead run to die")
    run.join(timeout=30)
    assert not report.exists(), f"the step outlived its run: {report.read_text()}"


def _read(path: Path) -> str | None:
    return path.read_text() if path.exists() and path.read_text() else None


def test_nothing_is_armed_in_a_run_process() -> None:
    """The test process, like a CLI run or a code server's run worker, is nobody's
    multiprocessing child: the step is the run, there is nothing to follow."""
    assert die_with_run() is False
