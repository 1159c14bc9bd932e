"""The trial ledger (SPEC 14): every configuration ever evaluated for (experiment, symbol).

A trial is a resolved configuration, identified by its hash (``VariantConfig.config_hash``).
Its folder (``Layout.experiment(E, S).trial(hash)``) holds ``trial.json`` (the configuration,
its hash and the name of the variant that first ran it, written once by its first fold), its
folds (model, fold.json with the fold's results, predictions) and the daily strategy returns
the latest report scored. Nothing removes a trial: a variant deleted from the file, or whose
configuration changed (another hash, another folder), stays, so N, the ledger's size, never
shrinks by editing the file. One file per trial, each written atomically, so folds of
different trials on different workers never write the same file.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from resnet_pipeline.artifacts import exists, fresh, read_json, write_json_atomic
from resnet_pipeline.layout import ExperimentFiles, TrialFiles


@dataclass(frozen=True)
class TrialRecord:
    experiment: str
    symbol: str
    variant: str  # the variant that first evaluated this configuration
    config_hash: str
    config: dict[str, dict[str, Any]]  # VariantConfig.sections()
    created: str  # UTC, when its first fold was trained

    def to_dict(self) -> dict:
        return asdict(self)


def new_record(
    experiment: str, symbol: str, variant: str, config_hash: str, config: dict
) -> TrialRecord:
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return TrialRecord(experiment, symbol, variant, config_hash, config, created)


def record_trial(files: ExperimentFiles, record: TrialRecord) -> TrialRecord:
    """Enter ``record`` in the ledger unless its configuration is there already (the first
    record stays: its variant name and time)."""
    path = files.trial(record.config_hash).record
    if exists(path):
        return read_record(files.trial(record.config_hash))
    write_json_atomic(path, record.to_dict())
    return record


def read_record(trial: TrialFiles) -> TrialRecord:
    return TrialRecord(**read_json(trial.record))


def ledger(files: ExperimentFiles) -> list[TrialRecord]:
    """Every trial of the experiment and symbol, oldest first (N = its length)."""
    folder = fresh(files.trials_folder)
    if not folder.exists():
        return []
    records = [
        read_record(files.trial(child.name))
        for child in folder.iterdir()
        if exists(files.trial(child.name).record)
    ]
    return sorted(records, key=lambda r: (r.created, r.config_hash))


def latest_of_variant(records: list[TrialRecord], variant: str) -> TrialRecord | None:
    """The newest trial first run under ``variant``'s name (a variant deleted from the file
    keeps this configuration)."""
    named = [r for r in records if r.variant == variant]
    return named[-1] if named else None


def predicted_months(trial: TrialFiles, months: tuple[date, ...]) -> list[date]:
    """Which of ``months`` the trial has predictions for."""
    return [m for m in months if exists(trial.fold(m).predictions)]
