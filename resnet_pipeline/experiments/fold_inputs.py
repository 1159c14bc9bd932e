"""What a run of folds reads (SPEC 11, 13, 14): the stored months of one symbol, each read once,
with the sha256 of every file read.

Labels are the stored ``labels`` asset (the SPEC 5 rule: the walk-forward), or, for a label
variant, computed with its ``LabelConfig`` from the stored raw candles of the months read and
the months beside them, in one pass over the continuous candles (so a month's tail sees the
next month and a volatility-scaled threshold its trailing minutes); nothing is re-ingested.

Channels are the stored ``features`` asset, or, for a feature variant (``FeatureConfig``
whose channels are not exactly the stored ones), computed by the channel families
(``features.families.compute_channels``) from the stored raw candles of the months read and
the month before each (the families' history), plus the cross symbol's candles over the same
months for ``cross_asset``: in one causal pass over the continuous candles, so a row sees only
candles up to its minute and the warm-up rows are excluded as the stored features' are. The
digests cover every file opened, the cross symbol's keyed ``raw_candles@SYMBOL/YYYY-MM``.

A range of folds runs in one run. Reading every earlier month again for each fold made a
year's backfill grow quadratically with its history; ``read_history`` reads each month any of
the run's folds needs once, finds the eligible samples once, and ``FoldHistory.fold`` cuts each
fold's rows out (``ml.folds.monthly_folds.fold_samples``): the same rows, sample ends and normalizer
as reading that fold's months alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from resnet_pipeline.artifacts import exists, file_sha256
from resnet_pipeline.commands import ingest_month, materialize_month
from resnet_pipeline.features.channel_names import FEATURE_CHANNELS
from resnet_pipeline.features.families import compute_channels
from resnet_pipeline.features.feature_config import FeatureConfig
from resnet_pipeline.features.labels import LabelConfig, compute_labels
from resnet_pipeline.layout import Layout
from resnet_pipeline.market.schema import order_flow_values
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


def cross_key(symbol: str) -> str:
    """How the files of another symbol's raw candles are named among a fold's inputs."""
    return f"{RAW_CANDLES}@{symbol}"


def _file_of(key: str, symbol: str) -> tuple[str, str]:
    """(asset, symbol) of an input key: ``asset`` of ``symbol``, or ``raw_candles@OTHER``."""
    asset, _, other = key.partition("@")
    return asset, other or symbol


def input_digests(layout: Layout, symbol: str, read: dict[str, list[date]]) -> dict[str, str]:
    """sha256 of each file read ({asset: months}) as {"asset/YYYY-MM": digest}: what a fold
    was trained on."""
    out = {}
    for key, months in read.items():
        asset, owner = _file_of(key, symbol)
        for month in months:
            path = layout.partition(asset, owner, month)
            if exists(path):
                out[f"{key}/{month:%Y-%m}"] = file_sha256(path)
    return out


def computed(features: FeatureConfig | None) -> bool:
    """Whether the channels are computed from candles (not the stored ``features`` asset)."""
    return features is not None and not features.stored


def _with_history(months: list[date]) -> set[date]:
    """The months and the month before each: the candles computed channels read."""
    return {add_months(m, step) for m in months for step in (-1, 0)}


def _beside(months: list[date]) -> set[date]:
    """The months and their neighbours: the candles a label variant reads around them (its
    labels' history before a month and their tails after it)."""
    return {add_months(m, step) for m in months for step in (-1, 0, 1)}


def files_read(
    months: list[date],
    labels: LabelConfig | None,
    raw_stored: list[date],
    features: FeatureConfig | None = None,
    cross_stored: list[date] = (),
) -> dict[str, list[date]]:
    """The files a reading of ``months`` opens, {asset: months}: features and the stored labels,
    or, for a label variant (``labels``), the stored raw candles of the months and those beside
    them instead of the labels; for a feature variant (``computed``), raw candles of the months
    and the month before each instead of the features (and the cross symbol's, ``cross_key``)."""
    out: dict[str, list[date]] = {}
    if not computed(features):
        out["features"] = months
    if labels is None:
        out["labels"] = months
    candles = (_beside(months) if labels is not None else set()) | (
        _with_history(months) if computed(features) else set()
    )
    if candles:
        out[RAW_CANDLES] = [m for m in raw_stored if m in candles]
    if computed(features) and features.cross_symbol:
        out[cross_key(features.cross_symbol)] = [
            m for m in cross_stored if m in _with_history(months)
        ]
    return out


@dataclass(frozen=True)
class MonthsRead:
    samples: Samples
    digests: dict[str, str]  # "asset/YYYY-MM" -> sha256 of the file read
    candles: pd.DataFrame | None  # the raw candles read for a label variant's labels


def _cross_stored(layout: Layout, symbol: str, features: FeatureConfig | None) -> list[date]:
    if not computed(features) or not features.cross_symbol:
        return []
    return stored_months(layout, RAW_CANDLES, features.cross_symbol)


def _require_cross(features: FeatureConfig, months: list[date], cross_stored: list[date]) -> None:
    """Refuse months the cross symbol has no stored candles of, naming the command."""
    missing = [m for m in months if m not in cross_stored]
    if missing:
        other = features.cross_symbol
        raise FoldInputError(
            f"the cross_asset channels read {other}'s candles of every month read, but "
            f"{', '.join(f'{m:%Y-%m}' for m in missing)} of {other} are not stored: ingest "
            f"them, e.g. {materialize_month(RAW_CANDLES, other, missing[0])} (add {other} to "
            "RESNET_SYMBOLS first)"
        )


def computed_channels(
    layout: Layout,
    symbol: str,
    months: list[date],
    features: FeatureConfig,
    candles: pd.DataFrame,
    read: dict[str, list[date]],
) -> pd.DataFrame:
    """The variant's channels (timestamp, channels, warmup) for the rows of ``months``,
    computed in one causal pass over ``candles`` (the months and the month before each)."""
    flow = order_flow_values(candles, "trades")
    if features.selection(symbol).needs_order_flow and np.isnan(flow).all():
        raise FoldInputError(
            f"{symbol}: the order_flow channels need taker-buy volume and trade counts, and the "
            "stored raw candles carry none: drop order_flow from the variant's channels, or "
            "ingest the months again from a source with order flow (RESNET_SOURCE=files with "
            "Binance daily exports)"
        )
    other = None
    if features.cross_symbol:
        other = read_partitions(
            layout, RAW_CANDLES, features.cross_symbol, read[cross_key(features.cross_symbol)]
        )
    frame = compute_channels(features.channels, candles, None, other)
    stamp = frame["timestamp"].dt.tz_convert("UTC")
    month_index = stamp.dt.year * 12 + stamp.dt.month - 1
    inside = month_index.isin({m.year * 12 + m.month - 1 for m in months}).to_numpy()
    return frame[inside].reset_index(drop=True)


def read_variant_channels(
    layout: Layout, symbol: str, months: list[date], features: FeatureConfig
) -> tuple[pd.DataFrame, dict[str, str]]:
    """A feature variant's channels of ``months`` (``computed_channels`` over the stored raw
    candles) and the digests of the files read: what the main job's ``dataset_splits`` reads
    when its config selects channels."""
    raw_stored = stored_months(layout, RAW_CANDLES, symbol)
    cross_stored = _cross_stored(layout, symbol, features)
    read = files_read(months, None, raw_stored, features, cross_stored)
    del read["labels"]  # the stored labels: the caller reads them
    missing = [m for m in months if m not in raw_stored]
    if missing:
        raise FoldInputError(
            f"{symbol}: the selected channels are computed from raw candles, and "
            f"{missing[0]:%Y-%m} has none stored: {ingest_month(symbol, missing[0])}"
        )
    if features.cross_symbol:
        _require_cross(features, months, cross_stored)
    candles = read_partitions(layout, RAW_CANDLES, symbol, read[RAW_CANDLES])
    frame = computed_channels(layout, symbol, months, features, candles, read)
    return frame, input_digests(layout, symbol, read)


def read_months(
    layout: Layout,
    symbol: str,
    months: list[date],
    folds: FoldConfig,
    labels: LabelConfig | None,
    features: FeatureConfig | None = None,
) -> MonthsRead:
    """The eligible samples of ``months`` (stored months, oldest first) and the digests of the
    files read; ``labels`` None: the stored labels asset, else that rule over the raw candles
    of the months and those beside them; ``features`` (a feature variant): its channels
    computed from the raw candles, else the stored features."""
    candles = None
    needs_candles = labels is not None or computed(features)
    raw_stored = stored_months(layout, RAW_CANDLES, symbol) if needs_candles else []
    cross_stored = _cross_stored(layout, symbol, features)
    read = files_read(months, labels, raw_stored, features, cross_stored)
    if needs_candles:
        candles = read_partitions(layout, RAW_CANDLES, symbol, read[RAW_CANDLES])
    if computed(features):
        if features.cross_symbol:
            _require_cross(features, months, cross_stored)
        frame = computed_channels(layout, symbol, months, features, candles, read)
        channels = features.channels
    else:
        frame = read_partitions(layout, "features", symbol, months)
        channels = FEATURE_CHANNELS
    if labels is None:
        label_frame = read_partitions(layout, "labels", symbol, months)
        horizon = LabelConfig().forward_window
    else:
        label_frame = compute_labels(candles, None, labels)
        horizon = labels.forward_window
    try:
        samples = eligible_samples(frame, label_frame, folds.split_config(horizon), channels)
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
    stored: list[date]  # months with stored features (raw candles for a feature variant)
    raw_stored: list[date]  # months with stored raw candles (read by a label or feature variant)
    read: MonthsRead | None  # None: no month to read
    config: FoldConfig
    labels: LabelConfig | None
    predicted: bool  # whether the run reads the folds' own months (to predict them)
    features: FeatureConfig | None = None
    cross_stored: list[date] = ()  # the cross symbol's months with stored raw candles

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
            for asset, read in files_read(
                months, self.labels, self.raw_stored, self.features, self.cross_stored
            ).items()
            for m in read
        }
        digests = {key: value for key, value in self.read.digests.items() if key in opened}
        rows = fold_samples(self.read.samples, month, self.config, through_month=self.predicted)
        try:
            fold = build_fold(rows, month, self.config)
        except ValueError as error:
            raise FoldInputError(f"{self.symbol}: {error}") from error
        return FoldData(months, digests, fold, rows, self.read.candles)


def _stored(layout: Layout, symbol: str, features: FeatureConfig | None) -> list[date]:
    """The months a fold can read rows of: stored features, or, for a feature variant, stored
    raw candles."""
    return stored_months(layout, RAW_CANDLES if computed(features) else "features", symbol)


def read_history(
    layout: Layout,
    symbol: str,
    fold_months: list[date],
    config: FoldConfig,
    labels: LabelConfig | None = None,
    predicted: bool = False,
    features: FeatureConfig | None = None,
) -> FoldHistory:
    """Read the months that any fold of ``fold_months`` trains on (and the fold months
    themselves when ``predicted``), once; ``features``: a feature variant's channels."""
    stored = _stored(layout, symbol, features)
    missing = [m for m in fold_months if predicted and m not in stored]
    if missing:
        month = missing[0]
        what = "raw candles" if computed(features) else "features"
        raise FoldInputError(
            f"{symbol}: a fold for {month:%Y-%m} needs stored {what} of {month:%Y-%m} and of "
            f"earlier months; materialize them, e.g. {ingest_month(symbol, month)}"
        )
    needs_candles = labels is not None or computed(features)
    raw_stored = stored_months(layout, RAW_CANDLES, symbol) if needs_candles else []
    cross_stored = _cross_stored(layout, symbol, features)
    needed = {m for month in fold_months for m in training_months(stored, month, config)}
    if predicted and needed:
        needed |= set(fold_months)
    parts = (config, labels, predicted, features, cross_stored)
    if not needed:
        return FoldHistory(symbol, stored, raw_stored, None, *parts)
    read = read_months(layout, symbol, sorted(needed), config, labels, features)
    return FoldHistory(symbol, stored, raw_stored, read, *parts)


def fold_digests(
    layout: Layout,
    symbol: str,
    month: date,
    config: FoldConfig,
    labels: LabelConfig | None,
    features: FeatureConfig | None = None,
) -> dict[str, str]:
    """The digests of the files the predicted fold of ``month`` would read now (those
    ``read_history(..., predicted=True).fold(month).digests`` gives), from the files alone,
    reading no rows: whether a finished fold was made from today's inputs."""
    stored = _stored(layout, symbol, features)
    months = training_months(stored, month, config) + [month]
    needs_candles = labels is not None or computed(features)
    raw_stored = stored_months(layout, RAW_CANDLES, symbol) if needs_candles else []
    cross_stored = _cross_stored(layout, symbol, features)
    read = files_read(months, labels, raw_stored, features, cross_stored)
    return input_digests(layout, symbol, read)
