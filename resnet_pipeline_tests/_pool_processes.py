"""Real Dagster processes around a fresh instance for the one-training-at-a-time tests.

The instance is prepared as scripts/demo.sh and scripts/ui.sh prepare theirs (the project's
dagster.yaml, scripts/init_dagster_home.sh); the asset is the stand-in in _trainer_pool_defs,
which trains under the product's training lock.
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


# Run config of each way a CLI run executes its steps: in the run process, or in subprocesses
# started by Dagster's multiprocess executor (spawn, its default, or a forkserver).
EXECUTION = {
    "in_process": {"in_process": {}},
    "spawn": {"multiprocess": {"start_method": {"spawn": {}}}},
    "forkserver": {"multiprocess": {"start_method": {"forkserver": {}}}},
}


def probe_config(hold_seconds: float, label: str = "") -> str:
    config = {"hold_seconds": hold_seconds, "label": label}
    return json.dumps({"ops": {"pool_probe": {"config": config}}})


def training_command(label: str, hold_seconds: float, execution: str) -> list[str]:
    """`dagster asset materialize` of the stand-in training, its records named ``label``."""
    config = json.loads(probe_config(hold_seconds, label))
    config["execution"] = {"config": EXECUTION[execution]}
    return [
        str(BIN / "dagster"),
        "asset",
        "materialize",
        "-m",
        DEFS_MODULE,
        "--select",
        "pool_probe",
        "--config-json",
        json.dumps(config),
    ]


def record(probe_dir: Path, name: str, kind: str = "start") -> dict | None:
    """The stand-in's `<name>.<kind>` record (run_id, pid, start[, end]), None until written."""
    path = probe_dir / f"{name}.{kind}"
    return json.loads(path.read_text()) if path.exists() else None


def says(log: Path, text: str) -> bool:
    return log.exists() and text in log.read_text(errors="replace")


def step_spans(probe_dir: Path) -> list[tuple[float, float]]:
    """(start, end) of every step body that finished, sorted by start."""
    spans = []
    for path in probe_dir.glob("*.end"):
        record = json.loads(path.read_text())
        spans.append((record["start"], record["end"]))
    return sorted(spans)


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (state first), None when gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2 :].split()


def gone(pid: int) -> bool:
    """The process has exited (a zombie not yet reaped counts as gone)."""
    fields = _stat(pid)
    return fields is None or fields[0] in ("Z", "X")


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU time of the live processes of one process group."""
    ticks = 0
    for entry in Path("/proc").iterdir():
        fields = _stat(int(entry.name)) if entry.name.isdigit() else None
        if fields and int(fields[2]) == pgid:  # after state: ppid, pgrp
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


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
