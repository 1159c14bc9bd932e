"""Zero-copy windows, the torch dataset and loader, augmentation, atomic save/load."""

import numpy as np
import pytest
import torch

from resnet_pipeline.ml.data import dataset_store as dataset_module
from resnet_pipeline.ml.data.augment import AugmentConfig, augment_batch, warp_positions
from resnet_pipeline.ml.data.dataset import DatasetSplits, build_splits
from resnet_pipeline.ml.data.splits import SplitConfig
from resnet_pipeline.ml.data.windows import WindowDataset, make_loader
from resnet_pipeline_tests._dataset_helpers import feature_frames

CFG = SplitConfig(window=64)


@pytest.fixture(scope="module")
def splits():
    return build_splits(*feature_frames(3000), CFG)


def test_windows_are_gathered_from_a_view_not_stored(splits):
    splits.window(int(splits.train_ends[0]))
    assert np.shares_memory(splits._views, splits.matrix)  # the strided view: no copy
    assert splits.matrix.nbytes == 3000 * 15 * 4  # the one stored array
    batch = splits.windows(splits.val_ends[:5])
    for i, end in enumerate(splits.val_ends[:5]):
        np.testing.assert_array_equal(batch[i], splits.window(int(end)))
    with pytest.raises(IndexError, match="window ends must lie in"):
        splits.windows(np.array([10]))


def test_dataset_items_and_batches(splits):
    ds = WindowDataset(splits, "test")
    x, y = ds[4]
    assert x.shape == (15, 64) and x.dtype == torch.float32 and y.dtype == torch.int64
    np.testing.assert_array_equal(x.numpy(), splits.window(int(splits.test_ends[4])))
    assert int(y) == splits.labels[splits.test_ends[4]]
    assert len(ds) == len(splits.test_ends)
    np.testing.assert_array_equal(ds.labels, splits.labels[splits.test_ends])


def test_loader_batches_in_order_or_shuffled_by_seed(splits):
    ordered = list(make_loader(WindowDataset(splits, "val"), batch_size=32))
    assert sum(len(y) for _, y in ordered) == len(splits.val_ends)
    x, y = ordered[1]
    assert x.shape == (32, 15, 64)
    np.testing.assert_array_equal(y.numpy(), splits.labels[splits.val_ends[32:64]])
    np.testing.assert_array_equal(x[0].numpy(), splits.window(int(splits.val_ends[32])))

    def first_labels(seed):
        loader = make_loader(WindowDataset(splits, "train"), 16, shuffle=True, seed=seed)
        return [y.tolist() for _, y in loader][:5]

    assert first_labels(1) == first_labels(1) != first_labels(2)
    loader = make_loader(WindowDataset(splits, "train"), 100, shuffle=True, seed=1)
    epochs = [np.concatenate(list(loader.batch_sampler)) for _ in range(2)]
    assert len(loader) == -(-len(splits.train_ends) // 100)
    for order in epochs:  # every training sample once per epoch, in a new order each epoch
        assert np.array_equal(np.sort(order), np.arange(len(splits.train_ends)))
    assert not np.array_equal(*epochs)
    sub = make_loader(WindowDataset(splits, "train"), 16, num_samples=40, drop_last=True)
    assert [len(y) for _, y in sub] == [16, 16]
    with pytest.raises(ValueError, match="batch_size"):
        make_loader(WindowDataset(splits, "train"), 0)


def test_augmentation_keeps_shape_and_is_seeded_per_sample(splits):
    aug = AugmentConfig()
    a = WindowDataset(splits, "train", aug, seed=3)
    b = WindowDataset(splits, "train", aug, seed=3)
    xa, ya = a.__getitems__([0, 5, 9])
    xb, yb = b.__getitems__([9, 0])
    assert xa.shape == (3, 15, 64) and xa.dtype == torch.float32
    np.testing.assert_array_equal(xa[2].numpy(), xb[0].numpy())  # same sample, any batch
    np.testing.assert_array_equal(ya[[2, 0]].numpy(), yb.numpy())  # labels untouched
    plain = WindowDataset(splits, "train").__getitems__([0])[0][0].numpy()
    assert not np.allclose(xa[0].numpy(), plain)
    assert np.abs(xa[0].numpy() - plain).mean() < 0.5  # slight, not a different series
    a.set_epoch(1)
    assert not np.allclose(a.__getitems__([0])[0][0].numpy(), xa[0].numpy())
    other_seed = WindowDataset(splits, "train", aug, seed=4).__getitems__([0])[0][0]
    assert not np.allclose(other_seed.numpy(), xa[0].numpy())


def test_augmentation_is_off_for_validation_and_test(splits):
    for split in ("val", "test"):
        with pytest.raises(ValueError, match="training split only"):
            WindowDataset(splits, split, AugmentConfig())
        x, _ = WindowDataset(splits, split).__getitems__([0, 1])
        np.testing.assert_array_equal(x[1].numpy(), splits.window(int(splits.ends(split)[1])))


def test_each_augmentation_does_what_it_says():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 15, 64)).astype(np.float32)
    idx = np.arange(256)
    off = dict(noise_sigma=0.0, warp_strength=0.0, scale_low=1.0, scale_high=1.0)
    same = augment_batch(x, idx, AugmentConfig(**off), 0, 0)
    np.testing.assert_allclose(same, x, atol=1e-6)
    noise = augment_batch(x, idx, AugmentConfig(**(off | {"noise_sigma": 0.01})), 0, 0) - x
    assert abs(noise.std() - 0.01) < 5e-4 and abs(noise.mean()) < 5e-4
    scaled = augment_batch(
        x, idx, AugmentConfig(**(off | {"scale_low": 0.9, "scale_high": 1.1})), 0, 0
    )
    ratio = scaled[:, 0, 0] / x[:, 0, 0]
    assert ratio.min() >= 0.9 - 1e-6 and ratio.max() <= 1.1 + 1e-6 and ratio.std() > 0.03
    np.testing.assert_allclose(scaled / ratio[:, None, None], x, rtol=1e-4, atol=1e-5)
    speeds = torch.from_numpy(1 + 0.05 * rng.uniform(-1, 1, (32, 6)))
    pos = warp_positions(speeds, 64)
    assert (pos[:, 0] == 0).all() and torch.allclose(
        pos[:, -1], torch.full((32,), 63.0, dtype=pos.dtype)
    )
    assert (pos.diff(dim=1) > 0).all() and (pos - torch.arange(64)).abs().max() > 0.1
    warped = augment_batch(x, idx, AugmentConfig(**(off | {"warp_strength": 0.05})), 0, 0)
    np.testing.assert_allclose(warped[:, :, [0, -1]], x[:, :, [0, -1]], atol=1e-5)
    assert not np.allclose(warped, x)
    with pytest.raises(ValueError, match="scale range"):
        AugmentConfig(scale_low=1.2, scale_high=1.1)


def test_save_load_round_trip(tmp_path, splits):
    path = splits.save(tmp_path / "BTCUSDT")
    again = DatasetSplits.load(path)
    assert isinstance(again.matrix, np.memmap)  # pages in on demand
    for split in ("train", "val", "test"):
        np.testing.assert_array_equal(again.ends(split), splits.ends(split))
    np.testing.assert_array_equal(again.matrix, splits.matrix)
    np.testing.assert_array_equal(again.labels, splits.labels)
    np.testing.assert_array_equal(again.timestamps, splits.timestamps)
    assert again.config == splits.config and again.stats == splits.stats
    assert again.normalizer.to_dict() == splits.normalizer.to_dict()
    end = int(splits.val_ends[3])
    np.testing.assert_array_equal(again.window(end), splits.window(end))
    assert sorted(p.name for p in path.iterdir()) == [
        "labels.npy",
        "matrix.npy",
        "meta.json",
        "splits.npz",
        "timestamps.npy",
    ]
    with pytest.raises(FileNotFoundError, match="materialize dataset_splits"):
        DatasetSplits.load(tmp_path / "ETHUSDT")


def test_a_failed_save_keeps_the_previous_dataset(tmp_path, splits, monkeypatch):
    path = splits.save(tmp_path / "BTCUSDT")
    smaller = build_splits(*feature_frames(2000, seed=9), CFG)

    def disk_full(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(dataset_module.np, "savez", disk_full)
    with pytest.raises(OSError, match="No space"):
        smaller.save(path)
    monkeypatch.undo()
    kept = DatasetSplits.load(path)
    np.testing.assert_array_equal(kept.train_ends, splits.train_ends)
    assert [p.name for p in tmp_path.iterdir()] == ["BTCUSDT"]  # no temp directories left
    smaller.save(path)  # and a later save replaces it
    assert len(DatasetSplits.load(path).matrix) == 2000
    assert [p.name for p in tmp_path.iterdir()] == ["BTCUSDT"]
