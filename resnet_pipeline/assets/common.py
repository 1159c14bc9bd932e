"""The partitions the walk-forward and experiment assets still read at import (moving to defs/)."""

from resnet_pipeline.partitions import last_month, symbol_month_partitions, symbol_partitions
from resnet_pipeline.settings import current_settings

SYMBOL_MONTH = symbol_month_partitions(current_settings())
SYMBOL = symbol_partitions(current_settings())
LAST_MONTH, LAST_MONTH_REASON = last_month(current_settings())
from resnet_pipeline.defs.metadata import OWNERS, markdown_table, plain  # noqa: E402, F401
from resnet_pipeline.partitions import Partitions  # noqa: E402

PARTITIONS = Partitions.of(current_settings())
