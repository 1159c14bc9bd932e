"""docs/config-reference.md is generated from the config dataclasses, the asset configs and
the settings; these tests fail when it no longer matches the code."""

from __future__ import annotations

from dataclasses import fields

import pytest

from resnet_pipeline import config_reference
from resnet_pipeline.config_reference import (
    COMMAND,
    CONFIG_CLASSES,
    REFERENCE_PATH,
    VARIABLE_MEANINGS,
    asset_configs,
    load_definitions,
    render,
    variables,
)
from resnet_pipeline.experiments.variant_config import SECTIONS
from resnet_pipeline.ml.model.model_config import ModelConfig
from resnet_pipeline.ml.training.train_config import TrainConfig


@pytest.fixture(scope="module")
def definitions():
    return load_definitions()


@pytest.fixture(scope="module")
def rendered(definitions) -> str:
    return render(definitions)


def test_the_committed_reference_is_current(rendered: str) -> None:
    stored = REFERENCE_PATH.read_text() if REFERENCE_PATH.exists() else ""
    assert stored == rendered, (
        f"{REFERENCE_PATH.name} is stale (a config field, default, description or variable "
        f"changed): run `{COMMAND}` and commit the result"
    )


def test_every_field_of_every_config_class_is_in_the_reference(rendered: str) -> None:
    for cls in CONFIG_CLASSES:
        section = rendered.split(f"### {cls.__name__}\n", 1)[1].split("\n### ", 1)[0]
        for spec in fields(cls):
            assert f"| `{spec.name}` |" in section, f"{cls.__name__}.{spec.name} is missing"


def test_a_default_is_shown_as_the_field_declares_it(rendered: str) -> None:
    model = rendered.split("### ModelConfig\n", 1)[1]
    assert "| `arch` | `resnet18` | `resnet18` \\| `resnet34` \\| `resnet50` |" in model
    training = rendered.split("### TrainConfig\n", 1)[1]
    assert "| `class_weights` | `[1.2, 0.8, 1.2]` | list of float or null, above 0 |" in training
    assert "| `max_train_samples` | `null` | int or null, at least 1 |" in training


def test_each_knob_s_range_is_shown_where_it_is_declared(rendered: str) -> None:
    training = rendered.split("### TrainConfig\n", 1)[1]
    assert "| `lr` | `0.001` | float, above 0 |" in training
    assert "| `num_threads` | `null` | int or null, in [0, 1024] |" in training
    assert "| `n_boot` | `1000` | int, in [100, 100,000] |" in rendered
    assert "| `fee_rate` | `0.001` | float, in [0, 1) |" in rendered


def test_assets_that_train_take_every_training_field(definitions) -> None:
    configs = {c.asset: c for c in asset_configs(definitions)}
    for asset in ("trained_model", "wf_model"):
        assert {ModelConfig, TrainConfig} <= set(configs[asset].classes), asset
    assert "features" not in configs  # an asset without run config has no entry


def test_every_variable_read_has_a_meaning_and_no_meaning_is_left_over() -> None:
    read = {v.name for v in variables()}
    assert {"RESNET_DATA_DIR", "RESNET_SOURCE", "RESNET_EXECUTOR"} <= read
    assert read == set(VARIABLE_MEANINGS), (
        f"variables without a meaning: {sorted(read - set(VARIABLE_MEANINGS))}; meanings of "
        f"variables no longer read: {sorted(set(VARIABLE_MEANINGS) - read)} "
        f"(edit VARIABLE_MEANINGS in {config_reference.__name__})"
    )


def test_check_reports_a_stale_file_and_writing_refreshes_it(tmp_path, capsys) -> None:
    stale = tmp_path / "config-reference.md"
    stale.write_text("# an old reference\n")
    assert config_reference.main(["--check", "--output", str(stale)]) == 1
    assert COMMAND in capsys.readouterr().err
    assert config_reference.main(["--output", str(stale)]) == 0
    assert config_reference.main(["--check", "--output", str(stale)]) == 0


def test_every_candle_source_is_listed_with_its_fields(rendered: str) -> None:
    for source in ("BybitCandles", "SyntheticCandles", "FilesCandles"):
        assert f"### `candle_source`: {source}\n" in rendered
    assert "| `request_deadline_seconds` | `30.0` | float |" in rendered


def test_every_experiment_file_section_is_in_the_reference() -> None:
    missing = {c.__name__ for classes in SECTIONS.values() for c in classes} - {
        c.__name__ for c in CONFIG_CLASSES
    }
    assert not missing, f"add {sorted(missing)} to config_reference.CONFIG_CLASSES"
