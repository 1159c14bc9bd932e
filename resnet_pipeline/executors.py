"""Which Dagster executor runs the steps of a run, chosen by ``RESNET_EXECUTOR``.

- unset or ``default``: Dagster's default (steps in subprocesses; ``in_process`` by run config).
- ``in_process`` / ``multiprocess``: that executor for every run.
- ``celery``: every step is a task on a Celery broker (``RESNET_CELERY_BROKER``, e.g.
  ``redis://host:6379/0``), executed by ``dagster-celery`` workers on any machine that shares
  the Dagster instance (deploy/postgres-celery/dagster.yaml) and ``RESNET_DATA_DIR``.

A worker that dies during a step (killed, OOM, machine lost) does not lose the step: tasks are
acknowledged only once finished, so the broker hands an unfinished one to another worker (at
once when only the worker's child process died, after ``RESNET_CELERY_VISIBILITY_TIMEOUT``
seconds when the whole worker vanished). That timeout must exceed the longest step, or a
running step is handed out twice: the default is 12 hours.

``python -m resnet_pipeline.executors`` prints the YAML that ``dagster-celery worker start -y``
needs, built from the same variables as the executor, so workers and runs agree.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any

import dagster as dg

EXECUTORS = ("default", "in_process", "multiprocess", "celery")
CELERY_EXECUTOR = "celery"  # the name of the configured celery executor
DEFAULT_VISIBILITY_TIMEOUT_S = 12 * 3600
# dagster_celery.defaults.broker_transport_options: publish retries when the broker blips
_DAGSTER_CELERY_TRANSPORT = {
    "max_retries": 3,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.5,
}


class ExecutorSettingsError(ValueError):
    """RESNET_EXECUTOR or a RESNET_CELERY_* variable holds a value that cannot be used."""


def executor_kind(env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    kind = env.get("RESNET_EXECUTOR", "default").strip().lower() or "default"
    if kind not in EXECUTORS:
        raise ExecutorSettingsError(
            f"RESNET_EXECUTOR={kind!r} is not one of {', '.join(EXECUTORS)}: unset it for "
            "Dagster's default, or RESNET_EXECUTOR=celery with RESNET_CELERY_BROKER"
        )
    return kind


def _visibility_timeout(env: Mapping[str, str]) -> int:
    raw = env.get("RESNET_CELERY_VISIBILITY_TIMEOUT", "").strip()
    if not raw:
        return DEFAULT_VISIBILITY_TIMEOUT_S
    if not raw.isdigit() or int(raw) < 1:
        raise ExecutorSettingsError(
            f"RESNET_CELERY_VISIBILITY_TIMEOUT={raw!r} is not a whole number of seconds: give "
            f"one longer than the longest step, e.g. {DEFAULT_VISIBILITY_TIMEOUT_S}"
        )
    return int(raw)


def celery_config(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The ``celery_executor`` config (also the workers'): broker, backend, Celery settings."""
    env = os.environ if env is None else env
    broker = env.get("RESNET_CELERY_BROKER", "").strip()
    if not broker:
        raise ExecutorSettingsError(
            "RESNET_EXECUTOR=celery needs RESNET_CELERY_BROKER, the broker URL the workers "
            "listen on, e.g. RESNET_CELERY_BROKER=redis://127.0.0.1:6379/0"
        )
    backend = env.get("RESNET_CELERY_BACKEND", "").strip() or broker
    timeout = _visibility_timeout(env)
    return {
        "broker": broker,
        "backend": backend,
        "config_source": {
            # a step is acknowledged when done: a worker lost mid-step leaves it to another
            "task_acks_late": True,
            "task_reject_on_worker_lost": True,
            # a worker holds only the step it runs, not a queue of others it might die with
            "worker_prefetch_multiplier": 1,
            "broker_transport_options": {
                **_DAGSTER_CELERY_TRANSPORT,  # this block replaces dagster-celery's whole
                "visibility_timeout": timeout,
                # Redis: how often a worker looks for steps a lost worker left unfinished
                "unacked_restore_interval": max(1, min(10, timeout // 5)),
                "unacked_restore_throttle": 1,
            },
            "result_backend_transport_options": {"visibility_timeout": timeout},
            "broker_connection_retry_on_startup": True,
        },
    }


def select_executor(env: Mapping[str, str] | None = None) -> dg.ExecutorDefinition | None:
    """The executor for ``Definitions(executor=...)``; None keeps Dagster's default."""
    kind = executor_kind(env)
    if kind == "in_process":
        return dg.in_process_executor
    if kind == "multiprocess":
        return dg.multiprocess_executor
    if kind == "celery":
        try:
            from dagster_celery import celery_executor
        except ImportError:
            raise ExecutorSettingsError(
                "RESNET_EXECUTOR=celery needs dagster-celery: pip install -e '.[scale]' "
                "(or RESNET_SCALE=1 bash scripts/setup.sh)"
            ) from None
        return celery_executor.configured(celery_config(env), name=CELERY_EXECUTOR)
    return None


def executor_name(env: Mapping[str, str] | None = None) -> str:
    """The name of the executor ``select_executor(env)`` gives every job (without importing
    dagster-celery): what a step reads to know how its run executes steps."""
    return {
        "default": dg.multi_or_in_process_executor.name,
        "in_process": dg.in_process_executor.name,
        "multiprocess": dg.multiprocess_executor.name,
        "celery": CELERY_EXECUTOR,
    }[executor_kind(env)]


def worker_yaml(env: Mapping[str, str] | None = None) -> str:
    """The file ``dagster-celery worker start -y FILE`` reads: the executor's own config."""
    import yaml

    return yaml.safe_dump({"execution": {"config": celery_config(env)}}, sort_keys=False)


if __name__ == "__main__":
    try:
        sys.stdout.write(worker_yaml())
    except ExecutorSettingsError as error:
        sys.exit(str(error))
