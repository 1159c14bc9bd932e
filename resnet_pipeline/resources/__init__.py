"""Dagster resources: storage (IO manager, data root) and candle sources."""
