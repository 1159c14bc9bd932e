"""What ``experiment_fold`` shows per partition in the Dagster UI: the fold's result in one line
first, then the month's figures as numbers (the partitions run month by month, so the Plots tab
draws a series over months), then the run's own figures as text."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from resnet_pipeline.defs.metadata import as_series, as_text, plain
from resnet_pipeline.ml.folds.fold_identity import MODEL_DIGEST_KEY
from resnet_pipeline.number_format import percent, short


def fold_line(fold: Mapping[str, Any]) -> str:
    """'tiny:BTCUSDT:spec 2024-03: accuracy 41.2% (majority 38.0%), Sharpe after costs -1.2,
    12 trades; warm from 2024-02, 2 epochs, temperature 1.05'."""
    s = plain(fold["scores"])
    sharpe = s.get("sharpe_after_costs")
    return (
        f"{fold['trial']} {fold['month']}: accuracy {percent(s.get('model_accuracy'))} "
        f"(majority {percent(s.get('majority_accuracy'))}), Sharpe after costs "
        f"{short(sharpe) if sharpe is not None else 'not defined'}, {s.get('trades', 0):,} "
        f"trades; {fold['start']}, {fold['epochs_run']} epochs, temperature "
        f"{short(fold['temperature'])}"
    )


def variant_fold_metadata(fold: Mapping[str, Any], run: Mapping[str, Any]) -> dict[str, Any]:
    """One fold partition's metadata; ``run``: the figures of the run that trained it."""
    scores = {k: v for k, v in plain(fold["scores"]).items() if isinstance(v, int | float)}
    return {
        "fold": fold_line(fold),
        **as_series({"temperature": fold["temperature"], **scores}),
        "config_hash": fold["config_hash"],
        MODEL_DIGEST_KEY: fold[MODEL_DIGEST_KEY],
        **as_text(run),
    }
