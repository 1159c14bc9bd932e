"""Declarative automation (follow_new_candles) never launches a run that is bound to fail, and on
the 1st features of the new month wait for the closed month's candles (issue 10)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from resnet_pipeline_tests._pipeline import asset, job
from resnet_pipeline_tests._resources import pipeline_resources
from resnet_pipeline_tests.conftest import WAIT, HeldFetch

features = asset("features")
ingestion_job = job("ingestion_job")
labels = asset("labels")
raw_candles = asset("raw_candles")


def _graph(root: Path) -> dg.Definitions:
    return dg.Definitions(
        assets=[raw_candles, features, labels], resources=pipeline_resources(root)
    )


def _ingest(key: str, root: Path, instance, as_of: str | None = None, source=None) -> None:
    result = dg.materialize(
        [raw_candles],
        partition_key=key,
        resources=pipeline_resources(root, source),
        instance=instance,
        run_config={"ops": {"raw_candles": {"config": {"as_of": as_of}}}},
    )
    assert result.success


def _requested(result) -> set[tuple[str, str]]:
    return {
        (key.to_user_string(), partition)
        for key in (dg.AssetKey("features"), dg.AssetKey("labels"))
        for partition in result.get_requested_partitions(key)
    }


def test_a_month_whose_own_candles_are_missing_is_never_requested(tmp_path: Path) -> None:
    """ETHUSDT has February's candles but not January's: labels(January) would fail (its own
    candles are missing) and features(February) would warm up on nothing. BTCUSDT, whose
    candles landed normally, still gets both months."""
    with dg.instance_for_test() as instance:
        when = datetime(2024, 2, 15, 0, 20, tzinfo=UTC)
        tick = dg.evaluate_automation_conditions(
            defs=_graph(tmp_path), instance=instance, evaluation_time=when
        )
        for key in ("2024-01-01|BTCUSDT", "2024-02-01|BTCUSDT", "2024-02-01|ETHUSDT"):
            _ingest(key, tmp_path, instance, as_of="2024-02-15T00:10:00Z")
        requested = set()
        for _ in range(3):  # and not on any later tick either
            tick = dg.evaluate_automation_conditions(
                defs=_graph(tmp_path), instance=instance, evaluation_time=when, cursor=tick.cursor
            )
            requested |= _requested(tick)
        assert ("labels", "2024-01-01|ETHUSDT") not in requested
        assert ("features", "2024-01-01|ETHUSDT") not in requested
        assert ("features", "2024-02-01|ETHUSDT") not in requested
        # the normal case: new candles of both months request both months
        assert {
            (asset, f"2024-0{m}-01|BTCUSDT") for asset in ("features", "labels") for m in (1, 2)
        } <= requested
        # February's labels need only February's candles (there is no March yet): requested
        assert ("labels", "2024-02-01|ETHUSDT") in requested


def test_on_the_first_features_of_the_new_month_wait_for_the_closed_month(
    tmp_path: Path, held_fetch: HeldFetch
) -> None:
    """March 1st: the schedule's February run (completing February) is still running when
    March's first candles land; features(March) would warm up on February minus its last day.
    Nothing is requested until February's run has stored its candles; then features(March) and
    labels(February) (whose tail needs March) are."""
    key_feb, key_mar = "2024-02-01|BTCUSDT", "2024-03-01|BTCUSDT"
    when = datetime(2024, 3, 1, 0, 15, tzinfo=UTC)
    with dg.instance_for_test() as instance:
        _ingest(key_feb, tmp_path, instance, as_of="2024-02-29T00:10:00Z")  # yesterday's run
        tick = dg.evaluate_automation_conditions(
            defs=_graph(tmp_path), instance=instance, evaluation_time=when
        )
        held = held_fetch.source()
        closing = threading.Thread(
            target=_ingest,
            args=(key_feb, tmp_path, instance, "2024-03-01T00:10:00Z", held),
        )
        closing.start()
        try:
            assert held_fetch.entered.wait(WAIT)  # February's run is in progress
            _ingest(key_mar, tmp_path, instance, as_of="2024-03-01T00:12:00Z")
            tick = dg.evaluate_automation_conditions(
                defs=_graph(tmp_path), instance=instance, evaluation_time=when, cursor=tick.cursor
            )
            assert ("features", key_mar) not in _requested(tick)
            assert ("labels", key_feb) not in _requested(tick)
        finally:
            held_fetch.release.set()
            closing.join(WAIT)
        tick = dg.evaluate_automation_conditions(
            defs=_graph(tmp_path), instance=instance, evaluation_time=when, cursor=tick.cursor
        )
        assert {("features", key_mar), ("labels", key_feb)} <= _requested(tick)


def test_a_closed_month_run_still_queued_holds_the_new_months_features(tmp_path: Path) -> None:
    """The run queue may start the running month's run first: while the closed month's run is
    only created (not launched), features(March) still wait for it."""
    key_feb, key_mar = "2024-02-01|BTCUSDT", "2024-03-01|BTCUSDT"
    when = datetime(2024, 3, 1, 0, 15, tzinfo=UTC)
    defs = dg.Definitions.merge(_graph(tmp_path), dg.Definitions(jobs=[ingestion_job]))
    with dg.instance_for_test() as instance:
        _ingest(key_feb, tmp_path, instance, as_of="2024-02-29T00:10:00Z")  # yesterday's run
        tick = dg.evaluate_automation_conditions(defs=defs, instance=instance, evaluation_time=when)
        queued = instance.create_run_for_job(
            job_def=defs.resolve_job_def("ingestion_job"),
            status=dg.DagsterRunStatus.NOT_STARTED,  # created, not launched (queued)
            asset_selection=frozenset({raw_candles.key}),
            tags={"dagster/partition": key_feb, **_partition_tags(key_feb)},
        )
        _ingest(key_mar, tmp_path, instance, as_of="2024-03-01T00:12:00Z")
        tick = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, evaluation_time=when, cursor=tick.cursor
        )
        assert ("features", key_mar) not in _requested(tick)
        instance.report_run_canceled(queued)  # stands for the queued run having completed it
        _ingest(key_feb, tmp_path, instance, as_of="2024-03-01T00:10:00Z")
        tick = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, evaluation_time=when, cursor=tick.cursor
        )
        assert ("features", key_mar) in _requested(tick)


def _partition_tags(key: str) -> dict[str, str]:
    month, symbol = key.split("|")
    return {"dagster/partition/month": month, "dagster/partition/symbol": symbol}
