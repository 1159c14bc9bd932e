"""The pure parts of benchmarks/bench_peers.py: both sides train on the very windows the
pipeline builds, our trainer gets the recipe the peer's loop follows, and the scores are
scikit-learn's. tsai itself is not needed (it lives in the benchmark's own environment)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, log_loss

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import bench_peers  # noqa: E402
import peers_loop  # noqa: E402

from resnet_pipeline.ml.data.windows import make_loader  # noqa: E402


def test_both_sides_read_the_windows_the_pipeline_built(tmp_path: Path) -> None:
    """The saved files hold the pipeline's windows; the peer reads them back as they are and
    our loader draws the same arrays from them."""
    windows = bench_peers.synthetic_windows(days=3, window=64, counts=(40, 12, 12))
    peers_loop.save_windows(tmp_path, windows)
    peer = peers_loop.load_windows(tmp_path)
    for name in peers_loop.WINDOW_FILES:
        np.testing.assert_array_equal(getattr(peer, name), getattr(windows, name))
    assert peer.x_train.dtype == np.float32 and peer.y_train.dtype == np.int64
    assert peer.x_train.shape == (40, 15, 64) and peer.classes == 3
    ours = bench_peers.ArrayWindows(peer.x_train, peer.y_train)
    x, y = next(iter(make_loader(ours, batch_size=len(ours))))
    np.testing.assert_array_equal(x.numpy(), windows.x_train)
    np.testing.assert_array_equal(y.numpy(), windows.y_train)


def test_the_synthetic_windows_are_the_splits_windows_evenly_spaced() -> None:
    ends = np.arange(100, 200)
    picked = bench_peers.evenly_spaced(ends, 5)
    assert picked.tolist() == [100, 125, 150, 174, 199]
    assert bench_peers.evenly_spaced(ends, 500) is ends


def test_missing_windows_name_the_command(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="bench_peers.py"):
        peers_loop.load_windows(tmp_path)


def test_our_trainer_gets_the_recipe_of_the_plain_loop() -> None:
    recipe = peers_loop.Recipe(7, 32, 3e-3, 1e-2, 1e-5, (1.0, 2.0, 1.0), 4, 2)
    assert peers_loop.Recipe.from_json(recipe.to_json()) == recipe
    cfg = bench_peers.train_config(recipe, "fp32")
    assert (cfg.epochs, cfg.batch_size, cfg.lr, cfg.weight_decay, cfg.eta_min) == (
        7, 32, 3e-3, 1e-2, 1e-5
    )  # fmt: skip
    assert (cfg.class_weights, cfg.seed, cfg.num_threads, cfg.precision) == (
        (1.0, 2.0, 1.0), 4, 2, "fp32"
    )  # fmt: skip
    assert cfg.epoch_samples(50_000) == 50_000  # every window each epoch, as the plain loop
    assert cfg.patience >= cfg.epochs and cfg.max_val_samples is None


def test_an_epoch_covers_every_window_and_drops_a_last_batch_of_one() -> None:
    rng = np.random.default_rng(0)
    batches = peers_loop.epoch_batches(129, 64, rng)
    assert [len(b) for b in batches] == [64, 64]
    batches = peers_loop.epoch_batches(130, 64, rng)
    assert sorted(np.concatenate(batches).tolist()) == list(range(130))


def test_scores_are_scikit_learns() -> None:
    rng = np.random.default_rng(1)
    proba = rng.dirichlet(np.ones(3), size=200)
    y = rng.integers(0, 3, size=200)
    got = peers_loop.scores(proba, y)
    assert got["accuracy"] == pytest.approx(accuracy_score(y, proba.argmax(1)))
    assert got["log_loss"] == pytest.approx(log_loss(y, proba, labels=[0, 1, 2]))


def test_the_plain_loop_learns_a_learnable_toy() -> None:
    """The peer's loop trains every window each epoch and returns weights that predict."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, size=96)
    x = (rng.normal(size=(96, 1, 8)) + 2.0 * y[:, None, None]).astype(np.float32)
    windows = peers_loop.Windows(x[:64], y[:64], x[64:80], y[64:80], x[80:], y[80:])
    recipe = peers_loop.Recipe(5, 16, 1e-2, 0.0, 0.0, None, 0, 1)
    peers_loop.seed_everything(0, 1)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(8, 2))
    times = peers_loop.plain_fit(model, windows, recipe)
    assert times.train_samples == 5 * 64 and 1 <= times.best_epoch <= 5
    proba, _ = peers_loop.predict_proba(model, windows.x_test)
    assert peers_loop.scores(proba, windows.y_test)["accuracy"] > 0.8
