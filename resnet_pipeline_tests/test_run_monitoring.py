"""A training killed with SIGKILL does not hold the `trainer` pool forever (issue 11, item 2).

Real processes on a fresh instance with the project's dagster.yaml: `dagster-daemon run` (as
`dagster dev` runs it), runs submitted with `dagster job launch` like a UI launch, and the
stand-in asset of _trainer_pool_defs in the project's `trainer` pool.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import uuid
from pathlib import Path

import dagster as dg
import pytest

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
    """The settings the recovery depends on are the instance's, read by Dagster itself."""
    home = Path(prepared_env(tmp_path)["DAGSTER_HOME"])
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert instance.run_monitoring_enabled
        settings = instance.run_monitoring_settings
        assert settings["max_resume_run_attempts"] == 0
        assert 0 < settings["free_slots_after_run_end_seconds"] <= 60
        assert 0 < settings["poll_interval_seconds"] <= 30
        assert instance.event_log_storage.get_concurrency_info("trainer").slot_count == 1


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


def _serving(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


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


def test_killed_training_frees_the_trainer_slot_for_the_next_run(tmp_path: Path) -> None:
    env = prepared_env(tmp_path)
    home, probe = Path(env["DAGSTER_HOME"]), Path(env["POOL_PROBE_DIR"])
    killed, next_run = str(uuid.uuid4()), str(uuid.uuid4())
    server, workspace = _code_server(tmp_path)
    daemon = [str(BIN / "dagster-daemon"), "run", "-w", str(workspace)]
    log = tmp_path / "daemon.log"
    with (
        background(server, env, tmp_path / "server.log"),
        background(daemon, env, log),
        dg.DagsterInstance.from_config(str(home)) as instance,
    ):
        wait_for(lambda: _serving(int(server[-1])), timeout=60, what="the code server")
        _launch(env, workspace, killed, hold_seconds=600)  # only the kill ends it
        _launch(env, workspace, next_run, hold_seconds=0.2)  # queued behind it, as from the UI
        start = wait_for(
            lambda: (probe / f"{killed}.start").exists() and (probe / f"{killed}.start"),
            timeout=90,
            what=f"the first run's step to start (log: {log})",
        )
        claimed = instance.event_log_storage.get_concurrency_info("trainer").claimed_slots
        assert [slot.run_id for slot in claimed] == [killed]
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
        info = instance.event_log_storage.get_concurrency_info("trainer")
        assert info.claimed_slots == [] and info.pending_steps == []
