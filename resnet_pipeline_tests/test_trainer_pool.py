"""The `trainer` pool's limit of 1 holds from the first runs of a fresh instance (issue 11, item 5).

Dagster's own SQLite claim is a check then a write; two processes claiming at the same moment
both got the one slot. The project's instance class (dagster.yaml `instance_class`) makes the
claim atomic; these tests race real processes against a fresh instance prepared like the
scripts prepare theirs.
"""

from __future__ import annotations

import json
import multiprocessing
import subprocess
from pathlib import Path

import dagster as dg
import pytest

from resnet_pipeline.dagster_instance import PoolLockedSqliteEventLogStorage
from resnet_pipeline_tests._pool_processes import (
    BIN,
    DEFS_MODULE,
    REPO,
    prepared_env,
    probe_config,
    step_spans,
)

CLAIMERS = 6
ROUNDS = 5


def _claim_at_once(home: str, index: int, barrier, results) -> None:
    """In a child process: open the instance, wait for the others, claim the trainer slot."""
    with dg.DagsterInstance.from_config(home) as instance:
        storage = instance.event_log_storage
        for round_ in range(ROUNDS):
            barrier.wait()
            status = storage.claim_concurrency_slot("trainer", f"run-{round_}-{index}", "train")
            results.put((round_, index, status.is_claimed))
            barrier.wait()  # every claim of this round is made before the slot is freed
            if status.is_claimed:
                storage.free_concurrency_slots_for_run(f"run-{round_}-{index}")
            else:  # leave no pending step behind for the next round
                storage.free_concurrency_slot_for_step(f"run-{round_}-{index}", "train")
            barrier.wait()


def test_simultaneous_claims_get_one_slot(tmp_path: Path) -> None:
    home = prepared_env(tmp_path)["DAGSTER_HOME"]
    with dg.DagsterInstance.from_config(home) as instance:
        assert isinstance(instance.event_log_storage, PoolLockedSqliteEventLogStorage)
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(CLAIMERS), context.Queue()
    workers = [
        context.Process(target=_claim_at_once, args=(home, i, barrier, results))
        for i in range(CLAIMERS)
    ]
    for worker in workers:
        worker.start()
    claims = [results.get(timeout=120) for _ in range(CLAIMERS * ROUNDS)]
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    for round_ in range(ROUNDS):
        winners = [i for r, i, claimed in claims if r == round_ and claimed]
        assert len(winners) == 1, f"round {round_}: {len(winners)} runs hold the one slot"


TRIALS = 3


@pytest.mark.slow
@pytest.mark.parametrize("trial", range(TRIALS))
def test_two_cli_trainings_started_at_once_never_overlap(tmp_path: Path, trial: int) -> None:
    env = prepared_env(tmp_path)  # a fresh instance each trial: the first runs are the test
    args = [
        str(BIN / "dagster"),
        "asset",
        "materialize",
        "-m",
        DEFS_MODULE,
        "--select",
        "pool_probe",
        "--config-json",
        json.dumps({**json.loads(probe_config(1.5)), "execution": {"config": {"in_process": {}}}}),
    ]
    runs = [
        subprocess.Popen(args, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=300)[0].decode() for run in runs]
    for run, output in zip(runs, outputs, strict=True):
        assert run.returncode == 0, output[-3000:]
    first, second = step_spans(Path(env["POOL_PROBE_DIR"]))
    assert first[1] <= second[0], f"two trainings ran at once: {first} and {second}"
