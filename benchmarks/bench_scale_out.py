"""Backfill 2 symbols x 6 months of ingestion (raw_candles, then features and labels) on Celery
workers with Postgres instance storage and S3 (moto) storage, with 1 and then 2 workers.

The deployment is the one resnet_pipeline_tests/test_scale_out.py runs (real PostgreSQL, Redis
and moto servers on 127.0.0.1, deploy/postgres-celery/dagster.yaml, RESNET_EXECUTOR=celery);
each partition is one ``dagster asset materialize`` run, ``--runs`` of them at a time. Prints
wall time per phase and splits the summed run-process time with Postgres' runs table and event
log: CLI start-up/exit (process time outside the run's start..end), Dagster/Celery orchestration
inside the run (task hand-off, polling, event writes: the run span less its steps) and step
compute (STEP_START..STEP_SUCCESS: the asset body and its IO, which steps of one run may
overlap).
Needs the scale extra and the servers: RESNET_SCALE=1 bash scripts/setup.sh.

    python benchmarks/bench_scale_out.py [--workers 1 2] [--runs 4] [--months 6]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import subprocess  # noqa: E402

from resnet_pipeline_tests._servers import Cluster, Servers  # noqa: E402

SYMBOLS = ("BTCUSDT", "ETHUSDT")
PHASES = (("raw_candles", "raw_candles"), ("features+labels", "features,labels"))


def _partitions(months: int) -> list[str]:
    return [f"2024-{m:02d}-01|{s}" for s in SYMBOLS for m in range(1, months + 1)]


def _spans(servers: Servers, run_ids: list[str], start: str, end: str) -> tuple[float, int]:
    """Summed ``start`` -> ``end`` event seconds per (run, step) of these runs, and the count."""
    rows = servers.postgres.query(
        "select run_id, coalesce(step_key, ''), dagster_event_type, timestamp from event_logs "
        "where run_id = any(%s) and dagster_event_type in (%s, %s)",
        run_ids,
        start,
        end,
    )
    spans: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
    for run_id, step, kind, when in rows:
        spans[(run_id, step)][kind] = when.timestamp()
    done = [s for s in spans.values() if start in s and end in s]
    return sum(s[end] - s[start] for s in done), len(done)


def _backfill(cluster: Cluster, select: str, partitions: list[str], runs: int) -> float:
    """Run every partition (``runs`` CLI processes at a time); the summed process seconds."""
    env, cwd = cluster.env("runner"), cluster.workdir("runner")

    def one(partition: str) -> float:
        started = time.perf_counter()
        done = subprocess.run(
            cluster.materialize_cmd(partition, select),
            env=env, cwd=cwd, capture_output=True, text=True, timeout=1800,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"{partition} {select} failed:\n{done.stderr[-3000:]}")
        return time.perf_counter() - started

    with ThreadPoolExecutor(max_workers=runs) as pool:
        return sum(pool.map(one, partitions))


def bench(servers: Servers, workers: int, runs: int, months: int) -> None:
    cluster = Cluster(
        servers=servers,
        root=Path(tempfile.mkdtemp(prefix=f"bench-scale-{workers}-")),
        data_url=f"s3://{servers.s3.bucket}/bench-{workers}-workers",
        broker_db=workers,
        symbols=",".join(SYMBOLS),
    )
    try:
        started = time.perf_counter()
        for i in range(workers):
            cluster.start_worker(f"bench{workers}-{i}")
        cluster.wait_workers_ready()
        print(f"{workers} worker(s) ready in {time.perf_counter() - started:.1f} s")
        totals = defaultdict(float)
        for name, select in PHASES:
            before = {r for (r,) in servers.postgres.query("select run_id from runs")}
            started = time.perf_counter()
            process = _backfill(cluster, select, _partitions(months), runs)
            wall = time.perf_counter() - started
            new = [r for (r,) in servers.postgres.query("select run_id from runs")]
            new = [r for r in new if r not in before]
            ((in_run,),) = servers.postgres.query(
                "select coalesce(sum(end_time - start_time), 0) from runs where run_id = any(%s)",
                new,
            )
            compute, steps = _spans(servers, new, "STEP_START", "STEP_SUCCESS")
            for key, value in (("wall", wall), ("process", process), ("run", in_run)):
                totals[key] += value
            totals["compute"] += compute
            _report(f"{name} ({len(new)} runs, {steps} steps)", wall, process, in_run, compute)
        _report("total", totals["wall"], totals["process"], totals["run"], totals["compute"])
    finally:
        cluster.stop()


def _report(what: str, wall: float, process: float, in_run: float, compute: float) -> None:
    """Run-process seconds split into start-up/exit, in-run orchestration and step compute."""
    print(
        f"  {what}: wall {wall:.1f} s; of {process:.1f} run-process s: "
        f"CLI start/exit {(process - in_run) / process:.0%}, "
        f"Dagster/Celery orchestration in the run {(in_run - compute) / process:.0%}, "
        f"step compute {compute / process:.0%} ({compute:.1f} s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--runs", type=int, default=4, help="run processes at a time")
    parser.add_argument("--months", type=int, default=6, help="months per symbol (from 2024-01)")
    args = parser.parse_args()
    servers = Servers.start()
    try:
        for workers in args.workers:
            bench(servers, workers, args.runs, args.months)
    finally:
        servers.stop()


if __name__ == "__main__":
    main()
