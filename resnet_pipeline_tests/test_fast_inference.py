"""The fast inference path (inference mode, bf16 where native, batches without copies) gives
fp32's class probabilities within the documented tolerance and its argmax wherever fp32's
two best classes are further apart; precision 'auto' is the default of training and
inference and means bf16 only where the device computes it natively."""

from datetime import date

import numpy as np
import pytest
import torch

from resnet_pipeline.ml.folds.fold_training import train_fold
from resnet_pipeline.ml.folds.monthly_folds import FoldConfig, build_fold, eligible_samples
from resnet_pipeline.ml.model.model_config import ModelConfig
from resnet_pipeline.ml.model.resnet import build_model
from resnet_pipeline.ml.training.device import autocast_plan, cpu_bf16_flag, resolve_precision
from resnet_pipeline.ml.training.inference import (
    BF16_PROBA_TOLERANCE,
    fast_model,
    fold_batch_norms,
    predict_proba,
)
from resnet_pipeline.ml.training.train_config import TrainConfig
from resnet_pipeline.ml.training.trainer import train
from resnet_pipeline_tests._walk_forward_helpers import frames
from resnet_pipeline_tests.test_training_loop import planted

JAN, FEB = date(2024, 1, 1), date(2024, 2, 1)


@pytest.fixture(scope="module")
def trained():
    """A fold model trained on the synthetic market and the windows of its month."""
    features, labels = frames("BTCUSDT", [JAN, FEB], hours=6)
    cfg = FoldConfig(window=32, min_train_samples=1)
    fold = build_fold(eligible_samples(features, labels, cfg.split_config()), FEB, cfg)
    train_cfg = TrainConfig(epochs=2, batch_size=32, num_threads=1, min_steps=0)
    model = train_fold(fold, ModelConfig(window=32), train_cfg).model
    return model, fold.splits.windows(fold.splits.test_ends)


def test_the_fast_path_gives_fp32s_probabilities_within_the_tolerance(trained):
    model, windows = trained
    exact = predict_proba(model, windows, precision="fp32")
    fast = predict_proba(model, windows)  # the default: auto
    if resolve_precision("auto", torch.device("cpu")) == "fp32":
        np.testing.assert_array_equal(fast, exact)  # no native bf16: the same computation
        return
    assert np.abs(fast - exact).max() <= BF16_PROBA_TOLERANCE
    best_two = np.sort(exact, axis=1)[:, -2:]
    clear = best_two[:, 1] - best_two[:, 0] > 2 * BF16_PROBA_TOLERANCE
    assert clear.mean() > 0.5  # most predictions of the fixture are clear
    np.testing.assert_array_equal(fast.argmax(1)[clear], exact.argmax(1)[clear])


def test_a_loader_an_array_and_any_batch_size_give_the_same_probabilities(trained):
    model, windows = trained
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.from_numpy(windows), torch.zeros(len(windows))),
        batch_size=100,
    )
    whole = predict_proba(model, windows, precision="fp32")
    np.testing.assert_allclose(predict_proba(model, loader, precision="fp32"), whole, atol=1e-6)
    np.testing.assert_allclose(
        predict_proba(model, windows, batch_size=7, precision="fp32"), whole, atol=1e-6
    )


def test_folding_the_batch_norms_keeps_fp32s_probabilities_and_argmax(trained):
    model, windows = trained
    folded, count = fold_batch_norms(model)
    assert count == 20  # ResNet-18: the stem, 16 block convs and 3 projections
    assert not any(isinstance(m, torch.nn.BatchNorm1d) for m in folded.modules())
    assert any(isinstance(m, torch.nn.BatchNorm1d) for m in model.modules())  # a copy
    exact = predict_proba(model, windows, precision="fp32")
    refolded = predict_proba(folded, windows, precision="fp32")
    np.testing.assert_allclose(refolded, exact, atol=1e-5)
    np.testing.assert_array_equal(refolded.argmax(1), exact.argmax(1))
    runner, why = fast_model(model, torch.from_numpy(windows[:4]))
    assert why is None and next(runner.parameters()).dtype == torch.bfloat16


def test_predictions_do_not_depend_on_the_thread_count(trained):
    """What lets predict_month follow the load (a training's numbers follow the count)."""
    model, windows = trained
    before = torch.get_num_threads()
    try:
        runs = {}
        for threads in (1, 2):
            torch.set_num_threads(threads)
            runs[threads] = [predict_proba(model, windows, precision=p) for p in ("auto", "fp32")]
    finally:
        torch.set_num_threads(before)
    for one, two in zip(runs[1], runs[2], strict=True):
        np.testing.assert_array_equal(one, two)


class NormBeforeConv(torch.nn.Module):
    """A conv registered before a norm that is applied first: folding would be wrong."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv1d(3, 3, 3, padding=1)
        self.norm = torch.nn.BatchNorm1d(3)
        self.head = torch.nn.Linear(3, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.conv(self.norm(x)).mean(dim=2))


def test_a_model_folding_would_change_runs_under_autocast_and_says_why():
    torch.manual_seed(0)
    model = NormBeforeConv().eval()
    with torch.no_grad():
        model.norm.running_mean.uniform_(-2, 2)
        model.norm.running_var.uniform_(0.2, 3)
    windows = torch.randn(40, 3, 16)
    runner, why = fast_model(model, windows[:4])
    assert runner is model and "changed the model's logits" in why
    with pytest.warns(UserWarning, match="run under autocast: folding"):
        proba = predict_proba(model, windows, batch_size=16, precision="bf16")
    with torch.inference_mode(), torch.autocast("cpu", torch.bfloat16):
        expected = torch.softmax(model(windows).float(), dim=1).numpy()
    np.testing.assert_allclose(proba, expected, atol=1e-6)


@pytest.mark.parametrize(
    ("device", "native", "plan"),
    [
        ("cpu", True, (torch.bfloat16, False)),
        ("cpu", False, (None, False)),  # e.g. an AVX2-only EPYC: emulated bf16 is slower
        ("cuda", True, (torch.bfloat16, False)),
        ("cuda", False, (None, False)),  # auto never picks fp16
    ],
)
def test_auto_is_bf16_only_where_the_device_computes_it_natively(device, native, plan):
    assert autocast_plan(torch.device(device), "auto", bf16_supported=native) == plan
    expected = "bf16" if native else "fp32"
    assert resolve_precision("auto", torch.device(device), native) == expected
    assert resolve_precision("fp32", torch.device(device), native) == "fp32"


def test_auto_is_the_default_and_follows_this_cpu(tmp_path):
    assert TrainConfig().precision == "auto"
    assert cpu_bf16_flag(tmp_path / "absent") is None  # cannot tell: auto is fp32 there
    model = build_model(ModelConfig(in_channels=4, window=64))
    cfg = TrainConfig(epochs=1, batch_size=32, num_threads=1, min_steps=0, class_weights=None)
    result = train(model, planted(64, 0), None, cfg)
    assert result.precision == ("bf16" if cpu_bf16_flag() else "fp32")
    model = build_model(ModelConfig(in_channels=4, window=64))
    fp32 = train(
        model, planted(64, 0), None, TrainConfig(**(cfg.to_dict() | {"precision": "fp32"}))
    )
    assert fp32.precision == "fp32"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_a_gpu_predicts_what_the_cpu_predicts_from_pinned_batches(trained):
    model, windows = trained
    exact = predict_proba(model.cpu(), windows, precision="fp32")
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.from_numpy(windows), torch.zeros(len(windows))),
        batch_size=64,
        pin_memory=True,
    )
    on_gpu = predict_proba(model.cuda(), loader)  # auto: bf16 on a GPU that has it
    model.cpu()
    assert np.abs(on_gpu - exact).max() <= BF16_PROBA_TOLERANCE
