"""The torch side of a dataset: windows of one split as a Dataset, and the one loader path
(``make_loader``) that training, evaluation, tests and benchmarks all use.

Batches are whole-batch gathers: the sampler yields int64 index arrays and the dataset's
``__getitems__`` turns each into one numpy gather, instead of a Python call per item.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from resnet_pipeline.ml.data.augment import AugmentConfig, augment_batch
from resnet_pipeline.ml.data.dataset import DatasetSplits


class WindowDataset(Dataset):
    """Samples of one split: items are ``(x [C, window] float32, label int64)``. The
    DataLoader fetches whole batches through ``__getitems__``: one numpy gather per batch
    instead of a Python call per item."""

    def __init__(
        self,
        splits: DatasetSplits,
        split: str,
        augment: AugmentConfig | None = None,
        seed: int = 0,
    ) -> None:
        if augment is not None and split != "train":
            raise ValueError("augmentation is for the training split only")
        self.splits = splits
        self.split = split
        self.ends = splits.ends(split)
        self.augment = augment
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Augmentation draws depend on (seed, epoch, sample): reproducible, new each epoch."""
        self.epoch = epoch

    @property
    def labels(self) -> np.ndarray:
        return self.splits.labels[self.ends]

    def __len__(self) -> int:
        return len(self.ends)

    def __getitems__(self, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        idx = np.asarray(indices, np.int64)
        ends = self.ends[idx]
        x = self.splits.windows(ends)
        if self.augment is not None:
            x = augment_batch(x, idx, self.augment, self.seed, self.epoch)
        return torch.from_numpy(x), torch.from_numpy(self.splits.labels[ends])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self.__getitems__([index])
        return x[0], y[0]


class WindowBatchSampler(Sampler[np.ndarray]):
    """Yields whole batches of dataset indices as int64 arrays (one gather each), in order or
    shuffled by a seeded generator that advances per epoch. Holds one index array, not the
    Python list of ints torch's RandomSampler makes (~36 bytes a sample)."""

    def __init__(
        self,
        size: int,
        batch_size: int,
        shuffle: bool = False,
        num_samples: int | None = None,
        drop_last: bool = False,
        seed: int = 0,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size}: must be >= 1")
        if num_samples is not None and num_samples < 1:
            raise ValueError(f"num_samples={num_samples}: must be >= 1 (or None: all)")
        self.size, self.batch_size, self.drop_last = size, batch_size, drop_last
        self.shuffle = shuffle or num_samples is not None
        self.count = size if num_samples is None else min(num_samples, size)
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        full, rest = divmod(self.count, self.batch_size)
        return full + (1 if rest and not self.drop_last else 0)

    def __iter__(self):
        order = self.rng.permutation(self.size)[: self.count] if self.shuffle else None
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            stop = min(start + self.batch_size, self.count)
            yield order[start:stop] if order is not None else np.arange(start, stop)


def collate_batch(batch):
    """Window datasets return whole batches (``__getitems__``): passed through as they are.
    Plain datasets (e.g. a TensorDataset) return lists of items: stacked."""
    if isinstance(batch, list):
        xs, ys = zip(*batch, strict=True)
        return torch.stack(xs), torch.stack([torch.as_tensor(y) for y in ys])
    return batch


def make_loader(
    dataset: Dataset,
    batch_size: int = 64,
    shuffle: bool = False,
    num_samples: int | None = None,
    seed: int = 0,
    num_workers: int = 0,
    drop_last: bool = False,
    pin_memory: bool | None = None,
) -> DataLoader:
    """A DataLoader over whole-batch gathers. ``num_samples``: a fresh random subset of that
    size each epoch (quick runs). ``num_workers=0`` is usually fastest on CPU (a gather is a
    memcpy; workers pay pickling); ``pin_memory`` defaults to on when CUDA is present."""
    sampler = WindowBatchSampler(len(dataset), batch_size, shuffle, num_samples, drop_last, seed)
    return DataLoader(
        dataset,
        batch_sampler=sampler,
        collate_fn=collate_batch,
        num_workers=num_workers,
        pin_memory=torch.cuda.is_available() if pin_memory is None else pin_memory,
    )
