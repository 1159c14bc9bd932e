"""The one loader path (ml/data/windows.py) and the shared sample rules (ml/data/splits.py).

Training draws its epochs through ``make_loader``: the same sampler the tests and benchmarks
use, so what they measure is what training runs.
"""

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.data import TensorDataset

from resnet_pipeline.ml.data.splits import SplitConfig, flags_in_window, sample_rows
from resnet_pipeline.ml.data.windows import WindowBatchSampler, make_loader
from resnet_pipeline.ml.folds.monthly_folds import eligible_samples
from resnet_pipeline.ml.training.train_config import TrainConfig
from resnet_pipeline.ml.training.trainer import epoch_seed, train_loader, val_loader
from resnet_pipeline_tests._dataset_helpers import feature_frames


@settings(max_examples=60, deadline=None)
@given(
    size=st.integers(1, 300),
    batch_size=st.integers(1, 64),
    shuffle=st.booleans(),
    num_samples=st.none() | st.integers(1, 400),
    drop_last=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_batch_sampler_draws_distinct_indices_in_whole_batches(
    size, batch_size, shuffle, num_samples, drop_last, seed
):
    sampler = WindowBatchSampler(size, batch_size, shuffle, num_samples, drop_last, seed)
    batches = list(sampler)
    assert len(batches) == len(sampler)
    drawn = np.concatenate(batches) if batches else np.array([], np.int64)
    count = size if num_samples is None else min(num_samples, size)
    assert len(np.unique(drawn)) == len(drawn)  # no window twice in an epoch
    assert ((drawn >= 0) & (drawn < size)).all()
    assert all(0 < len(b) <= batch_size for b in batches)
    if drop_last:
        assert all(len(b) == batch_size for b in batches)
        assert len(drawn) == count - count % batch_size
    else:
        assert len(drawn) == count
    if not shuffle and num_samples is None:
        np.testing.assert_array_equal(drawn, np.arange(len(drawn)))


def test_training_draws_its_epochs_through_make_loader():
    data = TensorDataset(torch.randn(100, 2, 16), torch.randint(0, 3, (100,)))
    cfg = TrainConfig(batch_size=8, epoch_fraction=0.3, seed=5)
    assert cfg.epoch_samples(len(data)) == 100  # MIN_EPOCH_SAMPLES: all of a small set
    cfg = TrainConfig(batch_size=8, max_train_samples=30, seed=5)
    for epoch in (0, 3):
        loader = train_loader(data, cfg, epoch, pin=False, drop_last=True)
        assert isinstance(loader.batch_sampler, WindowBatchSampler)
        same = make_loader(data, 8, num_samples=30, seed=epoch_seed(5, epoch), drop_last=True)
        got, want = list(loader.batch_sampler), list(same.batch_sampler)
        assert len(got) == 3 and all(np.array_equal(a, b) for a, b in zip(got, want, strict=True))
        x, y = next(iter(loader))  # a plain dataset's items are stacked into a batch
        assert x.shape == (8, 2, 16) and y.shape == (8,)
    first = np.concatenate(list(train_loader(data, cfg, 0, False, False).batch_sampler))
    again = np.concatenate(list(train_loader(data, cfg, 0, False, False).batch_sampler))
    later = np.concatenate(list(train_loader(data, cfg, 1, False, False).batch_sampler))
    assert np.array_equal(first, again) and not np.array_equal(first, later)


def test_validation_runs_in_order_through_make_loader():
    data = TensorDataset(torch.arange(600.0).reshape(600, 1, 1), torch.zeros(600, dtype=int))
    loader = val_loader(data, TrainConfig(batch_size=8, max_val_samples=5), pin=False)
    assert isinstance(loader.batch_sampler, WindowBatchSampler)
    (x, _), *rest = list(loader)
    assert not rest and x.flatten().tolist() == [0.0, 150.0, 300.0, 449.0, 599.0]
    assert [len(y) for _, y in val_loader(data, TrainConfig(), pin=False)] == [256, 256, 88]


@settings(max_examples=60, deadline=None)
@given(
    flags=st.lists(st.booleans(), max_size=40).map(np.array),
    width=st.integers(1, 45),
)
def test_flags_in_window_counts_the_flagged_rows_behind_each_row(flags, width):
    counts = flags_in_window(flags.astype(bool), width)
    want = [
        int(flags[t - width + 1 : t + 1].sum()) if t >= width - 1 else 0 for t in range(len(flags))
    ]
    assert counts.tolist() == want


def test_walk_forward_uses_the_dataset_sample_rules():
    features, labels = feature_frames(900, drop=slice(400, 420))
    features.loc[600, "rsi_14"] = np.nan
    config = SplitConfig(window=64)
    rows = sample_rows(features, labels, config)
    stats = rows.stats()
    assert stats.warmup_excluded and stats.nonfinite_excluded and stats.gap_excluded
    np.testing.assert_array_equal(
        eligible_samples(features, labels, config).eligible, rows.eligible_ends
    )
    short = sample_rows(features.iloc[:40], labels, config)  # fewer rows than a window
    assert not len(short.eligible_ends) and short.stats().labelled == 0
