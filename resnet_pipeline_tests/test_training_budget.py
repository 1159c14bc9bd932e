"""Training a user can afford and watch: epoch budget, threads, progress, small data."""

import os

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch.utils.data import TensorDataset

from resnet_pipeline.ml.model.model_config import ModelConfig
from resnet_pipeline.ml.model.resnet import build_model
from resnet_pipeline.ml.training.device import (
    FOLLOW_LOAD,
    cgroup_cpu_limit,
    configure_threads,
    default_threads,
    fixed_threads,
    physical_cores,
    run_threads,
)
from resnet_pipeline.ml.training.train_config import MIN_EPOCH_SAMPLES, TrainConfig
from resnet_pipeline.ml.training.trainer import train

TINY = ModelConfig(in_channels=2, window=32)


def _cfg(**kw) -> TrainConfig:
    base = dict(epochs=1, batch_size=16, num_threads=1, min_steps=0, class_weights=None)
    return TrainConfig(**(base | kw))


def noise(n: int, seed: int = 0) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    return TensorDataset(torch.randn(n, 2, 32, generator=g), torch.randint(0, 3, (n,), generator=g))


@given(
    size=st.integers(1, 2_000_000),
    fraction=st.floats(0.001, 1.0),
    cap=st.none() | st.integers(1, 100_000),
)
def test_the_epoch_budget_is_a_share_of_the_data_within_bounds(size, fraction, cap):
    count = TrainConfig(epoch_fraction=fraction, max_train_samples=cap).epoch_samples(size)
    assert 1 <= count <= size
    if cap is not None:
        assert count <= cap
    floor = max(min(size, MIN_EPOCH_SAMPLES), int(fraction * size))
    assert count >= (floor if cap is None else min(floor, cap))


def test_a_symbol_year_epoch_is_a_tenth_of_the_windows_and_small_data_uses_all():
    assert TrainConfig().epoch_samples(367_000) == 36_700
    assert TrainConfig().epoch_samples(5_000) == 5_000


def test_progress_inside_an_epoch_reports_samples_rate_and_eta():
    records = []
    train(
        build_model(TINY), noise(48), None, _cfg(progress_every_seconds=0), progress=records.append
    )
    inside = [r for r in records if r.get("kind") == "progress"]
    assert [r["samples_done"] for r in inside] == [16, 32, 48]
    assert all(r["samples_total"] == 48 and r["samples_per_s"] > 0 for r in inside)
    assert inside[0]["epoch_eta_s"] > 0 and inside[-1]["epoch_eta_s"] == 0


def test_early_stopping_waits_for_the_minimum_optimizer_steps():
    # noise labels: validation stops improving at once; 2 optimizer steps per epoch
    result = train(
        build_model(TINY),
        noise(32),
        noise(32, 1),
        _cfg(epochs=40, patience=1, lr=1e-2, min_steps=12),
    )
    assert result.stop_reason == "early_stopping"
    assert result.steps >= 12 and result.epochs_run >= 6


def test_a_batch_larger_than_the_training_set_is_warned_about():
    result = train(build_model(TINY), noise(20), None, _cfg(batch_size=64))
    assert any("exceeds the 20 training windows" in w for w in result.warnings)


def test_batchnorm_statistics_are_refreshed_on_the_training_set():
    data = noise(24)
    model = build_model(TINY)
    # one optimizer step: the running statistics still hold mostly their initial values;
    # fp32, as the expected statistics below (bf16 conv outputs round them)
    train(model, data, None, _cfg(batch_size=32, bn_refresh_batches=1, precision="fp32"))
    stem_conv, stem_bn = model.stem[0], model.stem[1]
    with torch.no_grad():
        expected = stem_conv(data.tensors[0]).mean(dim=(0, 2))
    torch.testing.assert_close(stem_bn.running_mean, expected, rtol=1e-4, atol=1e-5)


def test_without_refresh_the_statistics_lag():
    data = noise(24)
    model = build_model(TINY)
    train(model, data, None, _cfg(batch_size=32))
    with torch.no_grad():
        expected = model.stem[0](data.tensors[0]).mean(dim=(0, 2))
    assert not torch.allclose(model.stem[1].running_mean, expected, rtol=1e-4, atol=1e-5)


def _topology(root, siblings: dict[int, str]):
    for cpu, text in siblings.items():
        folder = root / f"cpu{cpu}" / "topology"
        folder.mkdir(parents=True)
        (folder / "thread_siblings_list").write_text(text + "\n")
    return root


def test_hyperthread_siblings_count_as_one_core(tmp_path):
    sysfs = _topology(tmp_path, {0: "0,2", 1: "1,3", 2: "0,2", 3: "1,3"})
    assert physical_cores({0, 1, 2, 3}, sysfs) == 2
    assert physical_cores({0, 2}, sysfs) == 1  # an affinity mask of one core's two threads
    assert physical_cores({0, 1}, tmp_path / "missing") == 2  # no topology: logical CPUs


def test_the_cgroup_quota_caps_the_threads(tmp_path):
    cpu_max = tmp_path / "cpu.max"
    cpu_max.write_text("150000 100000\n")
    assert cgroup_cpu_limit(cpu_max) == 1.5
    cpu_max.write_text("max 100000\n")
    assert cgroup_cpu_limit(cpu_max) is None
    assert default_threads({0, 1, 2, 3}, quota=1.5) <= 1
    assert default_threads({0}, quota=None) == 1


def test_default_threads_never_exceed_the_cpus_this_process_may_use():
    before = torch.get_num_threads()
    try:
        threads = configure_threads(None)
        assert threads == fixed_threads()
        assert 1 <= threads <= len(os.sched_getaffinity(0))
    finally:
        torch.set_num_threads(before)


def test_following_the_load_one_thread_per_run_while_other_runs_are_in_progress():
    assert run_threads(FOLLOW_LOAD, runs_in_progress=1) == FOLLOW_LOAD  # alone: the free cores
    assert run_threads(FOLLOW_LOAD, runs_in_progress=3) == 1
    assert run_threads(FOLLOW_LOAD, runs_in_progress=3, busy_threads=2) == 2
    assert run_threads(4, runs_in_progress=3) == 4  # an explicit setting wins


def test_the_default_thread_count_ignores_other_runs():
    assert run_threads(None, runs_in_progress=1) is None  # the fixed default (every core)
    assert run_threads(None, runs_in_progress=3) is None


def test_a_negative_thread_count_is_refused_naming_the_opt_in():
    with pytest.raises(ValueError, match="num_threads=-1: .*0 \\(follow the machine's load\\)"):
        TrainConfig(num_threads=-1)
