"""One training at a time from the first runs of a fresh instance (issue 11, item 5; issue 20).

On one machine the product's training lock (resnet_pipeline/training_lock.py) keeps trainings
apart; these tests race real `dagster asset materialize` processes, started at the same moment,
against a fresh instance prepared like the scripts prepare theirs.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from resnet_pipeline_tests._pool_processes import REPO, prepared_env, step_spans, training_command

TRIALS = 3


@pytest.mark.slow
@pytest.mark.parametrize("trial", range(TRIALS))
def test_two_cli_trainings_started_at_once_never_overlap(tmp_path: Path, trial: int) -> None:
    env = prepared_env(tmp_path)  # a fresh instance each trial: the first runs are the test
    args = training_command("", 1.5, "in_process")
    runs = [
        subprocess.Popen(args, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=300)[0].decode() for run in runs]
    for run, output in zip(runs, outputs, strict=True):
        assert run.returncode == 0, output[-3000:]
    first, second = step_spans(Path(env["POOL_PROBE_DIR"]))
    assert first[1] <= second[0], f"two trainings ran at once: {first} and {second}"
