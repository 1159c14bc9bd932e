"""Thin Dagster assets, one module per group: load inputs, call the domain, return metadata."""
