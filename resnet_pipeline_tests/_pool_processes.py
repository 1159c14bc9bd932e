"""Real Dagster processes around a fresh instance for the `trainer` pool tests.

The instance is prepared as scripts/demo.sh and scripts/ui.sh prepare theirs (the project's
dagster.yaml, scripts/init_dagster_home.sh); the asset is the stand-in in _trainer_pool_defs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from resnet_pipeline_tests._processes import stop_group

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DEFS_MODULE = "resnet_pipeline_tests._trainer_pool_defs"


def prepared_env(tmp_path: Path) -> dict[str, str]:
    """A fresh DAGSTER_HOME initialised by the scripts' own step, and a probe directory."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RESNET_", "BYBIT_"))}
    env.update(
        DAGSTER_HOME=str(tmp_path / "dagster_home"),
        POOL_PROBE_DIR=str(tmp_path / "probe"),
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
    )
    subprocess.run(
        ["bash", str(REPO / "scripts" / "init_dagster_home.sh")],
        env=env,
        cwd=REPO,
        check=True,
        capture_output=True,
        timeout=120,
    )
    return env


def probe_config(hold_seconds: float) -> str:
    return json.dumps({"ops": {"pool_probe": {"config": {"hold_seconds": hold_seconds}}}})


def step_spans(probe_dir: Path) -> list[tuple[float, float]]:
    """(start, end) of every step body that finished, sorted by start."""
    spans = []
    for path in probe_dir.glob("*.end"):
        record = json.loads(path.read_text())
        spans.append((record["start"], record["end"]))
    return sorted(spans)


@contextmanager
def background(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    """A process (own session) that is stopped with its children on exit."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            args, env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            yield proc
        finally:
            stop_group(proc)
