"""The project's definitions with the executor that ``RESNET_EXECUTOR`` selects.

Until ``resnet_pipeline.definitions`` passes ``executor=select_executor()`` itself, the scale-out
tests and benchmark load this module (``-m resnet_pipeline_tests._scale_defs``), the Celery
workers too: the same assets, jobs and resources, nothing stubbed.
"""

import dagster as dg

from resnet_pipeline import definitions
from resnet_pipeline.executors import select_executor


def _with_executor() -> dg.Definitions:
    executor = select_executor()
    if executor is None or definitions.defs.executor is not None:
        return definitions.defs
    return dg.Definitions.merge(definitions.defs, dg.Definitions(executor=executor))


defs = _with_executor()
