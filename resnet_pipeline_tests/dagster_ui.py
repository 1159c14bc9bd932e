"""Start the real Dagster UI (`dagster dev`: webserver + daemon) on 127.0.0.1 and talk GraphQL."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from resnet_pipeline_tests._processes import free_port, stop_group

REPO = Path(__file__).resolve().parents[1]
LOCATION = "resnet_pipeline"


class DagsterUI:
    def __init__(self, url: str) -> None:
        self.url = url

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        request = urllib.request.Request(
            f"{self.url}/graphql", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            payload = json.loads(response.read())
        if payload.get("errors"):
            raise AssertionError(f"GraphQL errors: {payload['errors']}")
        return payload["data"]


@contextmanager
def dagster_dev(
    dagster_home: Path, env: dict[str, str], timeout: float = 120
) -> Iterator[DagsterUI]:
    """`dagster dev` against workspace.yaml with the repo's dagster.yaml in a fresh home."""
    dagster_home.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "dagster.yaml", dagster_home / "dagster.yaml")
    port = free_port()
    command = [sys.executable, "-m", "dagster", "dev", "-w", "workspace.yaml"]
    command += ["-h", "127.0.0.1", "-p", str(port)]
    env = {**os.environ, **env, "DAGSTER_HOME": str(dagster_home)}
    with _serving(command, env, dagster_home, port, timeout) as ui:
        yield ui


@contextmanager
def webserver(dagster_home: Path, env: dict[str, str], timeout: float = 120) -> Iterator[DagsterUI]:
    """The webserver alone (no daemon: nothing runs in the background) on an instance a test
    has already filled, against workspace.yaml."""
    port = free_port()
    command = [sys.executable, "-m", "dagster_webserver", "-w", "workspace.yaml"]
    command += ["-h", "127.0.0.1", "-p", str(port)]
    env = {**os.environ, **env, "DAGSTER_HOME": str(dagster_home)}
    with _serving(command, env, dagster_home, port, timeout) as ui:
        yield ui


@contextmanager
def ui_script(dagster_home: Path, env: dict[str, str], timeout: float = 120) -> Iterator[DagsterUI]:
    """`bash scripts/ui.sh` as a user runs it, on 127.0.0.1 and a free port, in the test's
    environment less its RESNET_* variables: only those ``env`` sets reach the script."""
    port = free_port()
    kept = {key: value for key, value in os.environ.items() if not key.startswith("RESNET_")}
    env = {**kept, **env, "DAGSTER_HOME": str(dagster_home), "HOST": "127.0.0.1"}
    env["PORT"] = str(port)
    with _serving(["bash", "scripts/ui.sh"], env, dagster_home, port, timeout) as ui:
        yield ui


@contextmanager
def _serving(
    command: list[str], env: dict[str, str], dagster_home: Path, port: int, timeout: float
) -> Iterator[DagsterUI]:
    """Start ``command`` (a webserver on 127.0.0.1:``port``) in its own process group, wait for
    it to answer, and stop the whole group afterwards."""
    dagster_home.mkdir(parents=True, exist_ok=True)
    log_path = dagster_home / "dagster_dev.log"
    log = open(log_path, "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        command,
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{' '.join(command)} exited: {log_path.read_text()}")
            try:
                with urllib.request.urlopen(f"{url}/server_info", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{' '.join(command)} did not answer within the timeout")
            time.sleep(0.5)
        yield DagsterUI(url)
    finally:
        stop_group(proc)
        log.close()
