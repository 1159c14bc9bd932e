"""(being written)"""

import dagster as dg

defs = dg.Definitions()
