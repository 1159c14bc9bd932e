"""The training loop: it learns, it is reproducible, it resumes exactly, it stops early."""

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from resnet_pipeline.ml.model.model_config import ModelConfig
from resnet_pipeline.ml.model.resnet import build_model
from resnet_pipeline.ml.training.inference import predict_proba
from resnet_pipeline.ml.training.losses import FocalLoss
from resnet_pipeline.ml.training.train_config import TrainConfig
from resnet_pipeline.ml.training.trainer import train

SMALL = ModelConfig(in_channels=4, window=64)


def planted(n: int, seed: int) -> TensorDataset:
    """Noise windows whose class is written into channel 0 between steps 20 and 40."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, 64, generator=g)
    y = torch.randint(0, 3, (n,), generator=g)
    x[:, 0, 20:40] += (y.float() - 1)[:, None] * 2.0
    return TensorDataset(x, y)


def _cfg(**kw) -> TrainConfig:
    base = dict(
        epochs=2,
        batch_size=32,
        lr=3e-3,
        num_threads=1,  # the same arithmetic whatever else the machine runs
        class_weights=(1.0, 1.0, 1.0),
        max_train_samples=256,
    )
    return TrainConfig(**(base | kw))


def test_learns_a_planted_pattern():
    model = build_model(SMALL)
    result = train(model, planted(768, 0), planted(256, 1), _cfg(epochs=3, max_train_samples=None))
    assert result.history[-1]["val_acc"] > 0.9
    test = planted(256, 2)
    proba = predict_proba(model, test.tensors[0].numpy())
    assert (proba.argmax(1) == test.tensors[1].numpy()).mean() > 0.9
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-5)


def test_same_config_same_result():
    runs = []
    for _ in range(2):
        torch.manual_seed(0)  # initialization is part of the configuration
        runs.append(train(build_model(SMALL), planted(256, 0), planted(64, 1), _cfg()))
    assert [r["val_loss"] for r in runs[0].history] == [r["val_loss"] for r in runs[1].history]


def test_resume_ends_where_an_uninterrupted_training_ends(tmp_path):
    torch.manual_seed(0)
    straight = build_model(SMALL)
    full = train(straight, planted(256, 0), planted(64, 1), _cfg(epochs=3))
    torch.manual_seed(0)
    interrupted = build_model(SMALL)
    state = tmp_path / "state.pt"
    killed = _cfg(epochs=3)

    # "kill" after the first epoch: a progress callback raising mid-training
    class Killed(Exception):
        pass

    def kill(record):  # after epoch 1's record (not an in-epoch progress record)
        if record.get("kind") is None and record["epoch"] == 1:
            raise Killed

    with pytest.raises(Killed):
        train(interrupted, planted(256, 0), planted(64, 1), killed, progress=kill, state_path=state)
    resumed_model = build_model(SMALL)
    resumed = train(resumed_model, planted(256, 0), planted(64, 1), killed, state_path=state)
    assert [r["val_loss"] for r in resumed.history] == [r["val_loss"] for r in full.history]
    for a, b in zip(
        straight.state_dict().values(), resumed_model.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b)


def test_required_resume_refuses_another_configuration(tmp_path):
    state = tmp_path / "state.pt"
    train(build_model(SMALL), planted(64, 0), planted(32, 1), _cfg(epochs=1), state_path=state)
    with pytest.raises(ValueError, match=r"train_config\.lr: 0\.003 -> 0\.01.*resume: false"):
        train(
            build_model(SMALL),
            planted(64, 0),
            planted(32, 1),
            _cfg(epochs=1, lr=1e-2),
            state_path=state,
            resume=True,
        )


def test_early_stopping_on_validation_loss():
    # labels are noise: validation loss stops improving quickly
    g = torch.Generator().manual_seed(0)
    noise = TensorDataset(
        torch.randn(128, 4, 64, generator=g), torch.randint(0, 3, (128,), generator=g)
    )
    result = train(
        build_model(SMALL),
        noise,
        noise,
        _cfg(epochs=30, patience=2, lr=1e-2, max_train_samples=64, min_steps=0),
    )
    assert result.stop_reason == "early_stopping"
    assert result.epochs_run < 30
    assert result.epochs_run - result.best_epoch == 2


def test_bf16_precision_trains():
    result = train(build_model(SMALL), planted(128, 0), planted(64, 1), _cfg(precision="bf16"))
    assert np.isfinite(result.best_val_loss)


def test_focal_loss_reference_values():
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.0, 0.0, 0.0]])
    target = torch.tensor([0, 2])
    p = torch.softmax(logits, 1)
    pt = torch.stack([p[0, 0], p[1, 2]])
    expected = (0.25 * (1 - pt) ** 2 * -torch.log(pt)).mean()
    assert torch.allclose(FocalLoss(0.25, 2.0)(logits, target), expected)
    # gamma 0 and alpha 1: plain cross-entropy
    assert torch.allclose(
        FocalLoss(1.0, 0.0)(logits, target), torch.nn.functional.cross_entropy(logits, target)
    )


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"loss": "hinge"}, "loss"),
        ({"precision": "fp8"}, "precision"),
        ({"epochs": 0}, "epochs"),
        ({"epoch_fraction": 0}, "epoch_fraction"),
        ({"class_weights": (1.0, -1.0, 1.0)}, "positive"),
    ],
)
def test_bad_training_configs_fail(kw, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**kw)
