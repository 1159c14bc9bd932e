"""Threads following the load (``num_threads`` ``FOLLOW_LOAD``, an opt-in) follow what the
machine's CPUs do: other processes' busy time from /proc/stat (own CPU time subtracted) takes
cores away from a training, a real CPU-bound neighbour is seen, and a training adapts its
threads between epochs. The default never looks: it is the fixed count."""

import subprocess
import sys

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from resnet_pipeline.ml.model.model_config import ModelConfig
from resnet_pipeline.ml.model.resnet import build_model
from resnet_pipeline.ml.training.cpu_load import (
    CpuSample,
    busy_seconds,
    measure_others_busy,
    others_busy,
    sample_cpus,
    threads_beside,
)
from resnet_pipeline.ml.training.device import (
    FOLLOW_LOAD,
    allowed_cpus,
    cgroup_cpu_limit,
    default_threads,
    fixed_threads,
    threads_for_load,
)
from resnet_pipeline.ml.training.session import Messages, adapt_threads, start_session
from resnet_pipeline.ml.training.train_config import TrainConfig
from resnet_pipeline_tests.test_training_general import noise

STAT = """cpu  900 10 300 5000 40 0 7 20 50 0
cpu0 400 5 100 2500 20 0 3 10 25 0
cpu1 500 5 200 2500 20 0 4 10 25 0
intr 4127609 0 0
ctxt 5779305
"""


@pytest.fixture
def neighbour():
    """A real CPU-bound process on this process's CPUs (inherits the affinity)."""
    process = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        yield process
    finally:
        process.kill()
        process.wait()


def test_busy_time_counts_user_system_irq_and_steal_of_the_chosen_cpus_only():
    # cpu0: user 400 + nice 5 + system 100 + irq 0 + softirq 3 + steal 10 (guest is in user)
    assert busy_seconds({0}, STAT, 100) == pytest.approx(5.18)
    assert busy_seconds({0, 1}, STAT, 100) == pytest.approx(5.18 + 7.19)
    assert busy_seconds({5}, STAT, 100) == 0  # not on this machine: nothing


def test_others_busy_is_the_cpus_busy_time_less_this_process():
    before = CpuSample(busy_s=10.0, own_s=1.0, at_s=100.0)
    assert others_busy(before, CpuSample(13.0, 2.0, 102.0)) == pytest.approx(1.0)
    assert others_busy(before, CpuSample(11.0, 2.0, 101.0)) == 0.0  # never below 0
    assert others_busy(before, before) == 0.0


@given(cores=st.integers(1, 64), others=st.floats(0, 128), more=st.floats(0, 8))
def test_threads_leave_the_busy_cores_to_others_and_never_drop_below_one(cores, others, more):
    threads = threads_beside(cores, others)
    assert 1 <= threads <= cores
    assert threads_beside(cores, others + more) <= threads  # busier: never more threads
    assert threads_beside(cores, 0.0) == threads_beside(cores, None) == cores
    assert threads_beside(cores, 0.49) == cores  # a light neighbour keeps every core


def test_one_busy_neighbour_on_two_cores_leaves_one_thread():
    assert threads_beside(2, 1.0) == 1
    assert threads_beside(2, 0.67) == 1  # its share while two training threads compete
    assert threads_beside(4, 2.0, cpus=8) == 3  # 8 logical CPUs on 4 cores: 1 core's worth


def test_a_real_cpu_bound_neighbour_is_seen(neighbour):
    others = measure_others_busy(allowed_cpus(), window_s=0.5)
    assert others is not None and others >= 0.5
    assert threads_for_load(others) <= max(1, default_threads() - 1)


def test_a_training_following_the_load_beside_a_busy_neighbour_takes_a_core_less(
    neighbour, threads
):
    model = build_model(ModelConfig(in_channels=2, window=32))
    cfg = TrainConfig(
        epochs=1, batch_size=16, min_steps=0, class_weights=None, num_threads=FOLLOW_LOAD
    )
    session = start_session(model, noise(32), cfg, Messages(None))
    assert session.threads <= max(1, default_threads() - 1)
    assert session.load_sample is not None  # following the load: checked after each epoch


def test_the_default_keeps_its_fixed_count_beside_a_busy_neighbour(neighbour, threads):
    model = build_model(ModelConfig(in_channels=2, window=32))
    cfg = TrainConfig(epochs=1, batch_size=16, min_steps=0, class_weights=None)
    session = start_session(model, noise(32), cfg, Messages(None))
    assert session.threads == torch.get_num_threads() == fixed_threads()
    assert session.load_sample is None  # never re-set between epochs


def test_threads_change_between_epochs_with_the_load_and_say_so(threads):
    model = build_model(ModelConfig(in_channels=2, window=32))
    cfg = TrainConfig(epochs=1, batch_size=16, num_threads=FOLLOW_LOAD, class_weights=None)
    messages = Messages(None)
    session = start_session(model, noise(32), cfg, messages)
    now = sample_cpus(allowed_cpus())
    cores = default_threads()
    # as if other processes had kept every CPU busy during the last second
    session.load_sample = CpuSample(now.busy_s - len(allowed_cpus()), now.own_s, now.at_s - 1)
    session.threads = cores
    adapt_threads(session, messages)
    assert session.threads == torch.get_num_threads() == 1
    if cores > 1:
        assert "training continues on 1 thread instead of" in messages.notes[-1]
    fixed = start_session(model, noise(32), TrainConfig(num_threads=1), Messages(None))
    assert fixed.load_sample is None  # num_threads set: never changed
    default = start_session(model, noise(32), TrainConfig(), Messages(None))
    assert default.load_sample is None  # the default is fixed too


def test_the_fixed_count_keeps_within_an_openmp_budget_the_process_was_given(monkeypatch):
    """A launcher running several workers on one machine gives each its share with
    OMP_NUM_THREADS; the default never exceeds it, and ignores a value that is no count."""
    cores = default_threads(allowed_cpus(), cgroup_cpu_limit())
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert fixed_threads() == 1
    monkeypatch.setenv("OMP_NUM_THREADS", str(cores + 7))
    assert fixed_threads() == cores
    for ignored in ("", "0", "two"):
        monkeypatch.setenv("OMP_NUM_THREADS", ignored)
        assert fixed_threads() == cores
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert fixed_threads() == cores
