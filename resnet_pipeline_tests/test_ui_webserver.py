"""The Dagster UI as a user meets it: a real `dagster dev` launches a partition of the chain."""

from __future__ import annotations

import time

import pandas as pd
import pytest

from resnet_pipeline_tests._pipeline import asset_check
from resnet_pipeline_tests.dagster_ui import LOCATION, dagster_dev

raw_candles_quality = asset_check("raw_candles_quality")

pytestmark = pytest.mark.slow

PARTITION = "2024-01-01|BTCUSDT"
CHAIN = ["raw_candles", "features", "labels"]

LAUNCH = """
mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on InvalidSubsetError { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}"""
RUN_STATUS = """
query Run($id: ID!) { runOrError(runId: $id) { __typename ... on Run { status } } }"""
MATERIALIZATIONS = """
query Mats($key: AssetKeyInput!, $partitions: [String!]) {
  assetOrError(assetKey: $key) {
    __typename
    ... on Asset {
      assetMaterializations(partitions: $partitions) {
        partition
        runId
        metadataEntries { label __typename ... on IntMetadataEntry { intValue } }
      }
    }
  }
}"""
CHECKS = """
query Checks($key: AssetKeyInput!) {
  assetNodeOrError(assetKey: $key) {
    ... on AssetNode {
      assetChecksOrError {
        ... on AssetChecks {
          checks {
            name
            executionForLatestMaterialization {
              status partition evaluation { severity description }
            }
          }
        }
      }
    }
  }
}"""
ASSET_NODES = """
query { assetNodes { assetKey { path } groupName description kinds owners { __typename } } }"""


def _wait_for_run(ui, run_id: str, timeout: float = 240) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = ui.graphql(RUN_STATUS, {"id": run_id})["runOrError"]["status"]
        if status in ("SUCCESS", "FAILURE", "CANCELED"):
            return status
        time.sleep(1)
    raise TimeoutError(f"run {run_id} still running after {timeout}s")


def test_ui_launches_a_partition_of_the_chain_and_shows_its_materializations(tmp_path):
    data = tmp_path / "data"
    env = {"RESNET_SOURCE": "synthetic", "RESNET_DATA_DIR": str(data)}
    with dagster_dev(tmp_path / "home", env) as ui:
        nodes = {tuple(n["assetKey"]["path"]): n for n in ui.graphql(ASSET_NODES)["assetNodes"]}
        for key in CHAIN:
            assert nodes[(key,)]["description"], f"{key} has no description in the UI"
            assert nodes[(key,)]["kinds"], f"{key} shows no kind in the UI"

        month, symbol = PARTITION.split("|")
        params = {
            "selector": {
                "repositoryLocationName": LOCATION,
                "repositoryName": "__repository__",
                "jobName": "__ASSET_JOB",
                "assetSelection": [{"path": [key]} for key in CHAIN],
            },
            "executionMetadata": {
                "tags": [
                    {"key": "dagster/partition", "value": PARTITION},
                    {"key": "dagster/partition/month", "value": month},
                    {"key": "dagster/partition/symbol", "value": symbol},
                ]
            },
        }
        launched = ui.graphql(LAUNCH, {"params": params})["launchRun"]
        assert launched["__typename"] == "LaunchRunSuccess", launched
        run_id = launched["run"]["runId"]
        assert _wait_for_run(ui, run_id) == "SUCCESS"

        for key in CHAIN:
            asset = ui.graphql(
                MATERIALIZATIONS, {"key": {"path": [key]}, "partitions": [PARTITION]}
            )
            mats = asset["assetOrError"]["assetMaterializations"]
            assert [m["runId"] for m in mats] == [run_id]
            assert mats[0]["partition"] == PARTITION

        raw = ui.graphql(
            MATERIALIZATIONS, {"key": {"path": ["raw_candles"]}, "partitions": [PARTITION]}
        )
        entries = {
            e["label"]: e
            for e in raw["assetOrError"]["assetMaterializations"][0]["metadataEntries"]
        }
        path = data / "raw_candles" / "symbol=BTCUSDT" / "month=2024-01.parquet"
        stored = pd.read_parquet(path)
        assert len(stored) == 31 * 24 * 60
        assert entries["dagster/row_count"]["intValue"] == len(stored)

        # an exchange outage: 60 minutes gone, the completeness check alone run again
        stored.drop(index=range(100, 160)).to_parquet(path)
        params["selector"] |= {
            "assetSelection": [],
            "assetCheckSelection": [  # the checks of one multi-check run together
                {"assetKey": {"path": ["raw_candles"]}, "name": key.name}
                for key in raw_candles_quality.check_keys
            ],
        }
        launched = ui.graphql(LAUNCH, {"params": params})["launchRun"]
        assert launched["__typename"] == "LaunchRunSuccess", launched
        assert _wait_for_run(ui, launched["run"]["runId"]) == "SUCCESS"
        node = ui.graphql(CHECKS, {"key": {"path": ["raw_candles"]}})["assetNodeOrError"]
        checks = {c["name"]: c for c in node["assetChecksOrError"]["checks"]}
        latest = checks["month_complete"]["executionForLatestMaterialization"]
        # FAILED with WARN severity: the UI draws a yellow warning, not a red failure
        assert latest["status"] == "FAILED" and latest["partition"] == PARTITION
        assert latest["evaluation"]["severity"] == "WARN"
        assert latest["evaluation"]["description"].startswith(
            "warning: 60 minutes missing in 2024-01 (exchange outage, not filled)"
        )
