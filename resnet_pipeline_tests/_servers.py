"""Real PostgreSQL, Redis and S3-compatible (moto) servers on 127.0.0.1 for the scale-out tests.

Each starts on a free port with a throwaway data directory and is stopped (its whole process
group) by ``stop``. Readiness is polled with a deadline, never slept for.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from resnet_pipeline_tests._processes import free_port, stop_group, wait_for


def _pg_bin() -> Path:
    """RESNET_PG_BIN, else the newest Debian cluster binaries (/usr/lib/postgresql/<v>/bin)."""
    if os.environ.get("RESNET_PG_BIN"):
        return Path(os.environ["RESNET_PG_BIN"])
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0,
    )
    return found[-1].parent if found else Path("/usr/lib/postgresql/15/bin")


PG_BIN = _pg_bin()


def _accepts(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def missing_binaries() -> list[str]:
    """What a test host lacks to start the servers (Debian: postgresql, redis-server)."""
    missing = [str(PG_BIN / b) for b in ("initdb", "pg_ctl") if not (PG_BIN / b).exists()]
    return missing + ([] if shutil.which("redis-server") else ["redis-server"])


@dataclass
class Postgres:
    """A PostgreSQL cluster of its own, password auth on 127.0.0.1 only.

    PostgreSQL refuses to run as root: as root, the cluster belongs to the ``postgres`` user.
    """

    port: int = field(default_factory=free_port)
    user: str = "dagster"
    password: str = field(default_factory=lambda: secrets.token_hex(12))
    db: str = "dagster"
    data_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="resnet-pg-")))

    def _as_owner(self, args: list[str]) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args

    def start(self) -> Postgres:
        pwfile = self.data_dir / "pw"
        pwfile.write_text(self.password + "\n")
        if os.geteuid() == 0:
            shutil.chown(self.data_dir, "postgres", "postgres")
            shutil.chown(pwfile, "postgres", "postgres")
        cluster = self.data_dir / "cluster"
        subprocess.run(
            self._as_owner(
                [str(PG_BIN / "initdb"), "-D", str(cluster), "-U", self.user, "--pwfile",
                 str(pwfile), "--auth=scram-sha-256", "-E", "UTF8", "--no-sync"]
            ),
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        subprocess.run(
            self._as_owner(
                [str(PG_BIN / "pg_ctl"), "-D", str(cluster), "-l", str(self.data_dir / "log"),
                 "-w", "-t", "60", "-o",
                 f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.data_dir} "
                 "-c fsync=off -c max_connections=200", "start"]
            ),
            check=True, capture_output=True, timeout=90,
        )  # fmt: skip
        self._psql(f"CREATE DATABASE {self.db}")
        return self

    def _psql(self, sql: str) -> None:
        import psycopg2

        con = psycopg2.connect(
            host="127.0.0.1", port=self.port, user=self.user, password=self.password,
            dbname="postgres",
        )  # fmt: skip
        con.autocommit = True
        try:
            con.cursor().execute(sql)
        finally:
            con.close()

    def query(self, sql: str, *params: object) -> list[tuple]:
        con = self.connect()
        try:
            cur = con.cursor()
            cur.execute(sql, params)
            return cur.fetchall()
        finally:
            con.close()

    def connect(self):
        import psycopg2

        return psycopg2.connect(
            host="127.0.0.1", port=self.port, user=self.user, password=self.password,
            dbname=self.db,
        )  # fmt: skip

    def env(self) -> dict[str, str]:
        """The variables deploy/postgres-celery/dagster.yaml reads."""
        return {
            "DAGSTER_PG_HOST": "127.0.0.1",
            "DAGSTER_PG_PORT": str(self.port),
            "DAGSTER_PG_DB": self.db,
            "DAGSTER_PG_USERNAME": self.user,
            "DAGSTER_PG_PASSWORD": self.password,
        }

    def stop(self) -> None:
        subprocess.run(
            self._as_owner(
                [str(PG_BIN / "pg_ctl"), "-D", str(self.data_dir / "cluster"), "-m", "immediate",
                 "-w", "stop"]
            ),
            capture_output=True, timeout=60,
        )  # fmt: skip
        shutil.rmtree(self.data_dir, ignore_errors=True)


@dataclass
class Redis:
    """A Redis server without persistence: the Celery broker and result backend."""

    port: int = field(default_factory=free_port)
    data_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="resnet-redis-")))
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> Redis:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir",
             str(self.data_dir), "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        wait_for(lambda: _accepts(self.port), 60, f"redis-server on port {self.port}")
        return self

    def stop(self) -> None:
        if self.proc is not None:
            stop_group(self.proc)
        shutil.rmtree(self.data_dir, ignore_errors=True)


@dataclass
class S3Server:
    """moto's S3-compatible server (``moto.server``), state in memory, one bucket made."""

    bucket: str = "resnet-test"
    port: int = field(default_factory=free_port)
    access_key: str = field(default_factory=lambda: "AK" + secrets.token_hex(8).upper())
    secret_key: str = field(default_factory=lambda: secrets.token_hex(16))
    proc: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> S3Server:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        wait_for(lambda: _accepts(self.port), 60, f"moto S3 server on port {self.port}")
        self.filesystem().mkdir(self.bucket)
        return self

    def env(self) -> dict[str, str]:
        """Credentials and endpoint as botocore (and so s3fs) reads them from the environment."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def filesystem(self):
        import s3fs

        return s3fs.S3FileSystem(
            key=self.access_key, secret=self.secret_key, endpoint_url=self.endpoint,
            skip_instance_cache=True,
        )  # fmt: skip

    def stop(self) -> None:
        if self.proc is not None:
            stop_group(self.proc)


@dataclass
class Servers:
    postgres: Postgres
    redis: Redis
    s3: S3Server

    @classmethod
    def start(cls) -> Servers:
        started: list[Any] = []
        try:
            for server in (Postgres(), Redis(), S3Server()):
                started.append(server.start())
        except BaseException:
            for server in reversed(started):
                server.stop()
            raise
        return cls(*started)

    def stop(self) -> None:
        for server in (self.s3, self.redis, self.postgres):
            server.stop()


REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DEPLOY_YAML = REPO / "deploy" / "postgres-celery" / "dagster.yaml"
DEFS_MODULE = "resnet_pipeline.definitions"  # the Definitions users load, executor included


def base_env() -> dict[str, str]:
    """This process's environment less the project's, Dagster's, AWS's and Celery's settings."""
    keep = ("RESNET_", "BYBIT_", "DAGSTER_", "AWS_", "CELERY_")
    return {k: v for k, v in os.environ.items() if not k.startswith(keep)}


@dataclass
class Cluster:
    """One deployment: a run 'machine' and Celery workers, each with a DAGSTER_HOME and working
    directory of its own, sharing only Postgres, the broker and the bucket."""

    servers: Servers
    root: Path
    data_url: str
    broker_db: int
    symbols: str = "BTCUSDT"
    extra_env: dict[str, str] = field(default_factory=dict)
    visibility_timeout: int = 600
    workers: dict[str, subprocess.Popen] = field(default_factory=dict)

    def env(self, machine: str) -> dict[str, str]:
        """A machine's environment: the instance yaml in its own DAGSTER_HOME, credentials."""
        home = self.root / machine / "dagster_home"
        home.mkdir(parents=True, exist_ok=True)
        shutil.copy(DEPLOY_YAML, home / "dagster.yaml")
        env = base_env()
        env.update(self.servers.postgres.env())
        env.update(self.servers.s3.env())
        env.update(
            DAGSTER_HOME=str(home),
            PYTHONPATH=str(REPO),
            # dagster-celery starts `celery` by name: this interpreter's, not another on PATH
            PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
            RESNET_EXECUTOR="celery",
            RESNET_CELERY_BROKER=f"redis://127.0.0.1:{self.servers.redis.port}/{self.broker_db}",
            RESNET_CELERY_VISIBILITY_TIMEOUT=str(self.visibility_timeout),
            RESNET_DATA_DIR=self.data_url,
            RESNET_SOURCE="synthetic",
            RESNET_SYMBOLS=self.symbols,
            RESNET_FIRST_MONTH="2024-01",
        )
        env.update(self.extra_env)
        return env

    def workdir(self, machine: str) -> Path:
        path = self.root / machine / "cwd"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def prepare_instance(self) -> None:
        """What deploy/postgres-celery/README.md has an operator run once per database, before
        any worker or run: create Dagster's tables and the `trainer` pool's limit of 1.

        Left to the first runs, two runs claiming the fresh pool at once both insert its
        default limit and one crashes (UniqueViolation on concurrency_limits), and two processes
        opening the empty database at once race to create the tables. Idempotent."""
        subprocess.run(
            [str(BIN / "dagster"), "instance", "concurrency", "set", "trainer", "1"],
            env=self.env("operator"), cwd=self.workdir("operator"), check=True,
            capture_output=True, timeout=180,
        )  # fmt: skip

    def start_worker(self, name: str) -> None:
        env = self.env(name)
        cwd = self.workdir(name)
        yaml_path = cwd / "celery.yaml"
        yaml_path.write_text(
            subprocess.run(
                [sys.executable, "-m", "resnet_pipeline.executors"],
                env=env, cwd=cwd, check=True, capture_output=True, text=True, timeout=120,
            ).stdout
        )  # fmt: skip
        log = (self.root / name / "worker.log").open("w")
        self.workers[name] = subprocess.Popen(
            [str(BIN / "dagster-celery"), "worker", "start", "-A", "dagster_celery.app",
             "-y", str(yaml_path), "-n", name, "-i", DEFS_MODULE, "--", "--concurrency=1"],
            env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip

    def wait_workers_ready(self) -> None:
        for name, proc in self.workers.items():
            log = self.root / name / "worker.log"

            def ready(log: Path = log, proc: subprocess.Popen = proc, name: str = name) -> bool:
                if proc.poll() is not None:
                    raise AssertionError(f"worker {name} exited:\n{log.read_text()[-3000:]}")
                return " ready." in log.read_text()

            wait_for(ready, 120, f"celery worker {name}")

    def kill_worker(self, name: str) -> None:
        """SIGKILL the worker and its pool children: a machine lost, no goodbye."""
        os.killpg(self.workers[name].pid, signal.SIGKILL)
        self.workers[name].wait(timeout=30)

    def stop(self) -> None:
        """Every worker's whole process group, gone (warm shutdown first)."""
        for proc in self.workers.values():
            stop_group(proc, grace=30.0)

    def materialize_cmd(self, partition: str, select: str) -> list[str]:
        return [str(BIN / "dagster"), "asset", "materialize", "-m", DEFS_MODULE,
                "--select", select, "--partition", partition]  # fmt: skip
