"""Experiments (SPEC 14): variants of the one typed configuration, kept as data in a file,
each evaluated by the walk-forward of SPEC 13, recorded in a ledger that never forgets a trial,
and judged together by a verdict that counts every trial.

Domain modules, no Dagster: ``variant_config`` (the sections of the one config),
``experiment_file`` (reading, expanding and validating a file), ``trial_keys`` (partition
keys), ``ledger`` (the trials ever evaluated), ``variant_fold`` (one variant's fold),
``scoring`` / ``strategy_returns`` / ``verdict_report`` (the experiment report). The command
line (``python -m resnet_pipeline.cli.experiments``) is shell: it registers partitions with Dagster.
"""
