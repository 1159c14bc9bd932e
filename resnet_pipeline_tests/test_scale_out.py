"""Beyond one machine, for real: PostgreSQL instance storage (deploy/postgres-celery), every
artifact on an S3-compatible server, steps on two Celery workers (Redis broker) that share
nothing but Postgres and S3, the `trainer` pool holding across them, and a worker killed
mid-step.

Part of the suite: ``bash scripts/test.sh`` installs the ``scale`` extra and, when missing, the
server binaries (apt). Skipped, with the reason, where either is missing (``RESNET_SCALE=0``, or
no apt). Deselect with ``-m "not scale"``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import subprocess
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
import pytest

from resnet_pipeline_tests._processes import wait_for
from resnet_pipeline_tests._servers import (
    Cluster,
    Postgres,
    Servers,
    missing_binaries,
)
from resnet_pipeline_tests.fake_bybit import FakeBybit

RUN_START = dg.DagsterEventType.RUN_START.value  # stored under its legacy name
SYMBOL = "BTCUSDT"
MONTHS = ("2024-01-01", "2024-02-01")
INGESTION = ("raw_candles", "features", "labels")
CHAIN = ("dataset_splits", "trained_model", "test_metrics", "backtest_report")
# A short training, the same on the cluster and on one machine. One thread: the same
# arithmetic in a Celery worker and in this process, so the results can be compared exactly.
QUICK: dict[str, Any] = {
    "ops": {
        "dataset_splits": {
            "config": {
                "start_month": MONTHS[0][:7],
                "end_month": MONTHS[1][:7],
                # short windows and a short test period (~3 days): evaluation in seconds
                "window": 64,
                "train_ratio": 0.85,
                "val_ratio": 0.10,
                "test_ratio": 0.05,
            }
        },
        "trained_model": {
            "config": {
                "epochs": 2,
                "max_train_samples": 256,
                "max_val_samples": 256,
                "arch": "resnet18",
                "num_threads": 1,
            }
        },
    }
}
# Files a machine of the cluster may hold: what Cluster writes to start it. Anything else on a
# machine's disk (outside Dagster's own DAGSTER_HOME) is an artifact that missed the bucket.
MACHINE_FILES = {"dagster.yaml", "celery.yaml", "worker.log"}
ARTIFACT_SUFFIXES = {".parquet", ".pt", ".npy", ".json", ".html", ".tmp"}

_MISSING_MODULES = [
    m
    for m in ("dagster_celery", "dagster_postgres", "s3fs", "moto")
    if importlib.util.find_spec(m) is None
]
pytestmark = [
    pytest.mark.slow,
    pytest.mark.scale,
    pytest.mark.skipif(
        bool(_MISSING_MODULES),
        reason=f"scale-out extra missing ({', '.join(_MISSING_MODULES)}): bash scripts/test.sh "
        "installs it (unless RESNET_SCALE=0), or pip install -e '.[scale]'",
    ),
    pytest.mark.skipif(
        bool(missing_binaries()),
        reason=f"server binaries missing ({', '.join(missing_binaries())}): "
        "bash scripts/test.sh installs them with apt where it can (apt-get install postgresql "
        "redis-server)",
    ),
]


@pytest.fixture(scope="module")
def servers() -> Iterator[Servers]:
    started = Servers.start()
    try:
        yield started
    finally:
        started.stop()


def _partition(month: str) -> str:
    return f"{month}|{SYMBOL}"


def _key(asset: str, month: str) -> str:
    return f"{asset}/symbol={SYMBOL}/month={month[:7]}.parquet"


def _local_parquet(root: Path) -> list[Path]:
    return sorted(root.rglob("*.parquet"))


def _worker_of_steps(postgres: Postgres, run_id: str) -> list[tuple[str, str]]:
    """(step key, its 'Executing steps ... in celery worker' event, naming the worker), in order."""
    return postgres.query(
        "select step_key, event from event_logs where run_id = %s and dagster_event_type = "
        "'ENGINE_EVENT' and event like %s order by id",
        run_id,
        "%in celery worker%",
    )


def _events(postgres: Postgres, run_ids: list[str], *kinds: str) -> list[dict[str, Any]]:
    """The run's Dagster events of these kinds, as stored: step, time, writing process."""
    rows = postgres.query(
        "select run_id, step_key, dagster_event_type, event from event_logs "
        "where run_id = any(%s) and dagster_event_type = any(%s) order by id",
        run_ids,
        list(kinds),
    )
    events = []
    for run_id, step, kind, raw in rows:
        entry = json.loads(raw)
        events.append(
            {
                "run_id": run_id,
                "step": step,
                "kind": kind,
                "time": entry["timestamp"],
                "pid": entry["dagster_event"]["pid"],
            }
        )
    return events


def _run(cmd: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def _finish(*runs: subprocess.Popen[str]) -> None:
    for run in runs:
        out, _ = run.communicate(timeout=600)
        assert run.returncode == 0, f"{' '.join(map(str, run.args))}:\n{out[-8000:]}"


def _manifests(fs: Any, prefix: str, keys: set[str]) -> dict[str, dict[str, Any]]:
    """Multi-file artifacts on object storage: folder -> its manifest.json (the files it lists
    live under a version prefix; see resnet_pipeline/artifacts.py)."""
    manifests = {}
    for key in keys:
        if Path(key).name == "manifest.json":
            with fs.open(f"{prefix}/{key}", "r") as fh:
                manifests[str(Path(key).parent)] = json.load(fh)
    return manifests


def _artifact_names(keys: set[str], manifests: dict[str, dict[str, Any]] | None = None) -> set[str]:
    """Stored names as a reader sees them: a manifest's files by their own names in its
    folder, a run's history file (named by its run id) as one pattern, no lock files. Anything
    else (a temp key left behind, a version no manifest lists) is kept as is, and so differs."""
    names = set()
    manifests = manifests or {}
    for key in keys:
        folder = str(Path(key).parent)
        name = Path(key).name
        if name.startswith(".") and name.endswith(".lock"):  # flock files beside local files
            continue
        if "/history/" in f"/{key}":
            key = f"{folder}/<run_id>.parquet"
        names.add(key)
    for folder, manifest in manifests.items():
        names.discard(f"{folder}/manifest.json")
        for name, entry in manifest["files"].items():
            names.discard(f"{folder}/{entry['key']}")
            names.add(f"{folder}/{name}")
    return names


@dataclass
class Deployed:
    """What one chain left: the cluster's runs (by phase) and the one-machine reference root."""

    cluster: Cluster
    runs: dict[str, list[str]]
    reference: Path


def _reference_chain(root: Path) -> None:
    """The single-machine run: local files, one process, Dagster's in-process execution."""
    import torch

    from resnet_pipeline_tests._resources import materialize_chain

    instance = dg.DagsterInstance.ephemeral()
    steps: list[tuple[list[str], str, dict[str, Any] | None]] = [
        *[(["raw_candles"], _partition(m), None) for m in MONTHS],
        *[(["features", "labels"], _partition(m), None) for m in MONTHS],
        (list(CHAIN), SYMBOL, QUICK),
    ]
    threads = torch.get_num_threads()  # training sets them for the process: give them back
    try:
        for selection, partition, run_config in steps:
            materialize_chain(root, instance, selection, partition, run_config)
    finally:
        torch.set_num_threads(threads)


def _quick(cluster: Cluster, select: str) -> list[str]:
    """A symbol run of ``select`` with QUICK's config for the selected ops (Dagster refuses
    config for ops a run does not include)."""
    ops = {op: c for op, c in QUICK["ops"].items() if op in select.split(",")}
    config = ["--config-json", json.dumps({"ops": ops})] if ops else []
    return cluster.materialize_cmd(SYMBOL, select) + config


@pytest.fixture(scope="module")
def deployed(servers: Servers, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    """The chain for one symbol on two Celery workers, Postgres and S3; meanwhile, on one
    machine. Partitions of one phase are launched at once (they spread over both workers),
    and two trainings are launched at once: the `trainer` pool must run them one at a time."""
    cluster = Cluster(
        servers=servers,
        root=tmp_path_factory.mktemp("celery"),
        data_url=f"s3://{servers.s3.bucket}/resnet",
        broker_db=0,
    )
    reference = tmp_path_factory.mktemp("one_machine")
    try:
        cluster.prepare_instance()
        for name in ("worker-a", "worker-b"):
            cluster.start_worker(name)
        with ThreadPoolExecutor(max_workers=1) as background:
            one_machine = background.submit(_reference_chain, reference)
            cluster.wait_workers_ready()
            env, cwd = cluster.env("runner"), cluster.workdir("runner")
            months = [_partition(m) for m in MONTHS]
            phases = {  # phase -> the runs launched at once
                "raw_candles": [cluster.materialize_cmd(p, "raw_candles") for p in months],
                "features,labels": [cluster.materialize_cmd(p, "features,labels") for p in months],
                "dataset_splits": [_quick(cluster, "dataset_splits")],
                "trained_model": [_quick(cluster, "trained_model")] * 2,
                "test_metrics,backtest_report": [_quick(cluster, "test_metrics,backtest_report")],
            }
            runs: dict[str, list[str]] = {}
            for phase, commands in phases.items():
                before = {r for (r,) in servers.postgres.query("select run_id from runs")}
                _finish(*[_run(cmd, env, cwd) for cmd in commands])
                after = servers.postgres.query("select run_id from runs order by create_timestamp")
                runs[phase] = [r for (r,) in after if r not in before]
            one_machine.result()
        yield Deployed(cluster=cluster, runs=runs, reference=reference)
    finally:
        cluster.stop()


def test_chain_on_two_celery_workers_postgres_and_s3_equals_one_machine(
    deployed: Deployed, servers: Servers
) -> None:
    cluster, postgres, fs = deployed.cluster, servers.postgres, servers.s3.filesystem()
    prefix = f"{servers.s3.bucket}/resnet"
    all_runs = [r for ids in deployed.runs.values() for r in ids]

    # Every artifact the one-machine run wrote is in the bucket, under the same name.
    local = _artifact_names(
        {
            str(p.relative_to(deployed.reference))
            for p in deployed.reference.rglob("*")
            if p.is_file()
        }
    )
    keys = {k[len(prefix) + 1 :] for k in fs.find(prefix)}
    remote = _artifact_names(keys, _manifests(fs, prefix, keys))
    assert local >= {_key(a, m) for a in INGESTION for m in MONTHS}, sorted(local)
    assert {f"datasets/{SYMBOL}/matrix.npy", f"models/{SYMBOL}/model.pt"} <= local, sorted(local)
    assert remote == local, (
        f"only local: {sorted(local - remote)}; only S3: {sorted(remote - local)}"
    )
    # the dataset in the bucket is the one machine's, byte for byte (meta.json holds times)
    manifest = _manifests(fs, prefix, keys)[f"datasets/{SYMBOL}"]
    for name, entry in manifest["files"].items():
        if name != "meta.json":
            digest = hashlib.sha256((deployed.reference / "datasets" / SYMBOL / name).read_bytes())
            assert entry["sha256"] == digest.hexdigest(), name

    # Nothing landed on a machine's disk: not in a working directory, nor beside the instance.
    stray = [
        p
        for p in cluster.root.rglob("*")
        if p.is_file()
        and p.name not in MACHINE_FILES
        and ("dagster_home" not in p.parts or p.suffix in ARTIFACT_SUFFIXES)
    ]
    assert stray == [], f"artifacts written to local disk: {stray}"

    # The Parquet partitions equal the one machine's, row for row.
    for asset in INGESTION:
        for month in MONTHS:
            with fs.open(f"{prefix}/{_key(asset, month)}", "rb") as fh:
                remote_df = pd.read_parquet(fh)
            local_df = pd.read_parquet(deployed.reference / _key(asset, month))
            assert len(remote_df) > 0
            pd.testing.assert_frame_equal(remote_df, local_df, check_exact=True)

    # The result equals the one machine's: test metrics, baselines, backtest, trades.
    def stored_json(name: str) -> tuple[dict[str, Any], dict[str, Any]]:
        with fs.open(f"{prefix}/reports/{SYMBOL}/{name}", "r") as fh:
            on_s3 = json.load(fh)
        return on_s3, json.loads((deployed.reference / "reports" / SYMBOL / name).read_text())

    on_s3, here = stored_json("test_metrics.json")
    assert on_s3["model"]["samples"] > 0
    assert (on_s3["model"], on_s3["baselines"]) == (here["model"], here["baselines"])
    on_s3, here = stored_json("backtest_metrics.json")
    for part in ("strategy", "buy_and_hold", "targets", "notes"):
        assert on_s3[part] == here[part], part
    for frame in ("test_predictions.parquet", "trades.parquet", "equity.parquet"):
        with fs.open(f"{prefix}/reports/{SYMBOL}/{frame}", "rb") as fh:
            remote_df = pd.read_parquet(fh)
        local_df = pd.read_parquet(deployed.reference / "reports" / SYMBOL / frame)
        pd.testing.assert_frame_equal(remote_df, local_df, obj=frame, check_exact=True)

    # Runs and materializations are in Postgres.
    statuses = dict(
        postgres.query("select run_id, status from runs where run_id = any(%s)", all_runs)
    )
    assert len(all_runs) == 8 and set(statuses.values()) == {"SUCCESS"}, statuses
    materialized = set(
        postgres.query(
            "select asset_key, partition from event_logs where dagster_event_type = "
            "'ASSET_MATERIALIZATION' and run_id = any(%s)",
            all_runs,
        )
    )
    expected = {(json.dumps([a]), _partition(m)) for a in INGESTION for m in MONTHS}
    expected |= {(json.dumps([a]), SYMBOL) for a in CHAIN}
    assert materialized == expected

    # Every step ran in a Celery worker's process, never the run's, and both workers took steps.
    run_pids = {e["pid"] for e in _events(postgres, all_runs, RUN_START)}
    steps = _events(postgres, all_runs, "STEP_START")
    assert {e["step"] for e in steps} >= {*INGESTION, *CHAIN}, steps
    assert len(run_pids) == len(all_runs) and not run_pids & {e["pid"] for e in steps}, steps
    workers = {w for r in all_runs for _, w in _worker_of_steps(postgres, r)}
    assert any("worker-a" in w for w in workers) and any("worker-b" in w for w in workers)

    # The `trainer` pool kept the two trainings launched at once one at a time, across the
    # workers. (One test, not two: pytest -n 2 could give each its own copy of the chain.)
    trainings = deployed.runs["trained_model"]
    spans = sorted(
        (start["time"], end["time"])
        for start in _events(postgres, trainings, "STEP_START")
        for end in _events(postgres, trainings, "STEP_SUCCESS")
        if (start["run_id"], start["step"]) == (end["run_id"], end["step"])
    )
    assert len(spans) == 2, spans  # two runs launched at once, both trained
    (_, first_end), (second_start, _) = spans
    assert first_end <= second_start, f"two trainings ran at once: {spans}"
    # The limit lives in Postgres (deploy/postgres-celery/dagster.yaml's pools default_limit).
    assert postgres.query(
        'select "limit" from concurrency_limits where concurrency_key = %s', "trainer"
    ) == [(1,)]


class HeldBybit(FakeBybit):
    """The fake Bybit, but its first kline request waits until the test releases it: a step
    that is provably running when its worker is killed."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.held = threading.Event()
        self.release = threading.Event()

    def respond(self, path: str, query: dict[str, str]) -> tuple[int, Any]:
        if path.endswith("/kline") and not self.held.is_set():
            self.held.set()
            self.release.wait(timeout=120)
        return super().respond(path, query)


def test_worker_killed_mid_step_the_step_reruns_on_the_other_and_nothing_is_lost(
    servers: Servers, tmp_path_factory: pytest.TempPathFactory
) -> None:
    month = "2024-01-01"
    with HeldBybit(now="2024-03-01 00:05:30", symbols=[SYMBOL]) as bybit:
        cluster = Cluster(
            servers=servers,
            root=tmp_path_factory.mktemp("killed"),
            data_url=f"s3://{servers.s3.bucket}/killed",
            broker_db=1,  # its own queue: these workers fetch from the held fake Bybit
            extra_env={"RESNET_SOURCE": "bybit", "BYBIT_BASE_URL": bybit.url},
            visibility_timeout=20,  # how soon a lost worker's step goes to another
        )
        run: subprocess.Popen[str] | None = None
        try:
            cluster.prepare_instance()
            for name in ("killed-a", "killed-b"):
                cluster.start_worker(name)
            cluster.wait_workers_ready()
            runner = cluster.workdir("runner")
            run = _run(
                cluster.materialize_cmd(_partition(month), select="raw_candles"),
                cluster.env("runner"),
                runner,
            )
            wait_for(bybit.held.is_set, 180, "the raw_candles step's first kline request")
            ((run_id,),) = servers.postgres.query(
                "select run_id from runs where status = 'STARTED'"
            )
            # mid-step: the step started in a worker and its body is inside a kline request
            assert [e["step"] for e in _events(servers.postgres, [run_id], "STEP_START")] == [
                "raw_candles"
            ]
            (_, first), *_ = _worker_of_steps(servers.postgres, run_id)
            victim = "killed-a" if "killed-a" in first else "killed-b"
            cluster.kill_worker(victim)
            bybit.release.set()
            out, _ = run.communicate(timeout=240)  # without the hand-over: never returns
            assert run.returncode == 0, out[-6000:]
        finally:
            if run is not None and run.poll() is None:
                run.kill()
                run.wait(timeout=30)
            cluster.stop()

    (status,) = servers.postgres.query("select status from runs where run_id = %s", run_id)[0]
    assert status == "SUCCESS"
    attempts = [
        w for step, w in _worker_of_steps(servers.postgres, run_id) if step == "raw_candles"
    ]
    assert len(attempts) == 2 and victim in attempts[0] and victim not in attempts[1], attempts
    succeeded = [e["step"] for e in _events(servers.postgres, [run_id], "STEP_SUCCESS")]
    assert succeeded.count("raw_candles") == 1, succeeded  # the killed attempt never finished
    fs = servers.s3.filesystem()
    with fs.open(f"{servers.s3.bucket}/killed/{_key('raw_candles', month)}", "rb") as fh:
        stored = pd.read_parquet(fh)
    # the whole month, each minute once, exactly what the exchange serves
    assert len(stored) == 31 * 1440 and stored["timestamp"].is_unique
    expected = bybit.source.fetch(
        SYMBOL, pd.Timestamp(month, tz="UTC"), pd.Timestamp("2024-02-01", tz="UTC")
    )
    pd.testing.assert_frame_equal(
        stored.reset_index(drop=True),
        expected[stored.columns].reset_index(drop=True),
        check_dtype=False,
    )
    assert _local_parquet(cluster.root) == []
