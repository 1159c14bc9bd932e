"""The UI the docs point to after the demo: `bash scripts/ui.sh` on the demo's instance opens it
with the demo's symbols and months, and what the demo materialized shows filled."""

from __future__ import annotations

import shutil
from datetime import date

import dagster as dg
import pytest

from resnet_pipeline.cli.demo import NOISE, PLANTED, demo_environment, write_demo_settings
from resnet_pipeline.commands import month_key
from resnet_pipeline.definitions import build_definitions
from resnet_pipeline.settings import load_settings
from resnet_pipeline_tests.dagster_ui import REPO, ui_script

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (REPO / ".venv" / "bin" / "activate").is_file(),
        reason="scripts/ui.sh activates the repository's .venv (scripts/setup.sh makes it)",
    ),
]

RAW_CANDLES = """
query Raw($partitions: [String!]) {
  assetNodeOrError(assetKey: {path: ["raw_candles"]}) {
    ... on AssetNode {
      partitionKeysByDimension { name partitionKeys }
      partitionStats { numMaterialized }
    }
  }
  assetOrError(assetKey: {path: ["raw_candles"]}) {
    ... on Asset { assetMaterializations(partitions: $partitions) { partition runId } }
  }
}"""


def test_ui_sh_after_the_demo_shows_the_demo_s_symbols_months_and_materializations(
    tmp_path, monkeypatch
):
    # the instance as the demo leaves it: its settings recorded, one of its partitions filled
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    env = {"RESNET_DATA_DIR": str(tmp_path / "data")}
    demo_environment(env)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    write_demo_settings(home, env)
    partition = month_key(PLANTED, date.fromisoformat(env["RESNET_FIRST_MONTH"] + "-01"))
    ingestion = build_definitions(load_settings(env)).resolve_job_def("ingestion_job")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        result = ingestion.execute_in_process(
            partition_key=partition,
            instance=instance,
            asset_selection=[dg.AssetKey("raw_candles")],
        )
    assert result.success

    # ui.sh sees none of the test's RESNET_* variables: the demo's come from the file alone
    with ui_script(home, {}) as ui:
        data = ui.graphql(RAW_CANDLES, {"partitions": [partition]})
    node = data["assetNodeOrError"]
    dimensions = {d["name"]: d["partitionKeys"] for d in node["partitionKeysByDimension"]}
    assert dimensions["symbol"] == [PLANTED, NOISE]  # not BTCUSDT, ETHUSDT
    assert dimensions["month"][0] == "2024-04-01"  # the demo's first month
    assert node["partitionStats"]["numMaterialized"] == 1
    mats = data["assetOrError"]["assetMaterializations"]
    assert [m["partition"] for m in mats] == [partition]
    assert mats[0]["runId"] == result.run_id
