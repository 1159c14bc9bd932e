"""Test-only definitions: a tiny stand-in for `trained_model`, guarded exactly as it is.

The real training takes minutes; these tests need a step that holds the product's training lock
(`one_training_at_a_time`, in the `trainer` pool) for a known time or until it is killed,
writes an artifact while it "trains", and records when its body ran, so runs can be checked for
overlap and killed runs for what they leave behind. `POOL_PROBE_DIR` names where records go.
"""

import json
import os
import time
from pathlib import Path

import dagster as dg

from resnet_pipeline.training_lock import TRAINER_POOL, one_training_at_a_time

EPOCH_SECONDS = 0.1


class ProbeConfig(dg.Config):
    hold_seconds: float = 1.5  # how long the body trains; a killed run never ends it
    label: str = ""  # names the records (default: the run id)


def _probe_dir() -> Path:
    path = Path(os.environ["POOL_PROBE_DIR"])
    path.mkdir(parents=True, exist_ok=True)
    return path


def _train(artifact: Path, hold_seconds: float) -> None:
    """Rewrite ``artifact`` every epoch (as training rewrites its state) for ``hold_seconds``."""
    epoch, end = 0, time.time() + hold_seconds
    while time.time() < end:
        epoch += 1
        artifact.write_text(json.dumps({"epoch": epoch, "at": time.time()}))
        time.sleep(EPOCH_SECONDS)


@dg.asset(pool=TRAINER_POOL)
def pool_probe(context: dg.AssetExecutionContext, config: ProbeConfig) -> None:
    """Under the training lock: write `<name>.start` (run id, pid, time), rewrite `<name>.state`
    while training, write `<name>.end`; `<name>` is the label or the run id."""
    probe, name = _probe_dir(), config.label or context.run_id
    with one_training_at_a_time(context):
        start = {"run_id": context.run_id, "pid": os.getpid(), "start": time.time()}
        (probe / f"{name}.start").write_text(json.dumps(start))
        _train(probe / f"{name}.state", config.hold_seconds)
        (probe / f"{name}.end").write_text(json.dumps({**start, "end": time.time()}))


# In-process: the run worker is the step's process, so killing it is killing the training.
pool_probe_job = dg.define_asset_job(
    "pool_probe_job", selection=[pool_probe], executor_def=dg.in_process_executor
)

defs = dg.Definitions(assets=[pool_probe], jobs=[pool_probe_job])
