"""Test-only definitions: a tiny stand-in for `trained_model` in the project's `trainer` pool.

The real training takes minutes; these tests only need a step that holds the pool slot for a
known time (or until it is killed) and records when its body ran, so runs can be checked for
overlap and a killed run's slot for release. `POOL_PROBE_DIR` names where the records go.
"""

import json
import os
import time
from pathlib import Path

import dagster as dg

TRAINER_POOL = "trainer"  # the pool of resnet_pipeline.assets.modeling.trained_model


class ProbeConfig(dg.Config):
    hold_seconds: float = 1.5  # how long the body holds the slot; a killed run never ends it


def _probe_dir() -> Path:
    path = Path(os.environ["POOL_PROBE_DIR"])
    path.mkdir(parents=True, exist_ok=True)
    return path


@dg.asset(pool=TRAINER_POOL)
def pool_probe(context: dg.AssetExecutionContext, config: ProbeConfig) -> None:
    """Write `<run_id>.start` (pid, time), hold the slot, write `<run_id>.end`."""
    probe = _probe_dir()
    start = {"pid": os.getpid(), "start": time.time()}
    (probe / f"{context.run_id}.start").write_text(json.dumps(start))
    time.sleep(config.hold_seconds)  # the stand-in for minutes of training
    (probe / f"{context.run_id}.end").write_text(json.dumps({**start, "end": time.time()}))


# In-process: the run worker is the step's process, so killing it is killing the training.
pool_probe_job = dg.define_asset_job(
    "pool_probe_job", selection=[pool_probe], executor_def=dg.in_process_executor
)

defs = dg.Definitions(assets=[pool_probe], jobs=[pool_probe_job])
