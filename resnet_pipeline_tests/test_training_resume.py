"""Resume continues only the same training: same data fingerprint, model and training config."""

import os
from dataclasses import replace

import pytest
import torch
from torch.utils.data import TensorDataset

from resnet_pipeline.ml.model.model_config import ModelConfig
from resnet_pipeline.ml.model.resnet import build_model
from resnet_pipeline.ml.training.session import TrainingStateError, save_state
from resnet_pipeline.ml.training.train_config import TrainConfig
from resnet_pipeline.ml.training.trainer import train

TINY = ModelConfig(in_channels=2, window=32)


def data(n: int, seed: int) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    return TensorDataset(torch.randn(n, 2, 32, generator=g), torch.randint(0, 3, (n,), generator=g))


CFG = TrainConfig(epochs=2, batch_size=16, num_threads=1, min_steps=0, class_weights=None)


def _first_epoch_state(path, fingerprint="months 2024-01..2024-03", model=TINY):
    """A state as an interrupted training leaves it: written after epoch 1 of 2."""
    torch.manual_seed(0)
    train(
        build_model(model),
        data(32, 0),
        data(16, 1),
        TrainConfig(**(CFG.to_dict() | {"epochs": 1})),
        state_path=path,
        identity={"dataset_fingerprint": fingerprint},
    )


def _stopped_after_epoch_1(path):
    """A state of this very training (``CFG``) stopped after its first epoch: the time budget
    is not part of the identity."""
    torch.manual_seed(0)
    result = train(
        build_model(TINY),
        data(32, 0),
        data(16, 1),
        replace(CFG, time_budget_minutes=1e-9),
        state_path=path,
        identity={"dataset_fingerprint": "months 2024-01..2024-03"},
    )
    assert result.stop_reason == "time_budget" and result.epochs_run == 1


def _resume(path, fingerprint="months 2024-01..2024-03", model=TINY, resume=None, cfg=CFG):
    messages = []
    result = train(
        build_model(model),
        data(32, 0),
        data(16, 1),
        cfg,
        progress=messages.append,
        state_path=path,
        identity={"dataset_fingerprint": fingerprint},
        resume=resume,
    )
    return result, [m["message"] for m in messages if m.get("kind") == "note"]


def test_a_state_of_the_same_training_is_resumed(tmp_path):
    path = tmp_path / "state.pt"
    # epochs differ (1 vs 2) only in the state writer: change it to the same config
    torch.manual_seed(0)
    train(build_model(TINY), data(32, 0), data(16, 1), CFG, state_path=path, progress=None)
    result, notes = _resume(path, fingerprint=None)
    assert result.epochs_run == 2 and any("resuming" in n for n in notes)
    assert len(result.history) == 2  # nothing was trained again
    assert not any("bit-identical" in n for n in notes)  # the same threads: nothing to say


def test_a_state_resumed_on_another_thread_count_continues_and_says_it_is_not_bit_identical(
    tmp_path, threads
):
    """The thread count changes the order of floating-point sums, so a resume under another
    count cannot end where the uninterrupted run would; it is still the same training (its
    identity), and throwing away the epochs done would cost more than a rounding difference."""
    path = tmp_path / "state.pt"
    _stopped_after_epoch_1(path)  # num_threads 1
    first_epoch = torch.load(path, weights_only=True)["history"]
    result, notes = _resume(path, cfg=replace(CFG, num_threads=2))
    assert result.threads == 2 and result.history[:1] == first_epoch  # epoch 1 not trained again
    assert [r["epoch"] for r in result.history] == [1, 2]
    assert any("resuming" in n for n in notes)
    assert any("threads 1 (now 2)" in n and "not be bit-identical" in n for n in notes)


def test_a_state_that_did_not_record_its_setup_resumes_without_a_note(tmp_path):
    path = tmp_path / "state.pt"
    _stopped_after_epoch_1(path)
    saved = torch.load(path, weights_only=True)
    del saved["setup"]
    save_state(path, saved)
    result, notes = _resume(path, cfg=replace(CFG, num_threads=2))
    assert result.epochs_run == 2 and any("resuming" in n for n in notes)
    assert not any("bit-identical" in n for n in notes)


def test_a_state_from_other_data_starts_afresh_and_says_why(tmp_path):
    path = tmp_path / "state.pt"
    _first_epoch_state(path)
    result, notes = _resume(path, fingerprint="months 2024-04..2024-06")
    assert [r["epoch"] for r in result.history] == [1, 2]  # trained from the start
    assert any("starting afresh" in n and "2024-04..2024-06" in n for n in notes)


def test_required_resume_names_what_differs_and_the_config_that_starts_afresh(tmp_path):
    path = tmp_path / "state.pt"
    _first_epoch_state(path)
    with pytest.raises(TrainingStateError, match=r"dataset_fingerprint.*resume: false"):
        _resume(path, fingerprint="months 2024-04..2024-06", resume=True)


def test_a_changed_architecture_is_not_a_raw_runtime_error(tmp_path):
    path = tmp_path / "state.pt"
    _first_epoch_state(path)
    other = ModelConfig(arch="resnet34", in_channels=2, window=32)
    result, notes = _resume(path, model=other)  # auto: afresh
    assert result.epochs_run == 2 and any("model_config.arch" in n for n in notes)
    _first_epoch_state(path)  # the afresh run above replaced it
    with pytest.raises(TrainingStateError, match="model_config.arch: 'resnet18' -> 'resnet34'"):
        _resume(path, model=other, resume=True)


def test_resume_false_ignores_the_state(tmp_path):
    path = tmp_path / "state.pt"
    _first_epoch_state(path)
    result, notes = _resume(path, resume=False)
    assert [r["epoch"] for r in result.history] == [1, 2] and notes == []


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 truncated", b"\x80\x04garbage"])
def test_a_corrupt_state_names_the_file_and_the_config_that_starts_afresh(tmp_path, content):
    path = tmp_path / "training_state.pt"
    path.write_bytes(content)
    with pytest.raises(TrainingStateError) as error:
        _resume(path)
    message = str(error.value)
    assert str(path) in message and "resume: false" in message
    assert "weights_only" not in message  # torch's advice to unpickle code is not repeated
    assert path.read_bytes() == content  # nothing is overwritten before the user decides


def test_state_temp_names_are_unique_per_writer(tmp_path, monkeypatch):
    written = []
    real_save = torch.save

    def record(obj, f, *args, **kwargs):  # observe the real write's target name
        written.append(os.path.basename(f))
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", record)
    save_state(tmp_path / "training_state.pt", {"model": {}})
    save_state(tmp_path / "training_state.pt", {"model": {}})
    assert len(set(written)) == 2 and all(str(os.getpid()) in name for name in written)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["training_state.pt"]  # no leftovers
