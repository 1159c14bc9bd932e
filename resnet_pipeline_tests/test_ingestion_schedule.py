"""The daily_candles schedule and the ingestion job, evaluated for given dates."""

from __future__ import annotations

from datetime import UTC, date, datetime

import dagster as dg

from resnet_pipeline.assets import ingestion
from resnet_pipeline.assets.common import SETTINGS, SYMBOL_MONTH
from resnet_pipeline.assets.ingestion import daily_candles, run_tags, scheduled_months
from resnet_pipeline.resources.candle_source import CandleSourceResource
from resnet_pipeline.resources.io_manager import DataStore, MonthlyParquetIOManagerFactory

DEFS = dg.Definitions.merge(
    ingestion.defs,
    dg.Definitions(
        resources={
            "io_manager": MonthlyParquetIOManagerFactory(root="unused"),
            "store": DataStore(root="unused"),
            "candle_source": CandleSourceResource(kind="synthetic"),
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
    # the run keys name the day: tomorrow's ticks are new runs, a re-evaluated tick is not
    other_day = {r.run_key for r in _requests(datetime(2024, 3, 2, 0, 10, tzinfo=UTC))}
    assert not other_day & {r.run_key for r in requests}


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
