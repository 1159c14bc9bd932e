"""Each variant-fold of an experiment logged to MLflow, where ML users compare runs (SPEC 14).

One MLflow experiment per (experiment, symbol), named ``<experiment>/<symbol>``; one run per
variant-fold, named ``<variant> <YYYY-MM>`` and tagged with experiment, variant, symbol, fold
month and config hash. A run holds the variant's flattened configuration and the fold's
identity as params, the fold's scores as metrics, each epoch of the training history as a
metric step (curves in the UI), and the fold's files (its model) and PNG plots as artifacts,
with the full configuration as ``config.json``. Logging a variant-fold again (a re-run with the
same configuration) replaces its earlier runs: they are deleted the MLflow way, restorable until
``mlflow gc``, and only after the new run is complete.

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

Tracking never fails a fold: an unusable store (unreachable server, refused URI) gives an
outcome with status ``failed`` and the reason, logged as a warning. An ``http(s)`` store is
probed first (``/health``, a few seconds), since MLflow's client retries an unreachable server
for minutes. Bad input (a config key that shadows an identity param) raises as usual.

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
from datetime import date
from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from urllib.parse import urlsplit, urlunsplit
from urllib.request import urlopen

from resnet_pipeline.artifacts import is_local, local_copy, local_path
from resnet_pipeline.layout import Layout
from resnet_pipeline.settings import TRACKING_URI_VARIABLE
from resnet_pipeline.urls import redact_url

DATABASE_FILE = "mlflow.db"
ARTIFACTS_FOLDER = "artifacts"
PROBE_TIMEOUT_S = 5.0
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
    mappings or a dataclass); ``history``: one record per epoch (``ml.training``'s history,
    ``epoch`` the step); ``files``: the fold's files (its model), local or on object storage;
    ``plots``: name -> PNG bytes."""

    experiment: str
    variant: str
    symbol: str
    month: date
    config: object
    scores: FoldScores
    history: Sequence[Mapping[str, Any]] = ()
    files: Sequence[str | os.PathLike[str]] = ()
    plots: Mapping[str, bytes] = field(default_factory=dict)

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


def _unreachable(uri: str) -> str | None:
    """Why an http(s) store cannot be reached, or None (any HTTP answer counts as reached)."""
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https"):
        return None
    health = parts._replace(
        netloc=parts.netloc.rsplit("@", 1)[-1],  # credentials stay out of the probe
        path=parts.path.rstrip("/") + "/health",
        query="",
        fragment="",
    )
    try:
        with urlopen(urlunsplit(health), timeout=PROBE_TIMEOUT_S):
            return None
    except HTTPError:
        return None
    except (OSError, ValueError) as error:
        return f"{type(error).__name__}: {error}"


def _experiment_id(client, name: str, artifact_location: str | None) -> str:
    from mlflow.exceptions import MlflowException

    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    try:
        return client.create_experiment(name, artifact_location=artifact_location)
    except MlflowException:  # another process created it meanwhile
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return found.experiment_id


def _metrics(fold: VariantFold, now_ms: int) -> list:
    from mlflow.entities import Metric

    scores = dataclasses.asdict(fold.scores)
    metrics = [Metric(k, float(v), now_ms, 0) for k, v in scores.items() if v is not None]
    for step, record in enumerate(fold.history):
        epoch = int(record.get("epoch", step + 1))
        for key, value in record.items():
            if key != "epoch" and isinstance(value, int | float) and not isinstance(value, bool):
                metrics.append(Metric(key, float(value), now_ms, epoch))
    return metrics


def _log_run(client, experiment_id: str, fold: VariantFold, params: dict, tags: dict) -> str:
    from mlflow.entities import Param, RunStatus

    run = client.create_run(experiment_id, tags=tags, run_name=f"{fold.variant} {fold.month:%Y-%m}")
    run_id = run.info.run_id
    try:
        for batch in _chunks([Param(k, v) for k, v in params.items()], _PARAMS_PER_BATCH):
            client.log_batch(run_id, params=batch)
        for batch in _chunks(_metrics(fold, int(time.time() * 1000)), _METRICS_PER_BATCH):
            client.log_batch(run_id, metrics=batch)
        client.log_dict(run_id, fold.config_dict, "config.json")
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
    client.set_terminated(run_id, RunStatus.to_string(RunStatus.FINISHED))
    return run_id


def log_variant_fold(fold: VariantFold, store: TrackingStore) -> TrackingOutcome:
    """Log one variant-fold to ``store``; never raises for the store's sake (see the module)."""
    config = fold.config_dict
    params = flatten_config(config)
    shadowed = sorted(set(params) & set(_IDENTITY))
    if shadowed:
        raise ValueError(
            f"the variant's config has key(s) {shadowed}, which the MLflow run uses for the "
            "fold's identity: rename them in the experiment file"
        )
    if store.uri is None:
        logger.warning(store.note)
        return TrackingOutcome("off", store.note)
    digest = config_hash(config)
    tags = fold.identity | {"config_hash": digest}
    try:
        reason = _unreachable(store.uri)
        if reason:
            raise ConnectionError(f"the tracking server does not answer ({reason})")
        from mlflow import MlflowClient
        from mlflow.entities import ViewType

        client = MlflowClient(tracking_uri=store.uri)
        experiment_id = _experiment_id(
            client, f"{fold.experiment}/{fold.symbol}", store.artifact_location
        )
        earlier = client.search_runs(
            [experiment_id],
            f"tags.config_hash = '{digest}' and tags.fold_month = '{fold.month:%Y-%m}'",
            run_view_type=ViewType.ACTIVE_ONLY,
        )
        run_id = _log_run(client, experiment_id, fold, fold.identity | params, tags)
        for run in earlier:
            client.delete_run(run.info.run_id)
    except Exception as error:
        message = str(error).replace(store.uri, redact_url(store.uri) or "")
        note = f"MLflow logging failed at {store.note}: {type(error).__name__}: {message}"
        logger.warning(note)
        return TrackingOutcome("failed", note)
    return TrackingOutcome(
        "logged",
        store.note,
        run_id=run_id,
        experiment_id=experiment_id,
        replaced=tuple(run.info.run_id for run in earlier),
    )
