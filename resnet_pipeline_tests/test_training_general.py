"""The loop beyond 15 channels x 3 classes: any shape, inputs cast, weights checked,
validation optional, failures that say what to change."""

import math

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from resnet_pipeline.ml.model.model_config import ModelConfig
from resnet_pipeline.ml.model.resnet import build_model
from resnet_pipeline.ml.training.device import autocast_plan, cpu_has_native_bf16
from resnet_pipeline.ml.training.inference import predict_proba
from resnet_pipeline.ml.training.session import TrainingError
from resnet_pipeline.ml.training.train_config import TrainConfig
from resnet_pipeline.ml.training.trainer import train


def _cfg(**kw) -> TrainConfig:
    base = dict(epochs=1, batch_size=16, num_threads=1, min_steps=0, class_weights=None)
    return TrainConfig(**(base | kw))


def noise(n, channels=2, length=32, classes=3, seed=0, x_dtype=torch.float32, y_dtype=torch.int64):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, channels, length, generator=g).to(x_dtype)
    return TensorDataset(x, torch.randint(0, classes, (n,), generator=g).to(y_dtype))


def test_any_channels_classes_and_length_with_matching_weights():
    model = build_model(ModelConfig(in_channels=7, num_classes=5, window=40))
    result = train(
        model,
        noise(48, 7, 40, classes=5),
        noise(16, 7, 40, classes=5, seed=1),
        _cfg(class_weights=(1.0, 2.0, 1.0, 2.0, 1.0)),
    )
    assert math.isfinite(result.best_val_loss)
    assert predict_proba(model, torch.randn(3, 7, 40)).shape == (3, 5)


def test_class_weights_must_match_the_class_count():
    model = build_model(ModelConfig(in_channels=2, num_classes=5, window=32))
    with pytest.raises(ValueError, match="class_weights has 3 entries.*5 classes"):
        train(model, noise(32, classes=5), None, _cfg(class_weights=(1.2, 0.8, 1.2)))


def test_float64_inputs_and_int32_labels_are_cast():
    data = noise(32, x_dtype=torch.float64, y_dtype=torch.int32)
    result = train(build_model(ModelConfig(in_channels=2, window=32)), data, data, _cfg())
    assert math.isfinite(result.best_val_loss)


def test_labels_outside_the_classes_fail_clearly():
    data = TensorDataset(torch.randn(16, 2, 32), torch.full((16,), 3))
    with pytest.raises(TrainingError, match=r"class indices 0\.\.2.*found 3\.\.3"):
        train(build_model(ModelConfig(in_channels=2, window=32)), data, None, _cfg())


def test_validation_is_optional():
    model = build_model(ModelConfig(in_channels=2, window=32))
    result = train(model, noise(32), None, _cfg(epochs=2))
    assert result.epochs_run == 2 and result.best_epoch == 2 and result.stop_reason == "epochs"
    assert all(math.isnan(r["val_loss"]) for r in result.history)


def test_a_last_batch_of_one_never_reaches_batchnorm():
    # 33 windows in batches of 16: the last batch would hold 1 window, and at length 32 the
    # final stage is [1, 512, 1]: BatchNorm cannot compute statistics of one value
    messages = []
    result = train(
        build_model(ModelConfig(in_channels=2, window=32)),
        noise(33),
        None,
        _cfg(),
        progress=messages.append,
    )
    assert result.history[0]["steps"] == 2
    assert any("1 window" in m.get("message", "") for m in messages)


def test_a_nan_training_loss_ends_training_with_a_clear_failure():
    data = noise(32)
    data.tensors[0][:] = float("nan")
    with pytest.raises(TrainingError, match="training loss became nan.*lower lr"):
        train(build_model(ModelConfig(in_channels=2, window=32)), data, None, _cfg())


def test_a_nan_validation_loss_ends_training_with_a_clear_failure():
    val = noise(16, seed=1)
    val.tensors[0][3] = float("nan")
    with pytest.raises(TrainingError, match="validation loss is nan after epoch 1"):
        train(build_model(ModelConfig(in_channels=2, window=32)), noise(32), val, _cfg())


def test_predict_proba_accepts_tensors_arrays_and_float64():
    model = build_model(ModelConfig(in_channels=2, window=32)).eval()
    x = torch.randn(5, 2, 32)
    from_tensor = predict_proba(model, x, batch_size=2)
    from_array = predict_proba(model, x.double().numpy())
    np.testing.assert_allclose(from_tensor, from_array, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(from_tensor.sum(1), 1.0, rtol=1e-5)
    assert predict_proba(model, x[:0]).shape == (0, 3)


def test_fp16_needs_a_gpu_and_always_brings_a_grad_scaler():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    with pytest.raises(ValueError, match="fp16' needs a CUDA GPU.*'bf16' or 'fp32'"):
        autocast_plan(cpu, "fp16")
    assert autocast_plan(cuda, "fp16", bf16_supported=True) == (torch.float16, True)
    assert autocast_plan(cuda, "bf16", bf16_supported=False) == (torch.float16, True)
    assert autocast_plan(cuda, "bf16", bf16_supported=True) == (torch.bfloat16, False)
    assert autocast_plan(cpu, "bf16") == (torch.bfloat16, False)
    with pytest.raises(ValueError, match="fp16' needs a CUDA GPU"):
        train(
            build_model(ModelConfig(in_channels=2, window=32)),
            noise(16),
            None,
            _cfg(precision="fp16", device="cpu"),
        )


@pytest.mark.parametrize(
    ("cpuinfo", "native"),
    [
        ("processor\t: 0\nflags\t\t: fpu sse avx2 fma\n", False),  # AVX2-only EPYC
        ("processor\t: 0\nflags\t\t: avx2 avx512f avx512_bf16\n", True),
        ("processor\t: 0\nflags\t\t: avx2 amx_bf16 amx_tile\n", True),
        ("processor\t: 0\nFeatures\t: fp asimd bf16 i8mm\n", True),  # Arm (Graviton 3)
    ],
)
def test_native_bf16_is_read_from_the_cpu_flags(tmp_path, cpuinfo, native):
    path = tmp_path / "cpuinfo"
    path.write_text(cpuinfo)
    assert cpu_has_native_bf16(path) is native
    assert cpu_has_native_bf16(tmp_path / "absent") is True  # cannot tell: no warning


def test_bf16_on_a_cpu_without_native_bf16_warns_to_use_fp32():
    result = train(
        build_model(ModelConfig(in_channels=2, window=32)),
        noise(16),
        None,
        _cfg(precision="bf16", device="cpu"),
    )
    warned = [w for w in result.warnings if "without native bf16" in w]
    assert bool(warned) is (not cpu_has_native_bf16())
    fp32 = train(build_model(ModelConfig(in_channels=2, window=32)), noise(16), None, _cfg())
    assert not [w for w in fp32.warnings if "bf16" in w]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_fp16_trains_on_a_gpu_with_a_grad_scaler():
    result = train(
        build_model(ModelConfig(in_channels=2, window=32)),
        noise(64),
        noise(32, seed=1),
        _cfg(precision="fp16", device="cuda", epochs=2),
    )
    assert math.isfinite(result.best_val_loss)
