"""Backfill 2 symbols x 6 months of ingestion (raw_candles, then features and labels) on Celery
workers with Postgres instance storage and S3 (moto) storage, with 1 and then 2 workers.

The deployment is the one resnet_pipeline_tests/test_scale_out.py runs: real PostgreSQL, Redis
and moto servers on 127.0.0.1, deploy/postgres-celery/dagster.yaml, RESNET_EXECUTOR=celery,
each worker ``dagster-celery worker start ... --concurrency=1``. Each partition is one
``dagster asset materialize`` run, ``--runs`` of them at a time (as the daemon would launch a
backfill under dagster.yaml's ``max_concurrent_runs: 4``); raw_candles of every partition first,
because labels of a month read the next month's first candles.

Where the time goes, from the events each run wrote to Postgres (timestamps of this machine's
clock), summed over runs, as shares of the run processes' time; a second counts once, in the
first of these that covers it:
- step compute: STEP_START..STEP_SUCCESS in a worker (the asset body and its S3 reads/writes);
- worker step set-up: the task picked up ("Executing steps ... in celery worker") until
  STEP_START (instance from Postgres, execution plan, resources);
- queued for a worker: the step submitted to Celery until a worker picks it up (a busy worker
  or the broker's hand-off);
- CLI start-up: the process started until the run's first event (imports, loading the code,
  planning); CLI exit: the run's last event until the process ended;
- in-run orchestration: the rest (run events, polling Celery for results, waiting for steps
  upstream).
Dagster/Celery overhead is everything but step compute; ``workers busy`` is the workers' share
of wall time spent in step compute.
``--exchange-latency-ms N`` fetches the candles over HTTP instead (ccxt against the repo's
Bybit-compatible test server on 127.0.0.1, each kline request answered after N ms, as a round
trip to the real exchange would be): raw_candles then waits on the network, the case where
more workers pay even on one small machine.
Needs the scale extra and the servers: bash scripts/test.sh installs both.

    python benchmarks/bench_scale_out.py [--workers 1 2] [--runs 4] [--months 6]
                                         [--exchange-latency-ms 150]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from resnet_pipeline_tests._servers import Cluster, Servers  # noqa: E402
from resnet_pipeline_tests.fake_bybit import FakeBybit  # noqa: E402

SYMBOLS = ("BTCUSDT", "ETHUSDT")
PHASES = (("raw_candles", "raw_candles"), ("features+labels", "features,labels"))
Interval = tuple[float, float]


def _partitions(months: int) -> list[str]:
    if not 1 <= months <= 12:
        raise SystemExit(f"--months {months}: give 1..12 (months of 2024, from January)")
    return [f"2024-{m:02d}-01|{s}" for s in SYMBOLS for m in range(1, months + 1)]


class DistantBybit(FakeBybit):
    """The test server, each kline request answered after a fixed network round trip."""

    def __init__(self, latency_s: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.latency_s = latency_s

    def respond(self, path: str, query: dict[str, str]) -> tuple[int, Any]:
        if path.endswith("/kline"):
            time.sleep(self.latency_s)
        return super().respond(path, query)


def _union(intervals: list[Interval]) -> list[Interval]:
    merged: list[Interval] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _length(intervals: list[Interval]) -> float:
    return sum(end - start for start, end in _union(intervals))


# Where a run process's time goes, most specific first: a second is counted once, in the
# first category whose intervals cover it; the rest is in-run orchestration.
CATEGORIES = (
    ("compute", "step compute"),
    ("setup", "worker step set-up"),
    ("queued", "queued for a worker"),
    ("startup", "CLI start-up"),
    ("exit", "CLI exit"),
)


@dataclass
class Split:
    """Seconds of run-process time by where they went, and step compute by worker time."""

    wall: float = 0.0
    process: float = 0.0
    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    step_compute: float = 0.0  # summed over steps (overlapping steps count twice)
    runs: int = 0
    steps: int = 0
    per_step: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))

    def add(self, other: Split) -> None:
        for name in ("wall", "process", "step_compute", "runs", "steps"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for key, value in other.seconds.items():
            self.seconds[key] += value
        for step, seconds in other.per_step.items():
            self.per_step[step].extend(seconds)

    def lines(self, what: str, workers: int) -> str:
        parts = [(label, self.seconds[key]) for key, label in CATEGORIES]
        parts.append(("in-run orchestration", self.process - sum(v for _, v in parts)))
        shares = ", ".join(f"{label} {v / self.process:.0%}" for label, v in parts)
        overhead = self.process - self.seconds["compute"]
        mean = ", ".join(f"{k} {sum(v) / len(v):.2f}" for k, v in sorted(self.per_step.items()))
        return (
            f"  {what}: wall {self.wall:.1f} s ({self.runs} runs, {self.steps} steps); "
            f"Dagster/Celery overhead {overhead / self.process:.0%} of the {self.process:.0f} "
            f"run-process s ({overhead / max(self.runs, 1):.1f} s per run), compute "
            f"{self.seconds['compute'] / self.process:.0%}; workers busy "
            f"{self.step_compute / (workers * self.wall):.0%} of their wall time\n"
            f"    run-process time: {shares}\n"
            f"    mean step compute (s): {mean}"
        )


def _split(servers: Servers, spans: dict[str, Interval]) -> Split:
    """Where each run's process time went, from its events in Postgres."""
    rows = servers.postgres.query(
        "select run_id, step_key, dagster_event_type, event from event_logs where run_id = any(%s)",
        list(spans),
    )
    times: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
    first: dict[str, float] = {}
    last: dict[str, float] = {}
    for run_id, step, kind, raw in rows:
        entry = json.loads(raw)
        when = entry["timestamp"]
        first[run_id] = min(first.get(run_id, when), when)
        last[run_id] = max(last.get(run_id, when), when)
        if step is None or entry.get("dagster_event") is None:
            continue
        message = entry["dagster_event"].get("message") or ""
        if kind == "ENGINE_EVENT":
            if message.startswith("Submitting celery task"):
                kind = "SUBMITTED"
            elif "in celery worker" in message:
                kind = "PICKED_UP"
        if kind in ("SUBMITTED", "PICKED_UP", "STEP_START", "STEP_SUCCESS"):
            times[(run_id, step)].setdefault(kind, when)
    split = Split(runs=len(spans))
    by_run: dict[str, dict[str, list[Interval]]] = defaultdict(lambda: defaultdict(list))
    for (run_id, step), t in times.items():
        if not {"SUBMITTED", "PICKED_UP", "STEP_START", "STEP_SUCCESS"} <= set(t):
            raise RuntimeError(f"run {run_id} step {step}: events missing ({sorted(t)})")
        by_run[run_id]["compute"].append((t["STEP_START"], t["STEP_SUCCESS"]))
        by_run[run_id]["setup"].append((t["PICKED_UP"], t["STEP_START"]))
        by_run[run_id]["queued"].append((t["SUBMITTED"], t["PICKED_UP"]))
        split.step_compute += t["STEP_SUCCESS"] - t["STEP_START"]
        split.per_step[step].append(t["STEP_SUCCESS"] - t["STEP_START"])
        split.steps += 1
    for run_id, (start, end) in spans.items():
        split.process += end - start
        by_run[run_id]["startup"].append((start, first[run_id]))
        by_run[run_id]["exit"].append((last[run_id], end))
        covered: list[Interval] = []
        for key, _ in CATEGORIES:
            before = _length(covered)
            covered += by_run[run_id][key]
            split.seconds[key] += _length(covered) - before
    return split


def _backfill(
    cluster: Cluster, select: str, partitions: list[str], runs: int
) -> dict[str, Interval]:
    """Run every partition (``runs`` CLI processes at a time); each process's start and end."""
    env, cwd = cluster.env("runner"), cluster.workdir("runner")

    def one(partition: str) -> Interval:
        started = time.time()
        done = subprocess.run(
            cluster.materialize_cmd(partition, select),
            env=env, cwd=cwd, capture_output=True, text=True, timeout=1800,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"{partition} {select} failed:\n{done.stderr[-3000:]}")
        return started, time.time()

    with ThreadPoolExecutor(max_workers=runs) as pool:
        return dict(zip(partitions, pool.map(one, partitions), strict=True))


def bench(
    servers: Servers, workers: int, runs: int, months: int, source_env: dict[str, str]
) -> Split:
    cluster = Cluster(
        servers=servers,
        root=Path(tempfile.mkdtemp(prefix=f"bench-scale-{workers}-")),
        data_url=f"s3://{servers.s3.bucket}/bench-{workers}-workers",
        broker_db=workers,
        symbols=",".join(SYMBOLS),
        extra_env=source_env,
    )
    total = Split()
    try:
        started = time.perf_counter()
        cluster.prepare_instance()
        for i in range(workers):
            cluster.start_worker(f"bench{workers}-{i}")
        cluster.wait_workers_ready()
        print(f"{workers} worker(s), {runs} runs at a time (ready in "
              f"{time.perf_counter() - started:.1f} s):")  # fmt: skip
        for name, select in PHASES:
            before = {r for (r,) in servers.postgres.query("select run_id from runs")}
            started = time.perf_counter()
            intervals = _backfill(cluster, select, _partitions(months), runs)
            wall = time.perf_counter() - started
            new = servers.postgres.query(
                "select r.run_id, r.status, t.value from runs r join run_tags t on "
                "t.run_id = r.run_id and t.key = 'dagster/partition' "
                "where not (r.run_id = any(%s::text[]))",
                list(before),
            )
            if sorted(p for *_, p in new) != sorted(intervals) or {s for _, s, _ in new} != {
                "SUCCESS"
            }:
                raise RuntimeError(f"{name}: expected one successful run per partition: {new}")
            spans = {run_id: intervals[partition] for run_id, _, partition in new}
            split = _split(servers, spans)
            split.wall = wall
            print(split.lines(name, workers), flush=True)
            total.add(split)
        print(total.lines("total", workers), flush=True)
    finally:
        cluster.stop()
        shutil.rmtree(cluster.root, ignore_errors=True)
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--runs", type=int, default=4, help="run processes at a time")
    parser.add_argument("--months", type=int, default=6, help="months per symbol (from 2024-01)")
    parser.add_argument(
        "--exchange-latency-ms",
        type=float,
        default=None,
        help="fetch candles over HTTP from a local Bybit-compatible server, each kline "
        "request answered after this many ms (default: synthetic candles, no network)",
    )
    args = parser.parse_args()
    _partitions(args.months)  # a bad --months fails before any server starts
    latency = args.exchange_latency_ms
    if latency is not None and latency < 0:
        raise SystemExit(f"--exchange-latency-ms {latency}: give 0 or more")
    candles = (
        "synthetic candles"
        if latency is None
        else f"candles over HTTP ({latency:g} ms per kline request)"
    )
    print(
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; "
        f"{len(SYMBOLS)} symbols x {args.months} months, {candles}",
        flush=True,
    )
    exchange = None
    if latency is not None:
        # "now" just after the last month, so every month is complete and closed
        now = f"{2024 + args.months // 12}-{args.months % 12 + 1:02d}-01 00:05:30"
        exchange = DistantBybit(latency / 1000, now=now, symbols=SYMBOLS).start()
    source_env = (
        {} if exchange is None else {"RESNET_SOURCE": "bybit", "BYBIT_BASE_URL": exchange.url}
    )
    servers = Servers.start()
    try:
        totals = {w: bench(servers, w, args.runs, args.months, source_env) for w in args.workers}
    finally:
        servers.stop()
        if exchange is not None:
            exchange.stop()
    if len(totals) > 1:
        base = min(totals)
        for workers, total in sorted(totals.items()):
            print(f"{workers} worker(s): wall {total.wall:.1f} s, "
                  f"{totals[base].wall / total.wall:.2f}x of {base} worker(s)")  # fmt: skip


if __name__ == "__main__":
    main()
