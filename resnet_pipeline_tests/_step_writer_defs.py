"""Test-only definitions: a stand-in for a step that is not a training (``wf_predictions``, a
report), guarded by nothing but the product's ``store`` resource, as those steps are.

It writes ``<label>.start`` (run id, pid, time) into ``POOL_PROBE_DIR``, then rewrites
``<label>.state`` every ``EPOCH_SECONDS`` for ``hold_seconds``, then writes ``<label>.end``: a
step of a killed run that kept running would keep rewriting its state."""

import json
import os
import time
from pathlib import Path

import dagster as dg

from resnet_pipeline.resources.io_manager import DataStore

EPOCH_SECONDS = 0.1


class WriterConfig(dg.Config):
    hold_seconds: float = 1.5
    label: str = "writer"


@dg.asset
def store_writer(context: dg.AssetExecutionContext, config: WriterConfig, store: DataStore) -> None:
    probe = Path(os.environ["POOL_PROBE_DIR"])
    probe.mkdir(parents=True, exist_ok=True)
    start = {"run_id": context.run_id, "pid": os.getpid(), "start": time.time()}
    (probe / f"{config.label}.start").write_text(json.dumps(start))
    epoch, end = 0, time.time() + config.hold_seconds
    while time.time() < end:
        epoch += 1
        (probe / f"{config.label}.state").write_text(json.dumps({"epoch": epoch}))
        time.sleep(EPOCH_SECONDS)
    (probe / f"{config.label}.end").write_text(json.dumps({**start, "end": time.time()}))


defs = dg.Definitions(
    assets=[store_writer],
    resources={"store": DataStore(root=str(Path(os.environ["POOL_PROBE_DIR"]) / "data"))},
)
