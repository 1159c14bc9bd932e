"""The trial ledger (SPEC 14): every configuration ever evaluated for (experiment, symbol).

A trial is a resolved configuration, identified by its hash (``VariantConfig.config_hash``).
Its folder (``Layout.experiment(E, S).trial(hash)``) holds ``trial.json`` (the configuration,
its hash and the name of the variant that first ran it, written once by its first fold), its
folds (model, fold.json with the fold's results, predictions) and the daily strategy returns
the latest report scored. Nothing removes a trial: a variant deleted from the file, or whose
configuration changed (another hash, another folder), stays, so N, the ledger's size, never
shrinks by editing the file. One file per trial, each written atomically, so folds of
different trials on different workers never write the same file.

A trial a search proposed (``search_study``) is entered before its first fold, ``running``, and
ends ``complete``, ``pruned`` (the pruner stopped it after a fold) or ``failed``: each counts in
N whether or not it was scored. A written variant has no status (its folds say how far it got).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from datetime import date
from typing import Any

from resnet_pipeline.artifacts import exists, fresh, read_json, write_json_atomic
from resnet_pipeline.commands import materialize_trial_months
from resnet_pipeline.layout import ExperimentFiles, FoldFiles, TrialFiles


@dataclass(frozen=True)
class TrialRecord:
    experiment: str
    symbol: str
    variant: str  # the variant that first evaluated this configuration
    config_hash: str
    config: dict[str, dict[str, Any]]  # VariantConfig.sections()
    created: str  # UTC, when its first fold was trained
    status: str | None = None  # a search's trial: one of STATUSES; None: a written variant
    note: str = ""  # a search's trial: its objective, or where and why it stopped

    def to_dict(self) -> dict:
        return asdict(self)


RUNNING, COMPLETE, PRUNED, FAILED = "running", "complete", "pruned", "failed"
STATUSES = (RUNNING, COMPLETE, PRUNED, FAILED)


def new_record(
    experiment: str,
    symbol: str,
    variant: str,
    config_hash: str,
    config: dict,
    status: str | None = None,
) -> TrialRecord:
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return TrialRecord(experiment, symbol, variant, config_hash, config, created, status)


def set_status(files: ExperimentFiles, record: TrialRecord, status: str, note: str = "") -> None:
    """Write a search trial's outcome into its record (it stays in the ledger whatever it is)."""
    if status not in STATUSES:
        raise ValueError(f"status {status!r}: one of {', '.join(STATUSES)}")
    updated = replace(record, status=status, note=note)
    write_json_atomic(files.trial(record.config_hash).record, updated.to_dict())


class LedgerError(ValueError):
    """A trial's record cannot be read; the message names the file and the repair."""


@dataclass(frozen=True)
class UnreadableTrial:
    """A trial whose ``trial.json`` cannot be read (cut short by a full disk, edited by hand)."""

    config_hash: str
    path: str
    problem: str  # the error, in words
    trial: str | None  # the trial key its folds' fold.json name, when one can be read

    def paragraph(self, repair: str) -> str:
        """One paragraph: the file, what is wrong and ``repair`` (the command that rewrites
        it: running the trial's folds again, which skips the finished ones)."""
        named = f" ({self.trial})" if self.trial else ""
        return (
            f"{self.path} is unreadable ({self.problem}): the record of trial "
            f"{self.config_hash[:12]}{named} was cut short or overwritten, so this trial is "
            f"left out of the leaderboard (it still counts in N). Rewrite it by running the "
            f"trial's folds again (finished folds are skipped, nothing is retrained): {repair}"
        )


def record_trial(files: ExperimentFiles, record: TrialRecord) -> TrialRecord:
    """Enter ``record`` in the ledger unless its configuration is there already (the first
    record stays: its variant name and time); an unreadable record is written again."""
    path = files.trial(record.config_hash).record
    if exists(path):
        try:
            return read_record(files.trial(record.config_hash))
        except LedgerError:
            pass  # cut short: rewritten below, from the configuration it must hold
    write_json_atomic(path, record.to_dict())
    return record


def read_record(trial: TrialFiles) -> TrialRecord:
    """``trial.json``; ``LedgerError`` naming the file when it cannot be read."""
    try:
        return TrialRecord(**read_json(trial.record))
    except (ValueError, TypeError) as error:
        raise LedgerError(f"{type(error).__name__}: {str(error)[:120]}") from error


def _named_by_folds(trial: TrialFiles) -> str | None:
    """The trial key a fold of the trial names in its fold.json, if one can be read."""
    for child in sorted(fresh(trial.folder).iterdir()):
        info = FoldFiles(child).info
        try:
            named = read_json(info).get("trial") if exists(info) else None
        except (ValueError, AttributeError):
            continue
        if isinstance(named, str):
            return named
    return None


def read_ledger(files: ExperimentFiles) -> tuple[list[TrialRecord], list[UnreadableTrial]]:
    """Every trial of the experiment and symbol, oldest first (N = the length of both lists),
    and the trials whose record cannot be read."""
    folder = fresh(files.trials_folder)
    if not folder.exists():
        return [], []
    records, unreadable = [], []
    for child in sorted(folder.iterdir()):
        trial = files.trial(child.name)
        if not exists(trial.record):
            continue
        try:
            records.append(read_record(trial))
        except LedgerError as error:
            named = _named_by_folds(trial)
            unreadable.append(UnreadableTrial(child.name, str(trial.record), str(error), named))
    return sorted(records, key=lambda r: (r.created, r.config_hash)), unreadable


def ledger(files: ExperimentFiles) -> list[TrialRecord]:
    """The trials of the experiment and symbol whose record can be read, oldest first (N
    counts the others too: ``read_ledger``)."""
    return read_ledger(files)[0]


def repair_command(bad: UnreadableTrial, first: date, last: date, fallback: str) -> str:
    """The command that rewrites ``bad``'s record: its folds from ``first`` to ``last`` when a
    fold names the trial, else ``fallback`` (running the experiment file)."""
    return materialize_trial_months(bad.trial, first, last) if bad.trial else fallback


def latest_of_variant(records: list[TrialRecord], variant: str) -> TrialRecord | None:
    """The newest trial first run under ``variant``'s name (a variant deleted from the file
    keeps this configuration)."""
    named = [r for r in records if r.variant == variant]
    return named[-1] if named else None


def predicted_months(trial: TrialFiles, months: tuple[date, ...]) -> list[date]:
    """Which of ``months`` the trial has predictions for."""
    return [m for m in months if exists(trial.fold(m).predictions)]
