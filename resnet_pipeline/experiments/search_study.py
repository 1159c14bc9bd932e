"""A file's search as an Optuna study (ask and tell): each proposed configuration is a trial of
the experiment like a written variant, and each of its folds is trained by the one fold step.

- **Study**: one per (experiment, symbol), named ``<experiment>:<symbol>``, in an RDB storage
  (``storage_url``): SQLite under the data root (``ExperimentFiles.search_db``) by default; the
  Dagster instance's PostgreSQL when it has one, in a schema of its own, so several workers or
  machines run one study at once (Optuna's distributed mode: each asks for its own trial).
- **Trial**: ``study.ask()``; its sampler is seeded with ``seed + trial number``, so a trial's
  proposal does not depend on which worker asked for it. The configuration (the base with the
  proposed fields) is entered in the ledger as ``search-<number>``, ``running``, before its
  first fold: whatever happens next, it counts in N.
- **Folds** run oldest first through ``FoldRunner`` (the shell's: a Dagster run of
  ``experiment_fold`` per fold). After each, the objective so far (the mean over the folds run)
  is reported (``trial.report``); the pruner (median by default) may stop the trial
  (``trial.should_prune``): it is told ``PRUNED`` and stays in the ledger ``pruned``. A fold
  that fails marks it ``failed`` (``TrialState.FAIL``); the search goes on.
- **Duplicates**: a proposal whose configuration is already a trial of the ledger is the same
  trial (same hash): nothing is trained again, the study is told that trial's objective (or
  ``FAIL`` when it has none), and N does not grow.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Protocol

from resnet_pipeline.artifacts import as_path
from resnet_pipeline.experiments.experiment_file import Experiment
from resnet_pipeline.experiments.ledger import (
    COMPLETE,
    FAILED,
    PRUNED,
    RUNNING,
    TrialRecord,
    new_record,
    record_trial,
    set_status,
)
from resnet_pipeline.experiments.search_space import MAX_SEARCH_TRIALS, SearchSpec, search_name
from resnet_pipeline.experiments.variant_config import VariantConfigError, resolve_config
from resnet_pipeline.layout import ExperimentFiles

# Optuna's tables in the instance's PostgreSQL live in this schema: Dagster's own alembic
# version table would otherwise be read as Optuna's.
POSTGRES_SCHEMA = "optuna_search"
# Opening a study that another worker is creating at the same moment can collide once on the
# tables; the second try finds them.
OPEN_TRIES = 3
VARIANT_ATTR, HASH_ATTR, DUPLICATE_ATTR = "variant", "config_hash", "duplicate_of"


class SearchError(ValueError):
    """A search that cannot run; the message says what to change."""


class FoldRunner(Protocol):
    """How the shell trains a search trial's folds: ``start`` makes the trial known (its
    Dagster partition), ``fold`` trains one month (or skips it when finished) and returns its
    ``fold.json``."""

    def start(self, variant: str) -> None: ...

    def fold(self, variant: str, month: date) -> dict: ...


def study_name(experiment: str, symbol: str) -> str:
    return f"{experiment}:{symbol}"


def search_files(files: ExperimentFiles, experiment: Experiment) -> ExperimentFiles:
    """The ledger the search's trials enter: the experiment's, or, when the search has months
    of its own, the search's (the verdict on the later months never counts them)."""
    return files.search if experiment.search_months else files


def storage_url(files: ExperimentFiles, postgres_url: str | None = None) -> str:
    """The study's RDB storage: the instance's PostgreSQL (``postgres_url``, a SQLAlchemy URL),
    in ``POSTGRES_SCHEMA``; else SQLite beside the ledger, which must be on a local disk."""
    if postgres_url:
        joiner = "&" if "?" in postgres_url else "?"
        return f"{postgres_url}{joiner}options=-csearch_path%3D{POSTGRES_SCHEMA}"
    path = as_path(files.search_db)
    if getattr(path, "protocol", "file") not in ("", "file", "local"):
        raise SearchError(
            f"the data root {path} is not a local disk, so the search's SQLite study cannot live "
            "there: run the search with a Dagster instance on PostgreSQL (deploy/postgres-celery), "
            "whose database then holds the study"
        )
    Path(str(path)).parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def _storage(url: str) -> Any:
    import optuna
    import sqlalchemy

    if url.startswith("postgresql"):
        engine = sqlalchemy.create_engine(url.split("?")[0])
        try:
            with engine.begin() as connection:
                connection.execute(
                    sqlalchemy.text(f"CREATE SCHEMA IF NOT EXISTS {POSTGRES_SCHEMA}")
                )
        except sqlalchemy.exc.IntegrityError:
            pass  # another worker created it at the same moment
        finally:
            engine.dispose()
    return optuna.storages.RDBStorage(url, engine_kwargs={"pool_pre_ping": True})


def sampler_of(spec: SearchSpec, seed: int) -> Any:
    import optuna

    if spec.sampler == "grid":
        return optuna.samplers.GridSampler(spec.grid(), seed=seed)
    if spec.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


def pruner_of(spec: SearchSpec) -> Any:
    import optuna

    if spec.pruner == "none":
        return optuna.pruners.NopPruner()
    return optuna.pruners.MedianPruner(n_startup_trials=spec.startup_trials, n_warmup_steps=0)


def open_study(spec: SearchSpec, url: str, name: str) -> Any:
    """The study ``name`` in the storage at ``url``, created when it is not there yet."""
    import optuna
    import sqlalchemy

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    for attempt in range(OPEN_TRIES):
        try:
            return optuna.create_study(
                study_name=name,
                storage=_storage(url),
                sampler=sampler_of(spec, spec.seed),
                pruner=pruner_of(spec),
                direction="minimize",
                load_if_exists=True,
            )
        except (sqlalchemy.exc.IntegrityError, optuna.exceptions.DuplicatedStudyError):
            if attempt == OPEN_TRIES - 1:
                raise
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


def fold_objective(record: dict, objective: str) -> float:
    """A fold's objective from its ``fold.json`` (``search_space`` says which and why)."""
    if objective == "month_log_loss":
        return float(record["scores"]["model_log_loss"])
    return float(record["calibration"]["val_log_loss_before"])


@dataclass
class SearchTally:
    """What one run of the search did, for its progress lines and its caller."""

    wanted: int
    complete: int = 0
    pruned: int = 0
    failed: int = 0
    duplicates: int = 0
    best: tuple[float, str] | None = None  # the study's best (objective, variant) so far
    started: float = field(default_factory=time.perf_counter)
    folds_run: int = 0

    @property
    def done(self) -> int:
        return self.complete + self.pruned + self.failed + self.duplicates

    def line(self, latest: str) -> str:
        elapsed = time.perf_counter() - self.started
        left = self.wanted - self.done
        eta = elapsed / self.done * left if self.done else math.nan
        best = f"{self.best[0]:.4f} ({self.best[1]})" if self.best else "none yet"
        return (
            f"{latest} | trials {self.done}/{self.wanted}: {self.complete} complete, "
            f"{self.pruned} pruned, {self.failed} failed, {self.duplicates} repeated | best "
            f"objective {best} | {elapsed:.0f} s, ETA {_duration(eta)}"
        )


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "unknown"
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


def _best(study: Any) -> tuple[float, str] | None:
    import optuna

    done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not done:
        return None
    best = min(done, key=lambda t: t.value)
    return best.value, best.user_attrs.get(VARIANT_ATTR, str(best.number))


def room_for(study: Any, more: int) -> None:
    """Refuse ``more`` trials that would take the study past ``MAX_SEARCH_TRIALS``."""
    have = len(study.get_trials(deepcopy=False))
    if have + more > MAX_SEARCH_TRIALS:
        raise SearchError(
            f"the study {study.study_name} holds {have} trials; {more} more would pass "
            f"{MAX_SEARCH_TRIALS:,} (trial names run to {search_name(MAX_SEARCH_TRIALS - 1)}): "
            f"ask for at most {max(MAX_SEARCH_TRIALS - have, 0)}, or start another experiment"
        )


def _months(experiment: Experiment) -> tuple[date, ...]:
    return experiment.search_months or experiment.months


def _repeated(files: ExperimentFiles, record: TrialRecord) -> float | None:
    """The objective a trial already in the ledger reached (None: it has none)."""
    if record.status == COMPLETE and record.note:
        try:
            return float(record.note.split("=", 1)[1])
        except (IndexError, ValueError):
            return None
    return None


def run_search(
    experiment: Experiment,
    symbol: str,
    study: Any,
    files: ExperimentFiles,
    runner: FoldRunner,
    trials: int,
    market: str = "spot",
    say: Callable[[str], None] = print,
) -> SearchTally:
    """``trials`` more trials of ``experiment``'s search for ``symbol`` in ``study``, their
    folds through ``runner``, each in the ledger at ``files`` (``search_files``)."""
    import optuna

    spec = experiment.search
    if spec is None:
        raise SearchError(f"{experiment.path} has no search section: add one (docs/experiments.md)")
    room_for(study, trials)
    months = _months(experiment)
    tally = SearchTally(trials, best=_best(study))
    for _ in range(trials):
        trial = study.ask()
        if spec.sampler != "grid":  # a grid sampler's shuffled order is its seed's: keep it
            study.sampler = sampler_of(spec, spec.seed + trial.number)
        name = search_name(trial.number)
        values = {d.name: d.suggest(trial) for d in spec.space}
        try:
            config = resolve_config(spec.overrides(values), market)
        except VariantConfigError as error:
            trial.set_user_attr("problem", str(error))
            _tell(study, trial, state=optuna.trial.TrialState.FAIL)
            tally.failed += 1
            say(tally.line(f"{name} {values}: not a configuration ({error})"))
            continue
        record = new_record(
            experiment.name, symbol, name, config.config_hash, config.sections(), RUNNING
        )
        entered = record_trial(files, record)
        trial.set_user_attr(HASH_ATTR, config.config_hash)
        if entered.variant != name:
            trial.set_user_attr(DUPLICATE_ATTR, entered.variant)
            value = _repeated(files, entered)
            if value is None:
                _tell(study, trial, state=optuna.trial.TrialState.FAIL)
            else:
                _tell(study, trial, value)
            tally.duplicates += 1
            say(tally.line(f"{name} {values}: the configuration of {entered.variant}, not rerun"))
            continue
        trial.set_user_attr(VARIANT_ATTR, name)
        status, note = _run_trial(trial, study, spec, months, runner, name, tally)
        set_status(files, entered, status, note)
        tally.best = _best(study)
        say(tally.line(f"{name} {values}: {status} ({note})"))
    return tally


def _tell(study: Any, trial: Any, value: float | None = None, state: Any = None) -> None:
    """``study.tell``; a grid sampler that has run every combination asks the study to stop,
    which only ``study.optimize`` can: the trial is stored all the same (Optuna's ``finally``)."""
    try:
        study.tell(trial, value, state=state)
    except RuntimeError as error:
        if "Study.stop" not in str(error):
            raise


def _run_trial(
    trial: Any,
    study: Any,
    spec: SearchSpec,
    months: tuple[date, ...],
    runner: FoldRunner,
    name: str,
    tally: SearchTally,
) -> tuple[str, str]:
    """Train the trial's folds, reporting after each; (status, note) once it ends."""
    import optuna

    losses: list[float] = []
    try:
        runner.start(name)
        for step, month in enumerate(months):
            losses.append(fold_objective(runner.fold(name, month), spec.objective))
            tally.folds_run += 1
            so_far = sum(losses) / len(losses)
            trial.report(so_far, step)
            if step < len(months) - 1 and trial.should_prune():
                _tell(study, trial, state=optuna.trial.TrialState.PRUNED)
                tally.pruned += 1
                return (
                    PRUNED,
                    f"after {month:%Y-%m}, {len(losses)} of {len(months)} folds: {so_far:.4f}",
                )
    except Exception as error:  # a failed fold fails the trial, never the search
        _tell(study, trial, state=optuna.trial.TrialState.FAIL)
        tally.failed += 1
        problem = " ".join(str(error).split())[:300]
        trial_months = f"{len(losses)} of {len(months)} folds"
        return FAILED, f"after {trial_months}: {type(error).__name__}: {problem}"
    value = sum(losses) / len(losses)
    _tell(study, trial, value)
    tally.complete += 1
    return COMPLETE, f"{spec.objective}={value:.6g}"
