"""The daily_candles schedule and the ingestion job, evaluated for given dates."""

from __future__ import annotations

from datetime import UTC, date, datetime

import dagster as dg

from resnet_pipeline.defs import ingestion
from resnet_pipeline.defs.ingestion.daily_candles import scheduled_months
from resnet_pipeline.defs.ingestion.raw_candles import run_tags
from resnet_pipeline.resources.candle_source import SyntheticCandles
from resnet_pipeline.resources.io_manager import DataStore, MonthlyParquetIOManagerFactory
from resnet_pipeline_tests._pipeline import (
    PARTITIONS,
    SETTINGS,
    SYMBOL_MONTH,
    asset,
    asset_check,
    schedule,
)

daily_candles = schedule("daily_candles")
features = asset("features")
labels = asset("labels")
raw_candles = asset("raw_candles")
raw_candles_quality = asset_check("raw_candles_quality")


DEFS = dg.Definitions.merge(
    ingestion.build_defs(SETTINGS, PARTITIONS),
    dg.Definitions(
        resources={
            "io_manager": MonthlyParquetIOManagerFactory(root="unused"),
            "store": DataStore(root="unused"),
            "candle_source": SyntheticCandles(),
        }
    ),
)


def _requests(when: datetime) -> list[dg.RunRequest]:
    context = dg.build_schedule_context(
        scheduled_execution_time=when, repository_def=DEFS.get_repository_def()
    )
    return list(daily_candles.evaluate_tick(context).run_requests or [])


def test_mid_month_runs_the_running_month_for_every_symbol() -> None:
    requests = _requests(datetime(2024, 3, 15, 0, 10, tzinfo=UTC))
    assert [r.partition_key for r in requests] == [f"2024-03-01|{s}" for s in SETTINGS.symbols]
    assert len({r.run_key for r in requests}) == len(requests)
    assert all(r.tags["dagster/max_retries"] == "2" for r in requests)
    assert set(SYMBOL_MONTH.get_partition_keys(current_time=datetime(2024, 3, 15))) >= {
        r.partition_key for r in requests
    }


def test_first_of_the_month_also_completes_the_month_that_closed() -> None:
    requests = _requests(datetime(2024, 3, 1, 0, 10, tzinfo=UTC))
    keys = [r.partition_key for r in requests]
    assert keys == [f"2024-02-01|{s}" for s in SETTINGS.symbols] + [
        f"2024-03-01|{s}" for s in SETTINGS.symbols
    ]
    # The closed month's runs are whole (candles, features, labels). The running month's runs
    # ingest candles only: its features warm up on the closed month, which is still being
    # completed, so they follow by automation once it is stored (test_automation.py).
    closed, running = requests[: len(SETTINGS.symbols)], requests[len(SETTINGS.symbols) :]
    assert all(r.asset_selection is None for r in closed)
    assert all(r.asset_selection == [raw_candles.key] for r in running)
    assert all(set(r.asset_check_keys) == set(raw_candles_quality.check_keys) for r in running)
    # the run keys name the day: tomorrow's ticks are new runs, a re-evaluated tick is not
    other_day = {r.run_key for r in _requests(datetime(2024, 3, 2, 0, 10, tzinfo=UTC))}
    assert not other_day & {r.run_key for r in requests}


def test_the_running_months_request_runs_candles_and_their_checks_only(tmp_path) -> None:
    """The request is executable as it stands: raw_candles and its blocking checks, no
    features(M) computed on the closed month's incomplete candles."""
    request = _requests(datetime(2024, 3, 1, 0, 10, tzinfo=UTC))[-1]
    store = DataStore(root=str(tmp_path))
    defs = dg.Definitions.merge(
        ingestion.build_defs(SETTINGS, PARTITIONS),
        dg.Definitions(
            assets=[features, labels],
            resources={
                "io_manager": MonthlyParquetIOManagerFactory(store=store),
                "store": store,
                "candle_source": SyntheticCandles(),
            },
        ),
    )
    job = defs.resolve_job_def("ingestion_job").get_subset(
        asset_selection=set(request.asset_selection),
        asset_check_selection=set(request.asset_check_keys),
    )
    result = job.execute_in_process(
        partition_key=request.partition_key,
        instance=dg.DagsterInstance.ephemeral(),
        run_config={"ops": {"raw_candles": {"config": {"as_of": "2024-03-01T00:10:00Z"}}}},
    )
    assert result.success
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    assert materialized == {raw_candles.key}
    assert {c.check_name for c in result.get_asset_check_evaluations()} == {
        k.name for k in raw_candles_quality.check_keys
    }


def test_year_boundary_and_first_month() -> None:
    assert scheduled_months(date(2025, 1, 1), date(2024, 1, 1)) == [
        date(2024, 12, 1),
        date(2025, 1, 1),
    ]
    assert scheduled_months(date(2024, 1, 1), date(2024, 1, 1)) == [date(2024, 1, 1)]
    assert scheduled_months(date(2023, 6, 9), date(2024, 1, 1)) == []


def test_schedule_and_job_definition() -> None:
    assert daily_candles.cron_schedule == "10 0 * * *"
    assert daily_candles.execution_timezone == "UTC"
    job = DEFS.resolve_job_def("ingestion_job")
    assert dg.AssetKey("raw_candles") in job.asset_layer.executable_asset_keys
    assert run_tags("bybit")["resnet_pipeline/resource"] == "exchange"
    assert "resnet_pipeline/resource" not in run_tags("synthetic")
