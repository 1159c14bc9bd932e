"""What a run of folds reads (SPEC 11, 13, 14): the stored months of one symbol, each read once,
with the sha256 of every file read.

Labels are the stored ``labels`` asset (the SPEC 5 rule: the walk-forward), or, for a label
variant, computed with its ``LabelConfig`` from the stored raw candles of the months read and
the months beside them, in one pass over the continuous candles (so a month's tail sees the
next month and a volatility-scaled threshold its trailing minutes); nothing is re-ingested.

A range of folds runs in one run. Reading every earlier month again for each fold made a
year's backfill grow quadratically with its history; ``read_history`` reads each month any of
the run's folds needs once, finds the eligible samples once, and ``FoldHistory.fold`` cuts each
fold's rows out (``ml.folds.monthly_folds.fold_samples``): the same rows, sample ends and normalizer
as reading that fold's months alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pandas as pd

from resnet_pipeline.artifacts import exists, file_sha256
from resnet_pipeline.commands import ingest_month
from resnet_pipeline.features.labels import LabelConfig, compute_labels
from resnet_pipeline.layout import Layout
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
from resnet_pipeline.storage import read_partitions, stored_months

STORED_LABELS = ("features", "labels")
RAW_CANDLES = "raw_candles"


class FoldInputError(ValueError):
    """A fold's months cannot be read or give too few samples; the message names the fix."""


def input_digests(layout: Layout, symbol: str, read: dict[str, list[date]]) -> dict[str, str]:
    """sha256 of each file read ({asset: months}) as {"asset/YYYY-MM": digest}: what a fold
    was trained on."""
    out = {}
    for asset, months in read.items():
        for month in months:
            path = layout.partition(asset, symbol, month)
            if exists(path):
                out[f"{asset}/{month:%Y-%m}"] = file_sha256(path)
    return out


def _beside(months: list[date]) -> set[date]:
    """The months and their neighbours: the candles a label variant reads around them (its
    labels' history before a month and their tails after it)."""
    return {add_months(m, step) for m in months for step in (-1, 0, 1)}


def files_read(
    months: list[date], labels: LabelConfig | None, raw_stored: list[date]
) -> dict[str, list[date]]:
    """The files a reading of ``months`` opens, {asset: months}: features and the stored labels,
    or, for a label variant (``labels``), features and the stored raw candles of the months and
    those beside them."""
    if labels is None:
        return {asset: months for asset in STORED_LABELS}
    nearby = _beside(months)
    return {"features": months, RAW_CANDLES: [m for m in raw_stored if m in nearby]}


@dataclass(frozen=True)
class MonthsRead:
    samples: Samples
    digests: dict[str, str]  # "asset/YYYY-MM" -> sha256 of the file read
    candles: pd.DataFrame | None  # the raw candles read for a label variant's labels


def read_months(
    layout: Layout, symbol: str, months: list[date], folds: FoldConfig, labels: LabelConfig | None
) -> MonthsRead:
    """The eligible samples of ``months`` (stored months, oldest first) and the digests of the
    files read; ``labels`` None: the stored labels asset, else that rule over the raw candles
    of the months and those beside them."""
    features = read_partitions(layout, "features", symbol, months)
    candles = None
    raw_stored = [] if labels is None else stored_months(layout, RAW_CANDLES, symbol)
    read = files_read(months, labels, raw_stored)
    if labels is None:
        label_frame = read_partitions(layout, "labels", symbol, months)
        horizon = LabelConfig().forward_window
    else:
        candles = read_partitions(layout, RAW_CANDLES, symbol, read[RAW_CANDLES])
        label_frame = compute_labels(candles, None, labels)
        horizon = labels.forward_window
    try:
        samples = eligible_samples(features, label_frame, folds.split_config(horizon))
    except ValueError as error:
        raise FoldInputError(f"{symbol}: {error}") from error
    return MonthsRead(samples, input_digests(layout, symbol, read), candles)


@dataclass(frozen=True)
class FoldData:
    """One fold's share of a run's reading: the months it read, their files' digests, its
    splits, and its sample rows (through month M when the run predicts M)."""

    months: list[date]  # the training months, then M when predicted
    digests: dict[str, str]  # "asset/YYYY-MM" -> sha256 of the file read
    fold: Fold
    samples: Samples
    candles: pd.DataFrame | None  # the run's raw candles (a label variant's), M's included

    @property
    def training_months(self) -> list[date]:
        return [m for m in self.months if m < self.fold.month]


@dataclass
class FoldHistory:
    """Every month one symbol's folds of a run read, read once."""

    symbol: str
    stored: list[date]  # months with stored features
    raw_stored: list[date]  # months with stored raw candles (read by a label variant)
    read: MonthsRead | None  # None: no month to read
    config: FoldConfig
    labels: LabelConfig | None
    predicted: bool  # whether the run reads the folds' own months (to predict them)

    def fold(self, month: date) -> FoldData:
        """The fold for ``month``: its months, their digests, its splits and its rows."""
        months = training_months(self.stored, month, self.config)
        if not months or self.read is None:
            raise FoldInputError(
                f"no stored features for {self.symbol} before {month:%Y-%m}: a fold trains on "
                "earlier months. Materialize them first, e.g. "
                f"{ingest_month(self.symbol, add_months(month, -1))}"
            )
        months = months + [month] if self.predicted else months
        opened = {
            f"{asset}/{m:%Y-%m}"
            for asset, read in files_read(months, self.labels, self.raw_stored).items()
            for m in read
        }
        digests = {key: value for key, value in self.read.digests.items() if key in opened}
        rows = fold_samples(self.read.samples, month, self.config, through_month=self.predicted)
        try:
            fold = build_fold(rows, month, self.config)
        except ValueError as error:
            raise FoldInputError(f"{self.symbol}: {error}") from error
        return FoldData(months, digests, fold, rows, self.read.candles)


def read_history(
    layout: Layout,
    symbol: str,
    fold_months: list[date],
    config: FoldConfig,
    labels: LabelConfig | None = None,
    predicted: bool = False,
) -> FoldHistory:
    """Read the months that any fold of ``fold_months`` trains on (and the fold months
    themselves when ``predicted``), once."""
    stored = stored_months(layout, "features", symbol)
    missing = [m for m in fold_months if predicted and m not in stored]
    if missing:
        month = missing[0]
        raise FoldInputError(
            f"{symbol}: a fold for {month:%Y-%m} needs stored features of {month:%Y-%m} and of "
            f"earlier months; materialize them, e.g. {ingest_month(symbol, month)}"
        )
    raw_stored = [] if labels is None else stored_months(layout, RAW_CANDLES, symbol)
    needed = {m for month in fold_months for m in training_months(stored, month, config)}
    if predicted and needed:
        needed |= set(fold_months)
    if not needed:
        return FoldHistory(symbol, stored, raw_stored, None, config, labels, predicted)
    read = read_months(layout, symbol, sorted(needed), config, labels)
    return FoldHistory(symbol, stored, raw_stored, read, config, labels, predicted)


def fold_digests(
    layout: Layout, symbol: str, month: date, config: FoldConfig, labels: LabelConfig | None
) -> dict[str, str]:
    """The digests of the files the predicted fold of ``month`` would read now (those
    ``read_history(..., predicted=True).fold(month).digests`` gives), from the files alone,
    reading no rows: whether a finished fold was made from today's inputs."""
    stored = stored_months(layout, "features", symbol)
    months = training_months(stored, month, config) + [month]
    raw_stored = [] if labels is None else stored_months(layout, RAW_CANDLES, symbol)
    return input_digests(layout, symbol, files_read(months, labels, raw_stored))
