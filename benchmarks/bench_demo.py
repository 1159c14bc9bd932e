"""The demo end to end (``python -m resnet_pipeline.cli.demo``) in a fresh instance and data root.

Prints wall time, peak memory, and the share of the wall time spent outside asset compute
(Dagster start-up, run and step overhead): 1 - (sum of step durations) / wall time.

    python benchmarks/bench_demo.py [demo options, e.g. --months 3 --epochs 3]
"""

from __future__ import annotations

import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="bench_demo_"))
    (work / "home").mkdir()
    shutil.copy(REPO / "dagster.yaml", work / "home" / "dagster.yaml")
    os.environ.update(
        DAGSTER_HOME=str(work / "home"),
        RESNET_DATA_DIR=str(work / "data"),
        RESNET_SOURCE="synthetic",
    )
    started = time.perf_counter()
    import dagster as dg  # noqa: PLC0415 - after the environment is set

    from resnet_pipeline.cli.demo import main as demo  # noqa: PLC0415

    demo(sys.argv[1:])
    wall = time.perf_counter() - started
    instance = dg.DagsterInstance.get()
    runs = instance.get_runs()
    step_seconds = 0.0
    for run in runs:
        for record in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_SUCCESS):
            step_seconds += record.dagster_event.event_specific_data.duration_ms / 1000
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("\n== bench_demo ==")
    print(f"runs: {len(runs)}, wall time {wall:.1f} s (target < 600 s after installation)")
    print(f"peak memory: {peak:.0f} MB")
    print(
        f"asset compute (sum of step durations): {step_seconds:.1f} s; outside it "
        f"(start-up, run and step overhead): {wall - step_seconds:.1f} s = "
        f"{(wall - step_seconds) / wall:.1%} of the wall time"
    )
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
