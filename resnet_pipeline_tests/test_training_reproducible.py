"""Reproducible by default: the same configuration on the same machine trains the same weights
whatever else the machine runs. The default thread count is fixed (the cores this process may
use), because the count changes the order of floating-point sums and so the numbers; a
CPU-bound neighbour on the same cores would change the count of threads that follow the load.
"""

import subprocess
import sys
import time

import torch

from resnet_pipeline.ml.model.model_config import ModelConfig
from resnet_pipeline.ml.model.resnet import build_model
from resnet_pipeline.ml.training.device import fixed_threads
from resnet_pipeline.ml.training.train_config import TrainConfig
from resnet_pipeline.ml.training.trainer import TrainResult, train
from resnet_pipeline_tests.test_training_loop import planted

# Narrow enough to run in seconds, and still trained to other weights by 1 thread than by 2
# (fp32 and bf16 alike), so a thread count that moved with the load would show.
TINY = ModelConfig(in_channels=4, window=64, width=8)
# a few hundred windows, every setting at its default but the size of the run
SMALL_RUN = TrainConfig(epochs=2, batch_size=32, min_steps=0, max_train_samples=256)
TIMINGS = {"samples_per_s", "eta_s"}


def _train() -> tuple[dict[str, torch.Tensor], TrainResult]:
    torch.manual_seed(0)  # initialization is part of the configuration
    model = build_model(TINY)
    result = train(model, planted(384, 0), planted(64, 1), SMALL_RUN)
    return model.state_dict(), result


def _beside_a_busy_neighbour() -> tuple[dict[str, torch.Tensor], TrainResult]:
    """The same training while another process spins on this process's cores (it inherits
    the affinity), started first, as a neighbour already running would be."""
    neighbour = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        return _train()
    finally:
        neighbour.kill()
        neighbour.wait()


def test_the_default_trains_the_same_weights_beside_a_busy_process_and_without(
    threads, monkeypatch
):
    # the machine's own count, not the share of the cores a parallel test run gives a worker
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    quiet, quiet_run = _train()
    busy, busy_run = _beside_a_busy_neighbour()
    assert quiet_run.threads == busy_run.threads == fixed_threads()
    assert quiet.keys() == busy.keys()
    for name, tensor in quiet.items():
        assert torch.equal(tensor, busy[name]), name
    numbers = [[{k: v for k, v in e.items() if k not in TIMINGS} for e in run.history]
               for run in (quiet_run, busy_run)]  # fmt: skip
    assert numbers[0] == numbers[1]
