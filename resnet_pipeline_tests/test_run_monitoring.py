"""A training launched from the UI and killed with SIGKILL does not block the next one, and a
UI run does not die with its code server (issue 11, item 2; issue 21).

Real processes on a fresh instance with the project's dagster.yaml: `dagster-daemon run` (as
`dagster dev` runs it), a code server, runs submitted with `dagster job launch` like a UI
launch, and the stand-in training of _trainer_pool_defs under the product's training lock.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import uuid
from contextlib import ExitStack
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.errors import DagsterUserCodeUnreachableError
from dagster._grpc.client import DagsterGrpcClient

from resnet_pipeline.training_lock import holder, lock_file
from resnet_pipeline_tests._pool_processes import (
    BIN,
    DEFS_MODULE,
    REPO,
    background,
    prepared_env,
    probe_config,
)
from resnet_pipeline_tests._processes import free_port, wait_for

pytestmark = pytest.mark.slow


def test_project_instance_config_enables_run_monitoring(tmp_path: Path) -> None:
    """The settings the recovery depends on are the instance's, read by Dagster itself: run
    monitoring on, and no limit a dead "Started" run could hold (no `trainer` pool limit)."""
    home = Path(prepared_env(tmp_path)["DAGSTER_HOME"])
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert instance.run_monitoring_enabled
        settings = instance.run_monitoring_settings
        assert settings["max_resume_run_attempts"] == 0
        assert 0 < settings["poll_interval_seconds"] <= 30
        assert instance.get_concurrency_config().pool_config.default_pool_limit is None
        assert instance.event_log_storage.get_concurrency_info("trainer").slot_count == 0


def _code_server(tmp_path: Path) -> tuple[list[str], Path]:
    """`dagster api grpc` serving the stand-in, and a workspace that points at it.

    Runs it launches are its subprocesses: when one dies, the server marks the run failed.
    """
    port = free_port()
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(
        f"load_from:\n  - grpc_server:\n      host: 127.0.0.1\n      port: {port}\n"
        f"      location_name: pool_probe\n"
    )
    args = [str(BIN / "dagster"), "api", "grpc", "-m", DEFS_MODULE, "-h", "127.0.0.1"]
    return [*args, "-p", str(port)], workspace


def _answers(port: int) -> bool:
    """The code server answers a gRPC ping, as Dagster's own wait for a server it starts
    (``wait_for_grpc_server``) checks: its definitions are loaded and its API serves. An open
    port is not enough, and a daemon that asks too early marks the location failed and asks
    again only a minute later (``RELOAD_WORKSPACE_INTERVAL``)."""
    try:
        DagsterGrpcClient(port=port, host="127.0.0.1").ping("ready")
    except DagsterUserCodeUnreachableError:
        return False
    return True


def _launch(env: dict[str, str], workspace: Path, run_id: str, hold_seconds: float) -> None:
    """`dagster job launch`: the run is queued and the daemon launches it (as from the UI)."""
    subprocess.run(
        [
            str(BIN / "dagster"),
            "job",
            "launch",
            "-w",
            str(workspace),
            "-j",
            "pool_probe_job",
            "--run-id",
            run_id,
            "--config-json",
            probe_config(hold_seconds),
        ],
        env=env,
        cwd=REPO,
        check=True,
        capture_output=True,
        timeout=120,
    )


def test_a_killed_ui_training_does_not_block_the_next_run(tmp_path: Path) -> None:
    env = prepared_env(tmp_path)
    home, probe = Path(env["DAGSTER_HOME"]), Path(env["POOL_PROBE_DIR"])
    killed, next_run, survivor = (str(uuid.uuid4()) for _ in range(3))
    server, workspace = _code_server(tmp_path)
    daemon = [str(BIN / "dagster-daemon"), "run", "-w", str(workspace)]
    log = tmp_path / "daemon.log"
    with ExitStack() as stack:
        code_server = stack.enter_context(background(server, env, tmp_path / "server.log"))
        # The daemon starts once the code server answers: it loads the workspace at start.
        wait_for(lambda: _answers(int(server[-1])), timeout=60, what="the code server")
        stack.enter_context(background(daemon, env, log))
        instance = stack.enter_context(dg.DagsterInstance.from_config(str(home)))
        lock = lock_file(instance)
        _launch(env, workspace, killed, hold_seconds=600)  # only the kill ends it
        _launch(env, workspace, next_run, hold_seconds=0.2)  # queued behind it, as from the UI
        start = wait_for(
            lambda: (probe / f"{killed}.start").exists() and (probe / f"{killed}.start"),
            timeout=90,
            what=f"the first run's step to start (log: {log})",
        )
        assert holder(lock)["run_id"] == killed
        assert not (probe / f"{next_run}.start").exists()

        os.kill(json.loads(start.read_text())["pid"], signal.SIGKILL)

        def status(run_id: str) -> dg.DagsterRunStatus:
            return instance.get_run_by_id(run_id).status

        wait_for(
            lambda: status(killed) == dg.DagsterRunStatus.FAILURE,
            timeout=30,
            what="the killed run to be marked failed",
        )
        wait_for(
            lambda: status(next_run) in (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE),
            timeout=90,
            what=f"the next run to finish (log: {log})",
        )
        assert status(next_run) == dg.DagsterRunStatus.SUCCESS
        assert (probe / f"{next_run}.end").exists()
        assert holder(lock) == {}, "the next run did not release the lock"

        # The code server killed under a training: the run (its multiprocessing child) is not
        # bound to it, trains on and reports its own success.
        _launch(env, workspace, survivor, hold_seconds=3)
        wait_for(lambda: (probe / f"{survivor}.start").exists(), 90, "the survivor to train")
        os.kill(code_server.pid, signal.SIGKILL)
        wait_for(
            lambda: status(survivor) in (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE),
            timeout=90,
            what="the survivor to finish",
        )
        assert status(survivor) == dg.DagsterRunStatus.SUCCESS
        assert (probe / f"{survivor}.end").exists()
