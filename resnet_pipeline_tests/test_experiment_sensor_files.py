"""The experiment sensor reads each file on its own: a hostile or broken file is named in the
tick's log and registers nothing, and every other file's partitions are added as usual."""

from pathlib import Path

import dagster as dg

from resnet_pipeline.defs.experiments import experiment_partitions as partitions_sensor
from resnet_pipeline.partitions import EXPERIMENT_MONTHS, EXPERIMENT_REPORTS, EXPERIMENT_TRIALS
from resnet_pipeline.resources.experiment_directory import ExperimentDirectory
from resnet_pipeline.resources.venue import TradingVenue
from resnet_pipeline_tests._pipeline import PARTITIONS

GOOD = """
months: [2024-02, 2024-03]
symbols: [BTCUSDT]
variants:
  - name: spec
"""
HOSTILE = {
    "latin1.yaml": "months: [2024-02]\nvariants:\n  - name: caf\xe9\n".encode("latin-1"),
    "utf16.yaml": GOOD.encode("utf-16"),
    "deep.yaml": b"months: " + b"[" * 5000 + b"]" * 5000 + b"\n",
    "bomb.yaml": b'a: &a ["x","x"]\nb: &b [*a,*a]\nc: &c [*b,*b]\nmonths: [*c,*c]\n',
    "twice.yaml": b"months: [2024-02]\nmonths: [2024-03]\nvariants:\n  - name: spec\n",
    "nameless.yaml": b"months: [2024-02]\nvariants:\n  - name:\n",
    "future.yaml": b"months: [2030-01, 2030-02]\nvariants:\n  - name: later\n",
    "no-history.yaml": b"months: [2024-01]\nvariants:\n  - name: first\n",
}


def test_one_bad_file_is_named_and_skipped_and_the_others_register(tmp_path: Path, capfd):
    directory = tmp_path / "experiments"
    directory.mkdir()
    (directory / "good.yaml").write_text(GOOD)
    for name, content in HOSTILE.items():
        (directory / name).write_bytes(content)
    context = dg.build_sensor_context(
        instance=dg.DagsterInstance.ephemeral(),
        resources={
            "experiments": ExperimentDirectory(directory=str(directory), symbols=["BTCUSDT"]),
            "venue": TradingVenue(),
        },
    )
    result = partitions_sensor.build(PARTITIONS.months)(context)
    added = {r.partitions_def_name: r.partition_keys for r in result.dynamic_partitions_requests}
    assert added == {
        EXPERIMENT_TRIALS.name: ["good:BTCUSDT:spec"],
        EXPERIMENT_MONTHS.name: ["2024-02-01", "2024-03-01"],
        EXPERIMENT_REPORTS.name: ["good:BTCUSDT"],
    }
    assert [r.partition_key for r in result.run_requests] == ["good:BTCUSDT:spec"]
    warned = capfd.readouterr().err  # the tick's log (Dagster's console logger)
    for name in HOSTILE:
        assert str(directory / name) in warned, name
    assert "2030-02 is after the last month partition" in warned
    assert "has no month partition before it to train on" in warned
