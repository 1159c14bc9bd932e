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
    log = open(dagster_home / "dagster_dev.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dagster",
            "dev",
            "-w",
            "workspace.yaml",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        cwd=REPO,
        env={**os.environ, **env, "DAGSTER_HOME": str(dagster_home)},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"dagster dev exited: {(dagster_home / 'dagster_dev.log').read_text()}"
                )
            try:
                with urllib.request.urlopen(f"{url}/server_info", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("dagster dev did not answer within the timeout")
            time.sleep(0.5)
        yield DagsterUI(url)
    finally:
        stop_group(proc)
        log.close()
