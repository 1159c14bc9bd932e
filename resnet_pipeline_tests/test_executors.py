"""RESNET_EXECUTOR picks the executor; Celery settings are complete, checked, and shared by the
executor and the workers' YAML (the Celery cluster itself: test_scale_out.py)."""

from __future__ import annotations

import importlib.util
import sys

import dagster as dg
import pytest
import yaml

from resnet_pipeline.definitions import build_definitions
from resnet_pipeline.executors import (
    DEFAULT_VISIBILITY_TIMEOUT_S,
    ExecutorSettingsError,
    celery_config,
    executor_name,
    select_executor,
    worker_yaml,
)
from resnet_pipeline.run_liveness import bind_step, runs_steps_in_subprocesses
from resnet_pipeline_tests._pipeline import SETTINGS, pipeline_defs

BROKER = {"RESNET_EXECUTOR": "celery", "RESNET_CELERY_BROKER": "redis://127.0.0.1:6399/0"}
HAS_CELERY = importlib.util.find_spec("dagster_celery") is not None


def test_default_keeps_dagsters_executor_and_names_pick_the_others() -> None:
    assert select_executor({}) is None
    assert select_executor({"RESNET_EXECUTOR": "default"}) is None
    assert select_executor({"RESNET_EXECUTOR": "in_process"}) is dg.in_process_executor
    assert select_executor({"RESNET_EXECUTOR": " Multiprocess "}) is dg.multiprocess_executor


def test_unknown_executor_names_the_variable_and_the_choices() -> None:
    with pytest.raises(ExecutorSettingsError, match=r"RESNET_EXECUTOR='k8s'.*celery"):
        select_executor({"RESNET_EXECUTOR": "k8s"})


def test_celery_without_a_broker_says_which_variable_to_set() -> None:
    with pytest.raises(ExecutorSettingsError, match=r"needs RESNET_CELERY_BROKER.*redis://"):
        celery_config({"RESNET_EXECUTOR": "celery"})


@pytest.mark.parametrize("bad", ["0", "-5", "1h", "2.5"])
def test_bad_visibility_timeout_is_refused_with_a_usable_value(bad: str) -> None:
    with pytest.raises(ExecutorSettingsError, match="RESNET_CELERY_VISIBILITY_TIMEOUT"):
        celery_config({**BROKER, "RESNET_CELERY_VISIBILITY_TIMEOUT": bad})


def test_celery_config_keeps_a_lost_workers_step_for_another_worker() -> None:
    config = celery_config(BROKER)
    assert config["broker"] == config["backend"] == BROKER["RESNET_CELERY_BROKER"]
    celery = config["config_source"]
    # acknowledged when done, not when received: a worker killed mid-step loses nothing
    assert celery["task_acks_late"] and celery["task_reject_on_worker_lost"]
    assert celery["worker_prefetch_multiplier"] == 1
    transport = celery["broker_transport_options"]
    # long enough for a training step: a shorter one would hand a running step out twice
    assert transport["visibility_timeout"] == DEFAULT_VISIBILITY_TIMEOUT_S >= 6 * 3600
    assert transport["max_retries"] == 3  # dagster-celery's publish retries are kept
    short = celery_config({**BROKER, "RESNET_CELERY_VISIBILITY_TIMEOUT": "20"})
    assert short["config_source"]["broker_transport_options"]["unacked_restore_interval"] == 4


def test_worker_yaml_is_the_executor_config_dagster_celery_reads() -> None:
    env = {**BROKER, "RESNET_CELERY_BACKEND": "redis://127.0.0.1:6399/1"}
    assert yaml.safe_load(worker_yaml(env)) == {"execution": {"config": celery_config(env)}}


@pytest.mark.skipif(not HAS_CELERY, reason="dagster-celery not installed (the scale extra)")
def test_celery_executor_is_dagster_celerys_configured_from_the_environment() -> None:
    executor = select_executor(BROKER)
    assert executor is not None and executor.name == "celery"
    defs = dg.Definitions(assets=[_one], executor=executor)
    assert defs.resolve_implicit_global_asset_job_def().executor_def is executor


@dg.asset
def _one() -> int:
    return 1


def test_celery_without_the_extra_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "dagster_celery", None)  # as if not installed
    with pytest.raises(ExecutorSettingsError, match=r"\.\[scale\]"):
        select_executor(BROKER)


def _executors_of_the_definitions(env: dict[str, str]) -> set[str]:
    """The executor names the definitions' jobs get under ``env``."""
    defs = build_definitions(SETTINGS, env)
    jobs = [defs.resolve_implicit_global_asset_job_def()]
    jobs += [defs.resolve_job_def(name) for name in ("training_job", "ingestion_job")]
    return {job.executor_def.name for job in jobs}


def test_definitions_keep_dagsters_default_unless_resnet_executor_says() -> None:
    default = dg.Definitions(assets=[_one]).resolve_implicit_global_asset_job_def()
    assert _executors_of_the_definitions({}) == {default.executor_def.name}
    assert _executors_of_the_definitions({"RESNET_EXECUTOR": "in_process"}) == {"in_process"}
    if HAS_CELERY:  # what `-m resnet_pipeline.definitions` gives runs and workers alike
        assert _executors_of_the_definitions(BROKER) == {"celery"}


def test_a_step_knows_the_executor_of_every_job_of_the_definitions() -> None:
    """``executor_name`` (what a step's resource reads) is the executor each job of the
    definitions gets: no job names its own."""
    for env in ({}, {"RESNET_EXECUTOR": "in_process"}, {"RESNET_EXECUTOR": "multiprocess"}):
        assert _executors_of_the_definitions(env) == {executor_name(env)}
    every_job = {job.executor_def.name for job in pipeline_defs().resolve_all_job_defs()}
    assert every_job == {executor_name({})}
    if HAS_CELERY:
        assert _executors_of_the_definitions(BROKER) == {executor_name(BROKER)}


def test_which_runs_execute_their_steps_in_subprocesses() -> None:
    default, in_process = dg.multi_or_in_process_executor.name, dg.in_process_executor.name
    in_process_config = {"execution": {"config": {"in_process": {}}}}
    assert runs_steps_in_subprocesses(default, {})
    assert runs_steps_in_subprocesses(default, {"execution": {"config": {"multiprocess": {}}}})
    assert not runs_steps_in_subprocesses(default, in_process_config)
    assert runs_steps_in_subprocesses(dg.multiprocess_executor.name, {})
    assert not runs_steps_in_subprocesses(in_process, {})
    assert not runs_steps_in_subprocesses("celery", {})
    assert bind_step(None, "multiprocess") is False  # a resource built outside a run (a sensor's)
