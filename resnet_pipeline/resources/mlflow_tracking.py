"""The `mlflow` resource: where experiment folds are logged (``tracking.tracking_store``).

``tracking_uri`` is MLFLOW_TRACKING_URI (an EnvVar in the deployed definitions, so a URI with
credentials is never shown); unset, runs go to the SQLite store under the data root.
``enabled: false`` turns logging off (each fold then says so)."""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from resnet_pipeline.layout import Layout
from resnet_pipeline.tracking import TrackingStore, tracking_store


class MlflowTracking(dg.ConfigurableResource):
    tracking_uri: str | None = Field(
        default=None, description="MLflow tracking URI; unset: <data root>/mlruns (SQLite)"
    )
    enabled: bool = Field(default=True, description="log each experiment fold to MLflow")

    def store(self, layout: Layout) -> TrackingStore:
        if not self.enabled:
            return TrackingStore(None, None, "MLflow tracking is off (mlflow.enabled: false)")
        return tracking_store(layout, self.tracking_uri)
