"""The Definitions load, and the interface users script against is what the SPEC names."""

import dagster as dg

from resnet_pipeline_tests._pipeline import asset_check, pipeline_defs

raw_candles_quality = asset_check("raw_candles_quality")

ASSETS = {
    "raw_candles": ("ingestion", "symbol_month"),
    "features": ("features", "symbol_month"),
    "labels": ("features", "symbol_month"),
    "dataset_splits": ("modeling", "symbol"),
    "trained_model": ("modeling", "symbol"),
    "test_metrics": ("evaluation", "symbol"),
    "backtest_report": ("evaluation", "symbol"),
    "latest_signal": ("evaluation", "symbol"),
    "wf_model": ("walk_forward", "symbol_month"),
    "wf_predictions": ("walk_forward", "symbol_month"),
    "wf_report": ("walk_forward", "symbol"),
    "experiment_variant": ("experiments", "trial"),
    "experiment_fold": ("experiments", "month_trial"),
    "experiment_report": ("experiments", "experiment_symbol"),
}
KINDS = {
    "symbol_month": "MultiPartitionsDefinition",
    "symbol": "StaticPartitionsDefinition",
    "trial": "DynamicPartitionsDefinition",
    "month_trial": "MultiPartitionsDefinition",
    "experiment_symbol": "DynamicPartitionsDefinition",
}


def test_asset_keys_groups_and_partitions():
    graph = pipeline_defs().resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert keys == set(ASSETS)
    for key, (group, partitions) in ASSETS.items():
        node = graph.get(dg.AssetKey(key))
        assert node.group_name == group
        kind = type(node.partitions_def).__name__
        assert kind == KINDS[partitions], key
        assert node.description and node.owners and node.kinds, f"{key} lacks UI information"
        assert node.code_version, f"{key} has no code version (it would show stale after restart)"


def test_partition_keys_look_like_the_cli_takes_them():
    graph = pipeline_defs().resolve_asset_graph()
    keys = graph.get(dg.AssetKey("raw_candles")).partitions_def.get_partition_keys()
    assert "2024-01-01|BTCUSDT" in keys and "2024-01-01|ETHUSDT" in keys
    assert graph.get(dg.AssetKey("trained_model")).partitions_def.get_partition_keys() == [
        "BTCUSDT",
        "ETHUSDT",
    ]


def test_jobs_schedule_sensor_and_checks():
    assert pipeline_defs().resolve_job_def("ingestion_job") is not None
    training = pipeline_defs().resolve_job_def("training_job")
    assert training.tags["resnet_pipeline/resource"] == "trainer"
    schedule = pipeline_defs().resolve_schedule_def("daily_candles")
    assert schedule.cron_schedule == "10 0 * * *"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    sensor = pipeline_defs().resolve_sensor_def("follow_new_candles")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    experiments = pipeline_defs().resolve_sensor_def("experiment_partitions")
    assert experiments.default_status == dg.DefaultSensorStatus.RUNNING
    for job in ("experiment_variant_job", "experiment_job", "experiment_report_job"):
        assert pipeline_defs().resolve_job_def(job) is not None
    checks = {k.name for k in pipeline_defs().resolve_asset_graph().asset_check_keys}
    assert {"features_sound", "labels_sound", "timestamps_valid", "month_complete"} <= checks


def test_every_quality_rule_is_an_asset_check_with_its_description():
    from resnet_pipeline.market.quality_rules import QUALITY_RULES

    specs = {
        spec.key.name: spec
        for spec in raw_candles_quality.check_specs
        if spec.key.name != "month_complete"
    }
    assert {rule.name: rule.description for rule in QUALITY_RULES} == {
        name: spec.description for name, spec in specs.items()
    }


def test_one_training_at_a_time_however_it_is_launched(tmp_path, monkeypatch):
    """On one machine the training lock keeps trainings apart, so the instance limits nothing a
    run killed with kill -9 (which can stay "Started") could hold: no `trainer` pool limit, no
    run tag limit on training runs. Across machines the shared Postgres instance limits the
    `trainer` pool, which both training assets are in, to 1."""
    import shutil
    from pathlib import Path

    import yaml

    from resnet_pipeline.training_lock import TRAINER_POOL

    for key in ("trained_model", "wf_model"):
        assert pipeline_defs().resolve_assets_def(key).op.pool == TRAINER_POOL
    repo = Path(__file__).resolve().parents[1]
    shutil.copy(repo / "dagster.yaml", tmp_path / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    with dg.DagsterInstance.get() as instance:
        config = instance.get_concurrency_config()
        assert config.pool_config.default_pool_limit is None
        limits = config.run_queue_config.tag_concurrency_limits
        assert not [limit for limit in limits if limit["value"] == TRAINER_POOL]
    deploy = yaml.safe_load((repo / "deploy" / "postgres-celery" / "dagster.yaml").read_text())
    assert deploy["concurrency"]["pools"]["default_limit"] == 1


def test_loading_the_definitions_writes_nothing(tmp_path):
    """`dagster definitions validate` and a plain import leave the data root (and everything
    else under it) untouched: the write probe belongs to a run's start."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = tmp_path / "never" / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RESNET_", "BYBIT_"))}
    env.update(RESNET_DATA_DIR=str(root), RESNET_SOURCE="synthetic", DAGSTER_HOME=str(tmp_path))
    dagster = Path(sys.executable).with_name("dagster")
    for args in (
        [sys.executable, "-c", "import resnet_pipeline.definitions"],
        [str(dagster), "definitions", "validate", "-m", "resnet_pipeline.definitions"],
    ):
        run = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stderr[-2000:]
    assert not (tmp_path / "never").exists()


def test_no_module_reads_the_environment_when_imported():
    """Every module imports under settings that would be refused, and the definitions are then
    built from the settings passed in: their partitions follow the argument, not the
    environment."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith(("RESNET_", "BYBIT_"))}
    env.update(RESNET_SOURCE="nowhere", RESNET_SYMBOLS="not a symbol", RESNET_FIRST_MONTH="x")
    script = """
import importlib, pkgutil
import resnet_pipeline
for module in pkgutil.walk_packages(resnet_pipeline.__path__, "resnet_pipeline."):
    importlib.import_module(module.name)
from resnet_pipeline.definitions import build_definitions
from resnet_pipeline.settings import load_settings
defs = build_definitions(load_settings({"RESNET_SYMBOLS": "SOLUSDT", "RESNET_SOURCE": "synthetic"}))
print(sorted(defs.resolve_assets_def("trained_model").partitions_def.get_partition_keys()))
"""
    run = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == "['SOLUSDT']"
