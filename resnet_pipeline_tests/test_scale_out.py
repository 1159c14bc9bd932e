"""Beyond one machine, for real: PostgreSQL instance storage (deploy/postgres-celery), Parquet
assets on an S3-compatible server, steps on two Celery workers (Redis broker) that share
nothing but Postgres and S3, and a worker killed mid-step.

Skipped, with the reason, where the ``scale`` extra or the server binaries are missing:
``RESNET_SCALE=1 bash scripts/setup.sh`` installs both.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from resnet_pipeline_tests._servers import (
    REPO,
    Cluster,
    Postgres,
    Servers,
    base_env,
    missing_binaries,
    wait_until,
)
from resnet_pipeline_tests.fake_bybit import FakeBybit

SYMBOL = "BTCUSDT"
MONTHS = ("2024-01-01", "2024-02-01")
ASSETS = ("raw_candles", "features", "labels")

_MISSING_MODULES = [
    m
    for m in ("dagster_celery", "dagster_postgres", "s3fs", "moto")
    if importlib.util.find_spec(m) is None
]
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        bool(_MISSING_MODULES),
        reason=f"scale-out extra missing ({', '.join(_MISSING_MODULES)}): "
        "RESNET_SCALE=1 bash scripts/setup.sh (or pip install -e '.[scale]')",
    ),
    pytest.mark.skipif(
        bool(missing_binaries()),
        reason=f"server binaries missing ({', '.join(missing_binaries())}): "
        "RESNET_SCALE=1 bash scripts/setup.sh (apt-get install postgresql redis-server)",
    ),
]


@pytest.fixture(scope="module")
def servers() -> Iterator[Servers]:
    started = Servers.start()
    try:
        yield started
    finally:
        started.stop()


def _materialize(cmd: list[str], env: dict[str, str], cwd: Path) -> None:
    done = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-6000:]


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


@pytest.fixture(scope="module")
def celery_cluster(servers: Servers, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    cluster = Cluster(
        servers=servers,
        root=tmp_path_factory.mktemp("celery"),
        data_url=f"s3://{servers.s3.bucket}/resnet",
        broker_db=0,
    )
    try:
        for name in ("worker-a", "worker-b"):
            cluster.start_worker(name)
        cluster.wait_workers_ready()
        yield cluster
    finally:
        cluster.stop()


def test_ingestion_on_two_celery_workers_postgres_and_s3_equals_one_machine(
    celery_cluster: Cluster, servers: Servers, tmp_path: Path
) -> None:
    # The single-machine reference: SQLite instance, local files, steps in one process.
    local_env = base_env()
    local_home = tmp_path / "local_home"
    local_home.mkdir()
    shutil.copy(REPO / "dagster.yaml", local_home / "dagster.yaml")
    local_env.update(
        DAGSTER_HOME=str(local_home), PYTHONPATH=str(REPO), RESNET_EXECUTOR="in_process",
        RESNET_DATA_DIR=str(tmp_path / "local_data"), RESNET_SOURCE="synthetic",
        RESNET_SYMBOLS=SYMBOL, RESNET_FIRST_MONTH="2024-01",
    )  # fmt: skip
    runner = celery_cluster.workdir("runner")
    run_env = celery_cluster.env("runner")
    runs_before = set(servers.postgres.query("select run_id from runs"))

    def one_machine() -> None:
        for month in MONTHS:
            cmd = celery_cluster.materialize_cmd(_partition(month), ",".join(ASSETS))
            _materialize(cmd, local_env, tmp_path)

    with ThreadPoolExecutor(max_workers=1) as reference:  # meanwhile, on the cluster:
        local_done = reference.submit(one_machine)
        for month in MONTHS:
            cmd = celery_cluster.materialize_cmd(_partition(month), ",".join(ASSETS))
            _materialize(cmd, run_env, runner)
        local_done.result()

    # Every Parquet artifact is in the bucket and equals the single-machine one, row for row.
    fs = servers.s3.filesystem()
    for asset in ASSETS:
        for month in MONTHS:
            key = f"{servers.s3.bucket}/resnet/{_key(asset, month)}"
            assert fs.exists(key), f"{key} missing from the bucket"
            with fs.open(key, "rb") as fh:
                remote = pd.read_parquet(fh)
            local = pd.read_parquet(tmp_path / "local_data" / _key(asset, month))
            assert len(remote) > 0
            pd.testing.assert_frame_equal(remote, local)

    # Nothing landed on a machine's disk: not in any working dir or DAGSTER_HOME.
    assert _local_parquet(celery_cluster.root) == []

    # Runs and materializations are in Postgres; steps ran on both workers.
    runs = [
        (run_id, status)
        for run_id, status in servers.postgres.query("select run_id, status from runs")
        if (run_id,) not in runs_before
    ]
    assert len(runs) == len(MONTHS) and {s for _, s in runs} == {"SUCCESS"}, runs
    materialized = servers.postgres.query(
        "select asset_key, partition from event_logs where dagster_event_type = "
        "'ASSET_MATERIALIZATION' and run_id = any(%s)",
        [run_id for run_id, _ in runs],
    )
    expected = {(json.dumps([a]), _partition(m)) for a in ASSETS for m in MONTHS}
    assert set(materialized) == expected
    workers = {w for run_id, _ in runs for _, w in _worker_of_steps(servers.postgres, run_id)}
    assert any("worker-a" in w for w in workers) and any("worker-b" in w for w in workers), workers


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
        run: subprocess.Popen | None = None
        try:
            for name in ("killed-a", "killed-b"):
                cluster.start_worker(name)
            cluster.wait_workers_ready()
            runner = cluster.workdir("runner")
            run = subprocess.Popen(
                cluster.materialize_cmd(_partition(month), select="raw_candles"),
                env=cluster.env("runner"), cwd=runner, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, text=True,
            )  # fmt: skip
            wait_until(bybit.held.is_set, "the raw_candles step's first kline request", 180)
            ((run_id,),) = servers.postgres.query(
                "select run_id from runs where status = 'STARTED'"
            )
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
    fs = servers.s3.filesystem()
    with fs.open(f"{servers.s3.bucket}/killed/{_key('raw_candles', month)}", "rb") as fh:
        stored = pd.read_parquet(fh)
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
