"""Candles: schema, validation, merging, ingestion planning, and the candle sources."""
