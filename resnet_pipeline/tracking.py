"""Each variant-fold of an experiment logged to MLflow, where ML users compare runs (SPEC 14).

One MLflow experiment per (experiment, symbol), named ``<experiment>/<symbol>``, described by
the experiment file's ``description`` (the experiment's note in the UI); one run per
variant-fold, named ``<variant> <YYYY-MM>``, that stands alone:
- its start and end are the fold's own (training to written files), not the logging's;
- tags to filter on: experiment, variant, symbol, fold_month, config_hash, and, once the
  experiment's report has judged it (``tag_verdict``), verdict and best_trial;
- params: the variant's flattened configuration and the fold's identity;
- metrics: the fold's scores at full precision, the baselines' scores beside them
  (``baseline_<name>_<metric>``, e.g. ``baseline_logistic_accuracy``), each epoch of the
  training history as a metric step (curves in the UI); a note says the result in one line;
- artifacts: the fold's files (its model), PNG plots and the configuration as ``config.json``.
Logging a variant-fold again (a re-run with the same configuration) replaces its earlier runs:
they are deleted the MLflow way, restorable until ``mlflow gc``, and only after the new run is
complete.

Where runs go (``tracking_store``, given ``Settings.mlflow_tracking_uri``):
- ``MLFLOW_TRACKING_URI`` when set (MLflow's standard variable): a tracking server, a database,
  or anything MLflow accepts; artifacts go where that store says.
- otherwise, a local data root: ``sqlite:///<root>/mlruns/mlflow.db`` with artifacts under
  ``<root>/mlruns/artifacts``. SQLite because MLflow 3 made the database backend its default
  and deprecated the filesystem backend (``./mlruns`` files; 3.13 refuses it unless
  ``MLFLOW_ALLOW_FILE_STORE=true``); SQLite needs no server. The first use creates the tables
  (seconds, once).
- otherwise (object storage root, no URI): tracking is off, with a note saying so. A SQLite
  file cannot live on object storage, and a store in a worker's temp directory would be lost
  with the worker; point ``MLFLOW_TRACKING_URI`` at a tracking server to log runs.

Tracking never fails a fold and never holds the machine: the caller logs after the training
lock is released, and a failing server costs seconds (``tracking_server``: a probe, bounded
requests; after the first failure the run's other folds are not tried). An unusable store gives
an outcome with status ``failed`` and the reason, logged as a warning. Bad input (a config key
that shadows an identity param) raises as usual.

MLflow is imported inside the functions (seconds of import the definitions do not pay), and an
explicit ``MlflowClient`` is used, so logging leaves no tracking URI or active run behind.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from resnet_pipeline.artifacts import is_local, local_copy, local_path
from resnet_pipeline.layout import Layout
from resnet_pipeline.number_format import short
from resnet_pipeline.settings import TRACKING_URI_VARIABLE
from resnet_pipeline.tracking_server import bounded_http, unreachable
from resnet_pipeline.urls import redact_url

if TYPE_CHECKING:
    from mlflow import MlflowClient

DATABASE_FILE = "mlflow.db"
ARTIFACTS_FOLDER = "artifacts"
BASELINE_PREFIX = "baseline_"
IMPORTANCE_PREFIX = "importance"
NOTE_TAG = "mlflow.note.content"  # the description the MLflow UI shows (experiments and runs)
VERDICT_TAG, BEST_TRIAL_TAG = "verdict", "best_trial"
# MLflow's limits on one log_batch request.
_PARAMS_PER_BATCH = 100
_METRICS_PER_BATCH = 1000
_IDENTITY = ("experiment", "variant", "symbol", "fold_month")

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrackingStore:
    """Where runs go: ``uri`` None means tracking is off, and ``note`` says why and how to
    turn it on. ``artifact_location``: for experiments this module creates (None: the store's
    default)."""

    uri: str | None
    artifact_location: str | None
    note: str


def tracking_store(layout: Layout, tracking_uri: str | None) -> TrackingStore:
    """The store for this data root: ``tracking_uri`` (``Settings.mlflow_tracking_uri``, from
    MLFLOW_TRACKING_URI) when set, else the local store under the root, else off."""
    uri = (tracking_uri or "").strip()
    if uri:
        return TrackingStore(uri, None, f"{TRACKING_URI_VARIABLE}={redact_url(uri)}")
    folder = layout.mlflow_store()
    if is_local(folder):
        local = local_path(folder).resolve()
        return TrackingStore(
            f"sqlite:///{local / DATABASE_FILE}",
            (local / ARTIFACTS_FOLDER).as_uri(),
            f"local MLflow store {local} (view: mlflow ui --backend-store-uri "
            f"sqlite:///{local / DATABASE_FILE})",
        )
    return TrackingStore(
        None,
        None,
        f"MLflow tracking is off: the data root {redact_url(str(layout.root))} is object "
        f"storage, where a SQLite store cannot live, and {TRACKING_URI_VARIABLE} is not set. "
        f"Set {TRACKING_URI_VARIABLE} to a tracking server (e.g. http://mlflow:5000) to log runs.",
    )


@dataclass(frozen=True)
class FoldScores:
    """A variant-fold's results, logged as MLflow metrics under these field names (the
    classification ones as ``ml.evaluation.classification`` names them). None: not defined, not
    logged."""

    accuracy: float | None
    macro_f1: float | None
    auc_roc_ovr: float | None
    log_loss: float | None
    ece_before: float | None
    ece_after: float | None
    epochs: int
    wall_s: float
    sharpe_after_costs: float | None = None


@dataclass(frozen=True)
class VariantFold:
    """What one variant-fold logs. ``config``: the variant's resolved configuration (nested
    mappings or a dataclass); ``baselines``: baseline name -> its scores of the month (named as
    ``FoldScores``' fields); ``history``: one record per epoch (``ml.training``'s history,
    ``epoch`` the step); ``files``: the fold's files (its model), local or on object storage;
    ``plots``: name -> PNG bytes; ``started``/``ended``: the fold's own span (None: the
    logging's); ``description``: the experiment's; ``importance``: the fold's permutation
    importances (``permutation_importance.importance_records``), logged as metrics
    ``importance/<predictor>/<kind>/<name>/<metric>`` and the table ``importance.json``."""

    experiment: str
    variant: str
    symbol: str
    month: date
    config: object
    scores: FoldScores
    history: Sequence[Mapping[str, Any]] = ()
    files: Sequence[str | os.PathLike[str]] = ()
    plots: Mapping[str, bytes] = field(default_factory=dict)
    baselines: Mapping[str, Mapping[str, float | None]] = field(default_factory=dict)
    started: datetime | None = None
    ended: datetime | None = None
    description: str = ""
    importance: Sequence[Mapping[str, Any]] = ()

    @property
    def config_dict(self) -> dict[str, Any]:
        if dataclasses.is_dataclass(self.config) and not isinstance(self.config, type):
            return dataclasses.asdict(self.config)
        if isinstance(self.config, Mapping):
            return dict(self.config)
        raise TypeError(f"config is a {type(self.config).__name__}: give a mapping or a dataclass")

    @property
    def identity(self) -> dict[str, str]:
        """The params and tags that name the run (``_IDENTITY``'s keys)."""
        values = (self.experiment, self.variant, self.symbol, f"{self.month:%Y-%m}")
        return dict(zip(_IDENTITY, values, strict=True))

    @property
    def experiment_name(self) -> str:
        return experiment_name(self.experiment, self.symbol)


def experiment_name(experiment: str, symbol: str) -> str:
    """The MLflow experiment of an experiment file's runs on one symbol."""
    return f"{experiment}/{symbol}"


@dataclass(frozen=True)
class TrackingOutcome:
    """What happened: ``logged`` (run_id set), ``off`` (no store) or ``failed`` (the reason in
    ``note``); ``replaced`` lists earlier runs of the same variant-fold that were deleted."""

    status: str
    note: str
    run_id: str | None = None
    experiment_id: str | None = None
    replaced: tuple[str, ...] = ()

    def metadata(self) -> dict[str, Any]:
        """Plain values for Dagster metadata."""
        plain = dataclasses.asdict(self) | {"replaced": list(self.replaced)}
        return {f"mlflow_{key}": value for key, value in plain.items()}


def flatten_config(config: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested mappings -> ``{"model.depth": "18", ...}``: values as MLflow params (strings),
    lists and tuples as JSON."""
    flat: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat |= flatten_config(value, f"{name}.")
        elif isinstance(value, list | tuple):
            flat[name] = json.dumps(value, default=str)
        else:
            flat[name] = str(value)
    return flat


def config_hash(config: Mapping[str, Any]) -> str:
    """sha256 of the configuration as canonical JSON: the same resolved config, the same hash."""
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _ms(moment: datetime | None) -> int:
    return int((moment.timestamp() if moment else time.time()) * 1000)


def _experiment_id(client, name: str, artifact_location: str | None, description: str) -> str:
    """The experiment called ``name`` (created when missing), its note ``description``."""
    from mlflow.exceptions import MlflowException

    found = client.get_experiment_by_name(name)
    if found is None:
        tags = {NOTE_TAG: description} if description else None
        try:
            return client.create_experiment(name, artifact_location=artifact_location, tags=tags)
        except MlflowException:  # another process created it meanwhile
            found = client.get_experiment_by_name(name)
            if found is None:
                raise
    if description and found.tags.get(NOTE_TAG) != description:
        client.set_experiment_tag(found.experiment_id, NOTE_TAG, description)
    return found.experiment_id


def _values(fold: VariantFold) -> dict[str, float]:
    """The run's metrics of the month: the model's, then each baseline's with its prefix."""
    values = {k: v for k, v in dataclasses.asdict(fold.scores).items() if v is not None}
    for name, scores in fold.baselines.items():
        values |= {f"{BASELINE_PREFIX}{name}_{k}": v for k, v in scores.items() if v is not None}
    for row in fold.importance:
        if row["mean"] is not None:
            key = f"{IMPORTANCE_PREFIX}/{row['predictor']}/{row['kind']}/{row['name']}"
            values[f"{key}/{row['metric']}"] = row["mean"]
    return {k: float(v) for k, v in values.items()}


def _metrics(fold: VariantFold) -> list:
    from mlflow.entities import Metric

    at = _ms(fold.ended)
    metrics = [Metric(k, v, at, 0) for k, v in _values(fold).items()]
    for step, record in enumerate(fold.history):
        epoch = int(record.get("epoch", step + 1))
        for key, value in record.items():
            if key != "epoch" and isinstance(value, int | float) and not isinstance(value, bool):
                metrics.append(Metric(key, float(value), at, epoch))
    return metrics


def run_note(fold: VariantFold) -> str:
    """The run's result in one line: the model's accuracy beside the baselines', the Sharpe
    ratio after costs, the training."""
    s = fold.scores
    baselines = ", ".join(
        f"{name} {short(scores.get('accuracy'))}" for name, scores in fold.baselines.items()
    )
    return (
        f"{fold.variant} on {fold.symbol}, fold {fold.month:%Y-%m}: accuracy "
        f"{short(s.accuracy)}" + (f" (baselines: {baselines})" if baselines else "") + "; "
        f"Sharpe after costs {short(s.sharpe_after_costs)}; {s.epochs} epochs in "
        f"{short(s.wall_s)} s"
    )


def _log_run(client, experiment_id: str, fold: VariantFold, params: dict, tags: dict) -> str:
    from mlflow.entities import Param, RunStatus

    run = client.create_run(
        experiment_id,
        start_time=_ms(fold.started),
        tags=tags | {NOTE_TAG: run_note(fold)},
        run_name=f"{fold.variant} {fold.month:%Y-%m}",
    )
    run_id = run.info.run_id
    try:
        for batch in _chunks([Param(k, v) for k, v in params.items()], _PARAMS_PER_BATCH):
            client.log_batch(run_id, params=batch)
        for batch in _chunks(_metrics(fold), _METRICS_PER_BATCH):
            client.log_batch(run_id, metrics=batch)
        client.log_dict(run_id, fold.config_dict, "config.json")
        if fold.importance:
            columns = {key: [row[key] for row in fold.importance] for key in fold.importance[0]}
            client.log_table(run_id, columns, "importance.json")
        for file in fold.files:
            client.log_artifact(run_id, str(local_copy(file)))
        with tempfile.TemporaryDirectory(prefix="resnet-plots-") as folder:
            for name, png in fold.plots.items():
                path = Path(folder) / f"{name}.png"
                path.write_bytes(png)
                client.log_artifact(run_id, str(path), artifact_path="plots")
    except Exception:
        client.set_terminated(run_id, RunStatus.to_string(RunStatus.FAILED))
        raise
    client.set_terminated(run_id, RunStatus.to_string(RunStatus.FINISHED), _ms(fold.ended))
    return run_id


def _log_one(client, store: TrackingStore, fold: VariantFold, params: dict) -> TrackingOutcome:
    from mlflow.entities import ViewType

    digest = config_hash(fold.config_dict)
    experiment_id = _experiment_id(
        client, fold.experiment_name, store.artifact_location, fold.description
    )
    earlier = client.search_runs(
        [experiment_id],
        f"tags.config_hash = '{digest}' and tags.fold_month = '{fold.month:%Y-%m}'",
        run_view_type=ViewType.ACTIVE_ONLY,
    )
    tags = fold.identity | {"config_hash": digest}
    run_id = _log_run(client, experiment_id, fold, fold.identity | params, tags)
    for run in earlier:
        client.delete_run(run.info.run_id)
    return TrackingOutcome(
        "logged",
        store.note,
        run_id=run_id,
        experiment_id=experiment_id,
        replaced=tuple(run.info.run_id for run in earlier),
    )


def _params(fold: VariantFold) -> dict[str, str]:
    params = flatten_config(fold.config_dict)
    shadowed = sorted(set(params) & set(_IDENTITY))
    if shadowed:
        raise ValueError(
            f"the variant's config has key(s) {shadowed}, which the MLflow run uses for the "
            "fold's identity: rename them in the experiment file"
        )
    return params


def _failure(store: TrackingStore, error: Exception) -> str:
    message = str(error).replace(store.uri or "", redact_url(store.uri or "") or "")
    return f"MLflow logging failed at {store.note}: {type(error).__name__}: {message}"


def _answering_client(uri: str) -> MlflowClient:
    """A client of ``uri`` once its server answers its health probe (``ConnectionError`` when
    not: a broken server costs one bounded probe, not an MLflow retry loop)."""
    reason = unreachable(uri)
    if reason:
        raise ConnectionError(f"the tracking server does not answer ({reason})")
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri)


def log_variant_folds(folds: Sequence[VariantFold], store: TrackingStore) -> list[TrackingOutcome]:
    """Log each of a run's variant-folds to ``store``, one outcome each; never raises for the
    store's sake (see the module). The first failure ends the run's logging: the folds after it
    are not tried, so a broken server costs one bounded failure, not one per fold."""
    params = [_params(fold) for fold in folds]  # bad input raises before anything is logged
    if store.uri is None:
        if folds:
            logger.warning(store.note)
        return [TrackingOutcome("off", store.note) for _ in folds]
    outcomes: list[TrackingOutcome] = []
    with bounded_http():
        try:
            client = _answering_client(store.uri)
            for fold, fold_params in zip(folds, params, strict=True):
                outcomes.append(_log_one(client, store, fold, fold_params))
        except Exception as error:
            note = _failure(store, error)
            logger.warning(note)
            untried = len(folds) - len(outcomes) - 1
            if untried:
                logger.warning(f"{untried} more fold(s) of this run not logged to MLflow")
            outcomes += [TrackingOutcome("failed", note)] * (len(folds) - len(outcomes))
    return outcomes


def log_variant_fold(fold: VariantFold, store: TrackingStore) -> TrackingOutcome:
    """Log one variant-fold to ``store`` (``log_variant_folds``)."""
    return log_variant_folds([fold], store)[0]


def tag_verdict(
    store: TrackingStore, experiment: str, symbol: str, edge: bool, best_config_hash: str | None
) -> TrackingOutcome:
    """The experiment report's verdict on every run of ``experiment`` on ``symbol``: tag
    ``verdict`` (``edge`` / ``no edge``, also on the MLflow experiment) and ``best_trial``
    (``yes`` on the runs of the trial the verdict rests on). Never raises for the store's sake;
    an experiment with no run yet is left alone."""
    if store.uri is None:
        return TrackingOutcome("off", store.note)
    verdict = "edge" if edge else "no edge"
    with bounded_http():
        try:
            from mlflow.entities import RunTag

            client = _answering_client(store.uri)
            found = client.get_experiment_by_name(experiment_name(experiment, symbol))
            if found is None:
                return TrackingOutcome("off", f"no MLflow run of {experiment} on {symbol} yet")
            client.set_experiment_tag(found.experiment_id, VERDICT_TAG, verdict)
            token = None
            while True:
                page = client.search_runs([found.experiment_id], page_token=token)
                for run in page:
                    best = run.data.tags.get("config_hash") == best_config_hash
                    tags = [
                        RunTag(VERDICT_TAG, verdict),
                        RunTag(BEST_TRIAL_TAG, "yes" if best else "no"),
                    ]
                    client.log_batch(run.info.run_id, tags=tags)
                token = page.token
                if not token:
                    break
        except Exception as error:
            note = _failure(store, error)
            logger.warning(note)
            return TrackingOutcome("failed", note)
    return TrackingOutcome("logged", store.note, experiment_id=found.experiment_id)
