"""Monthly walk-forward folds (SPEC 13): for month M, which samples train, validate and predict.

A fold trains on samples strictly before M (every earlier month: expanding; or the last
``rolling_months``), validates on the last ``val_ratio`` of that range and predicts every
eligible minute of M. The sample rules are ``dataset_splits``' (a label, a full window, no
warm-up, NaN or gap inside it: ``ml.data.splits.sample_rows``), and so is the purge: a training or
validation sample whose label horizon (t + purge minutes) reaches the next part is dropped,
so no training label sees a price of M and no training label a validation price. Statistics
are fitted on the fold's training windows only.

A run of folds reads its months once: ``eligible_samples`` over every month the run needs,
then ``fold_samples`` cuts out each fold's rows, equal to what reading that fold's months
alone gives (the same rows, sample ends and, through ``build_fold``, normalizer)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

from resnet_pipeline.features.channel_names import FEATURE_CHANNELS
from resnet_pipeline.knobs import check_knobs, knob, same_as
from resnet_pipeline.ml.data.dataset import DatasetSplits
from resnet_pipeline.ml.data.normalization import Normalizer, fit_normalizer
from resnet_pipeline.ml.data.splits import SplitConfig, iso_utc, sample_rows


@dataclass(frozen=True)
class FoldConfig:
    window: int = same_as(SplitConfig, "window")
    val_ratio: float = knob(0.15, "the newest share of the training range validates", gt=0, lt=1)
    rolling_months: int | None = knob(
        None, "train on the last N months before M (null: every earlier month, expanding)", ge=1
    )
    purge_minutes: int | None = same_as(SplitConfig, "purge_minutes")
    max_gap_minutes: float = same_as(SplitConfig, "max_gap_minutes")
    price_norm: str = same_as(SplitConfig, "price_norm")
    min_train_samples: int = knob(64, "a fold with fewer training samples is refused", ge=1)

    def __post_init__(self) -> None:
        check_knobs(self)
        self.split_config()  # validates window, purge, gap and price_norm the dataset's way

    def split_config(self, forward_window: int = SplitConfig.forward_window) -> SplitConfig:
        """The dataset's sample rules for this fold; ``forward_window``: the label horizon the
        purge must cover (a label variant's own, SPEC 14)."""
        return SplitConfig(
            window=self.window,
            forward_window=forward_window,
            purge_minutes=self.purge_minutes,
            max_gap_minutes=self.max_gap_minutes,
            price_norm=self.price_norm,
        )


@dataclass
class Samples:
    """Raw feature rows of consecutive months and the usable sample ends among them."""

    rows: np.ndarray  # [N, C] float32 raw channels
    labels: np.ndarray  # [N] int64, -1 unknown
    times: np.ndarray  # [N] datetime64[ns] UTC
    eligible: np.ndarray  # int64 row indices that can be samples
    config: SplitConfig
    channels: tuple[str, ...] = FEATURE_CHANNELS  # the columns of ``rows``


@dataclass
class Fold:
    month: date
    splits: DatasetSplits  # train / val / test(= predict M) ends, the fold's own normalizer
    info: dict = field(default_factory=dict)


def month_start(month: date) -> np.datetime64:
    return np.datetime64(f"{month:%Y-%m}-01T00:00", "ns")


def add_months(month: date, n: int) -> date:
    index = month.year * 12 + month.month - 1 + n
    return date(index // 12, index % 12 + 1, 1)


def eligible_samples(
    features: pd.DataFrame,
    labels: pd.DataFrame,
    config: SplitConfig,
    channels: tuple[str, ...] = FEATURE_CHANNELS,
) -> Samples:
    """The rows usable as samples, by ``build_splits``' rules (``ml.data.splits.sample_rows``)."""
    rows = sample_rows(features, labels, config, channels)
    return Samples(rows.rows, rows.labels, rows.times, rows.eligible_ends, config, rows.channels)


def take_rows(samples: Samples, lo: int, hi: int) -> Samples:
    """Rows ``lo..hi-1`` as if only they had been read: a sample whose window would start
    before ``lo`` is none (every other rule of ``sample_rows`` looks only inside the window)."""
    eligible = samples.eligible
    inside = eligible[(eligible >= lo + samples.config.window - 1) & (eligible < hi)]
    return Samples(
        rows=samples.rows[lo:hi],
        labels=samples.labels[lo:hi],
        times=samples.times[lo:hi],
        eligible=inside - lo,
        config=samples.config,
        channels=samples.channels,
    )


def fold_samples(
    samples: Samples, month: date, cfg: FoldConfig, through_month: bool = False
) -> Samples:
    """The rows the fold for ``month`` trains on, out of ``samples`` read for a whole run
    (starting at the first stored month): its training months (``training_months``), and
    ``month`` itself when ``through_month`` (a fold that predicts it), as reading them alone
    would give."""
    first = 0
    if cfg.rolling_months is not None:
        start = month_start(add_months(month, -cfg.rolling_months))
        first = int(np.searchsorted(samples.times, start))
    end = month_start(add_months(month, 1) if through_month else month)
    return take_rows(samples, first, int(np.searchsorted(samples.times, end)))


def fold_ranges(samples: Samples, month: date, cfg: FoldConfig) -> dict[str, np.ndarray]:
    """Sample ends of the fold for ``month``: train, val (purged) and predict (all of M)."""
    start, end = month_start(month), month_start(add_months(month, 1))
    t = samples.times[samples.eligible]
    purge = np.timedelta64(samples.config.purge, "m")
    before = t + purge < start  # the label horizon ends before M begins
    if cfg.rolling_months is not None:
        before &= t >= month_start(add_months(month, -cfg.rolling_months))
    history = samples.eligible[before]
    predict = samples.eligible[(t >= start) & (t < end)]
    n_val = max(1, int(round(len(history) * cfg.val_ratio)))
    train, val = history[:-n_val], history[-n_val:]
    if len(train) and len(val):
        train = train[samples.times[train] + purge < samples.times[val[0]]]
    if len(train) < cfg.min_train_samples or not len(val):
        raise ValueError(
            f"fold {month:%Y-%m}: {len(train)} training and {len(val)} validation samples "
            f"before {month:%Y-%m} (at least {cfg.min_train_samples} training samples needed): "
            "materialize features and labels of earlier months, or start the walk-forward later"
        )
    return {"train": train, "val": val, "predict": predict}


def build_fold(samples: Samples, month: date, cfg: FoldConfig) -> Fold:
    """The fold's splits with a normalizer fitted on its training windows only."""
    ends = fold_ranges(samples, month, cfg)
    window = samples.config.window
    normalizer = fit_normalizer(
        samples.rows, ends["train"], window, samples.config.price_norm, samples.channels
    )
    splits = with_normalizer(samples, normalizer, ends["train"], ends["val"], ends["predict"])
    t = samples.times
    info = {
        "month": f"{month:%Y-%m}",
        "train_samples": int(len(ends["train"])),
        "val_samples": int(len(ends["val"])),
        "train_first": iso_utc(t[ends["train"][0]]),
        "train_last": iso_utc(t[ends["train"][-1]]),
        "val_first": iso_utc(t[ends["val"][0]]),
        "val_last": iso_utc(t[ends["val"][-1]]),
        "train_class_shares": _shares(samples.labels[ends["train"]]),
        "window": cfg.window,
        "purge_minutes": samples.config.purge,
        "rolling_months": cfg.rolling_months,
    }
    return Fold(month, splits, info)


def with_normalizer(
    samples: Samples,
    normalizer: Normalizer,
    train: np.ndarray,
    val: np.ndarray,
    predict: np.ndarray,
) -> DatasetSplits:
    """DatasetSplits over the samples' rows normalized with ``normalizer`` (a copy: the raw
    rows stay usable for another fold)."""
    return DatasetSplits(
        matrix=normalizer.transform_rows_(samples.rows.copy()),
        labels=samples.labels,
        timestamps=samples.times,
        train_ends=np.asarray(train, np.int64),
        val_ends=np.asarray(val, np.int64),
        test_ends=np.asarray(predict, np.int64),
        normalizer=normalizer,
        config=samples.config,
        channel_names=normalizer.channel_names,
    )


def predict_ends(samples: Samples, month: date) -> np.ndarray:
    """Every eligible sample of ``month``."""
    t = samples.times[samples.eligible]
    inside = (t >= month_start(month)) & (t < month_start(add_months(month, 1)))
    return samples.eligible[inside]


def training_months(available: list[date], month: date, cfg: FoldConfig) -> list[date]:
    """Stored months a fold reads: every month before M (or the last ``rolling_months``)."""
    earlier = [m for m in available if m < month]
    if cfg.rolling_months is not None:
        earlier = [m for m in earlier if m >= add_months(month, -cfg.rolling_months)]
    return earlier


def _shares(labels: np.ndarray) -> list[float]:
    counts = np.bincount(np.asarray(labels, np.int64), minlength=3)
    return (counts / max(counts.sum(), 1)).tolist()
