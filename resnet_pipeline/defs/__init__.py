"""The Dagster definitions, one package per domain (ingestion, features, training, evaluation,
walk_forward, experiments). Each domain's ``build_defs(settings, partitions)`` returns its
assets, checks, jobs, sensors and schedules; ``resnet_pipeline.definitions`` merges them."""
