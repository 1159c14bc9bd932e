"""A killed training never blocks the next one, a waiting one sleeps and stops when told, and a
killed run's steps, trainings or not, never write again (issue 21, items 1 and 2; issue 30.6).

Real `dagster asset materialize` processes (no daemon) on a fresh instance prepared like the
scripts prepare theirs, training the stand-in of _trainer_pool_defs under the product's lock.
Runs are killed the ways users and machines kill them: SIGKILL of an in-process run, of a
multiprocess run's parent alone, of a run's whole process group. The daemon and UI-launched
runs: test_run_monitoring.py.
"""

from __future__ import annotations

import json
import os
import signal
import time
from contextlib import ExitStack
from pathlib import Path

import dagster as dg
import pytest

from resnet_pipeline_tests._pool_processes import (
    BIN,
    EXECUTION,
    background,
    gone,
    group_cpu_seconds,
    prepared_env,
    record,
    says,
    training_command,
)
from resnet_pipeline_tests._processes import wait_for

pytestmark = pytest.mark.slow

# docs/operations.md: a waiting training takes the lock within this long after its holder dies.
RECOVERY_SECONDS = 30
START_SECONDS = 180  # a `dagster asset materialize` process getting to its step, on a busy CI
WAITING = "to finish training"  # what a run waiting for the lock says in its log
IDLE_SECONDS = 3.0
WRITER_MODULE = "resnet_pipeline_tests._step_writer_defs"  # a step that is not a training


def _killed(proc, sig: int = signal.SIGKILL, group: bool = False) -> None:
    """Signal the run (or its whole process group) and wait until it has exited."""
    (os.killpg if group else os.kill)(proc.pid, sig)
    proc.wait(timeout=RECOVERY_SECONDS)


# The chain of trainings: each is killed while it trains, the next (already waiting for the
# lock) must take over. "parent": SIGKILL of the run process alone (for a multiprocess run its
# step is a subprocess, which must die with it); "group": of the run's whole process group.
KILLS = [
    ("in_process", "parent"),  # kill -9 of the documented CLI run: the training itself
    ("spawn", "group"),
    ("spawn", "parent"),  # Dagster's default multiprocess executor
    ("forkserver", "parent"),
]


def _kill(run, how: str, step: int, state: Path) -> None:
    if how == "group" or step == run.pid:
        _killed(run, group=how == "group")
        return
    # The run process alone: its step dies with it and leaves its state (rewritten every 0.1 s
    # while it trains) as it was at the run's death.
    wait_for(
        lambda: state.exists() and '"epoch": 3' in state.read_text(), START_SECONDS, "a few epochs"
    )
    _killed(run)  # the run process is gone (reaped) from here on
    at_death = (state.read_bytes(), state.stat().st_mtime_ns)
    wait_for(lambda: gone(step), RECOVERY_SECONDS, "the killed run's step to die")
    time.sleep(IDLE_SECONDS)  # long enough for 30 more epochs of a step still alive
    assert (state.read_bytes(), state.stat().st_mtime_ns) == at_death, "a dead run's step wrote"


def test_a_killed_training_never_blocks_the_next(tmp_path: Path) -> None:
    env = prepared_env(tmp_path)
    probe = Path(env["POOL_PROBE_DIR"])
    chain = [(f"{i}-{execution}-{how}", execution, how) for i, (execution, how) in enumerate(KILLS)]
    with ExitStack() as stack:

        def start(name: str, execution: str, hold_seconds: float):
            log = tmp_path / f"{name}.log"
            command = training_command(name, hold_seconds, execution)
            return stack.enter_context(background(command, env, log)), log

        training, _ = start(chain[0][0], chain[0][1], 600)
        wait_for(lambda: record(probe, chain[0][0]), START_SECONDS, "the first training")
        for (name, _, how), (after, execution, _) in zip(
            chain, [*chain[1:], ("final", "spawn", "")], strict=True
        ):
            following, log = start(after, execution, 0.3 if after == "final" else 600)
            wait_for(lambda g=log: says(g, WAITING), START_SECONDS, f"{after} to wait its turn")
            _kill(training, how, record(probe, name)["pid"], probe / f"{name}.state")
            wait_for(lambda a=after: record(probe, a), RECOVERY_SECONDS, f"{after} to take over")
            assert says(log, "was killed while it held the training lock")
            training = following
        assert training.wait(timeout=START_SECONDS) == 0, log.read_text()[-3000:]
    assert record(probe, "final", "end")
    assert not any(record(probe, name, "end") for name, _, _ in chain)


def test_a_waiting_training_sleeps_and_ends_on_sigterm_and_ctrl_c(tmp_path: Path) -> None:
    env = prepared_env(tmp_path)
    probe = Path(env["POOL_PROBE_DIR"])
    logs = {name: tmp_path / f"{name}.log" for name in ("holder", "term", "ctrl_c")}
    with background(training_command("holder", 600, "in_process"), env, logs["holder"]):
        wait_for(lambda: record(probe, "holder"), START_SECONDS, "the holder to train")
        with (
            background(training_command("term", 600, "in_process"), env, logs["term"]) as term,
            background(training_command("ctrl_c", 600, "spawn"), env, logs["ctrl_c"]) as ctrl_c,
        ):
            for name in ("term", "ctrl_c"):
                wait_for(lambda n=name: says(logs[n], WAITING), START_SECONDS, f"{name} to wait")
            before = {p.pid: group_cpu_seconds(p.pid) for p in (term, ctrl_c)}
            time.sleep(IDLE_SECONDS)
            used = {pid: group_cpu_seconds(pid) - cpu for pid, cpu in before.items()}
            assert all(cpu < 0.1 * IDLE_SECONDS for cpu in used.values()), f"busy waiting: {used}"

            _killed(term, signal.SIGTERM)  # `kill PID`
            _killed(ctrl_c, signal.SIGINT, group=True)  # Ctrl-C: the terminal signals the group
            assert term.returncode != 0 and ctrl_c.returncode != 0
            assert record(probe, "holder") and not record(probe, "term")
            assert not record(probe, "ctrl_c")
            with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
                statuses = sorted(run.status.value for run in instance.get_runs())
            assert statuses == ["FAILURE", "FAILURE", "STARTED"], "the waiters' runs did not end"


@pytest.mark.parametrize("execution", ["spawn", "forkserver"])
def test_a_killed_run_s_other_steps_stop_with_it(tmp_path: Path, execution: str) -> None:
    """Not only trainings: a step that only uses the `store` resource, as `wf_predictions` and
    the reports do, dies with its run process and writes nothing after it."""
    env = prepared_env(tmp_path)
    probe = Path(env["POOL_PROBE_DIR"])
    config = {
        "ops": {"store_writer": {"config": {"hold_seconds": 600, "label": "writer"}}},
        "execution": {"config": EXECUTION[execution]},
    }
    command = [
        str(BIN / "dagster"), "asset", "materialize", "-m", WRITER_MODULE,
        "--select", "store_writer", "--config-json", json.dumps(config),
    ]  # fmt: skip
    with background(command, env, tmp_path / "writer.log") as run:
        step = wait_for(lambda: record(probe, "writer"), START_SECONDS, "the writer step")["pid"]
        assert step != run.pid, "the step should run in a subprocess of the run"
        _kill(run, "parent", step, probe / "writer.state")
    assert not record(probe, "writer", "end")
