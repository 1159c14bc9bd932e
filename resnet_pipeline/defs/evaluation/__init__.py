"""What a trained model is worth: test metrics, the backtest report and the latest signal."""

import dagster as dg

from resnet_pipeline.defs.evaluation import backtest_report, latest_signal, test_metrics
from resnet_pipeline.partitions import Partitions
from resnet_pipeline.settings import Settings


def build_defs(settings: Settings, partitions: Partitions) -> dg.Definitions:
    return dg.Definitions.merge(
        test_metrics.build(partitions),
        backtest_report.build(partitions),
        latest_signal.build(partitions),
    )
