"""The months a run of walk-forward folds trains on, read once per symbol (SPEC 13).

A range of folds runs in one run (``BackfillPolicy.single_run``). Reading every earlier month
again for each fold made a year's backfill grow quadratically with its history; here the run
reads each month any of its folds needs once, with the digests of the files read, finds the
eligible samples once, and cuts each fold's rows out (``ml.folds.monthly_folds.fold_samples``):
the same rows, sample ends and normalizer as reading that fold's months alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import dagster as dg

from resnet_pipeline.assets.fold_common import input_digests
from resnet_pipeline.commands import ingest_month
from resnet_pipeline.ml.folds.monthly_folds import (
    Fold,
    FoldConfig,
    Samples,
    add_months,
    build_fold,
    eligible_samples,
    fold_samples,
    training_months,
)
from resnet_pipeline.resources.io_manager import DataStore
from resnet_pipeline.storage import read_partitions, stored_months


@dataclass
class FoldHistory:
    """Every month the run's folds of one symbol train on, read once."""

    symbol: str
    stored: list[date]  # months with stored features
    samples: Samples | None  # the rows of the months read (None: none to read)
    digests: dict[str, str]  # "features/YYYY-MM" (and labels) -> sha256 of the file read
    config: FoldConfig

    def fold(self, month: date) -> tuple[list[date], dict[str, str], Fold]:
        """The fold for ``month``: its training months, their digests and its splits."""
        months = training_months(self.stored, month, self.config)
        if not months or self.samples is None:
            raise dg.Failure(
                f"no stored features for {self.symbol} before {month:%Y-%m}: a fold trains on "
                "earlier months. Materialize them first, e.g. "
                f"{ingest_month(self.symbol, add_months(month, -1))}"
            )
        keys = {f"{m:%Y-%m}" for m in months}
        digests = {k: v for k, v in self.digests.items() if k.split("/")[1] in keys}
        try:
            fold = build_fold(fold_samples(self.samples, month, self.config), month, self.config)
        except ValueError as error:
            raise dg.Failure(f"{self.symbol}: {error}") from error
        return months, digests, fold


def read_history(
    store: DataStore, symbol: str, fold_months: list[date], config: FoldConfig
) -> FoldHistory:
    """Read the months that any fold of ``fold_months`` trains on, once."""
    stored = stored_months(store.layout, "features", symbol)
    needed = sorted({m for month in fold_months for m in training_months(stored, month, config)})
    if not needed:
        return FoldHistory(symbol, stored, None, {}, config)
    features = read_partitions(store.layout, "features", symbol, needed)
    labels = read_partitions(store.layout, "labels", symbol, needed)
    digests = input_digests(store, symbol, needed)
    try:
        samples = eligible_samples(features, labels, config.split_config())
    except ValueError as error:
        raise dg.Failure(f"{symbol}: {error}") from error
    return FoldHistory(symbol, stored, samples, digests, config)
