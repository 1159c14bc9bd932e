"""Every field of the domain ModelConfig and TrainConfig is settable from both training assets'
configs and reaches the training: each is set to a value other than its default, and the
checkpoint (which stores the model and training configs the trainer ran with) must hold it.
Likewise every field of StrategyConfig reaches the backtest from backtest_report's config
(shorts through ShortRules), and wf_report offers the same fields.

The fields are iterated, never listed: a field added to any of these dataclasses is tested
here, and fails unless the assets pass it on."""

import dataclasses
import json
import pickle
import typing
from datetime import date

import dagster as dg
import pytest

from resnet_pipeline import knobs
from resnet_pipeline.defs.dagster_config import config_fields, dagster_config, flat_fields
from resnet_pipeline.defs.evaluation.backtest_report import BacktestConfig, strategy_for
from resnet_pipeline.defs.training.training_config import TrainingConfig
from resnet_pipeline.defs.walk_forward.wf_model import WalkForwardConfig
from resnet_pipeline.defs.walk_forward.wf_report import WalkForwardReportConfig
from resnet_pipeline.layout import Layout
from resnet_pipeline.ml.data.dataset import build_splits
from resnet_pipeline.ml.data.splits import SplitConfig
from resnet_pipeline.ml.model.checkpoint import load_checkpoint
from resnet_pipeline.ml.model.model_config import ModelConfig
from resnet_pipeline.ml.training.session import IDENTITY_FREE_FIELDS
from resnet_pipeline.ml.training.train_config import TrainConfig
from resnet_pipeline.resources.io_manager import DataStore
from resnet_pipeline.resources.venue import TradingVenue
from resnet_pipeline.trading.strategy import ShortRules, StrategyConfig
from resnet_pipeline_tests._dataset_helpers import feature_frames
from resnet_pipeline_tests._pipeline import asset
from resnet_pipeline_tests._resources import materialize_chain
from resnet_pipeline_tests._walk_forward_helpers import store_months

trained_model = asset("trained_model")
wf_model = asset("wf_model")

pytestmark = pytest.mark.slow

# What keeps the runs tiny (each also a value other than the field's default).
TINY = {
    "epochs": 2,
    "batch_size": 16,
    "max_train_samples": 32,
    "max_val_samples": 32,
    "num_threads": 1,
    "device": "cpu",
}
PARTS = (ModelConfig, TrainConfig)


def _other_value(spec: dataclasses.Field, hint) -> object:
    """A valid value other than the field's default, from its declared choices or its type."""
    default = spec.default
    options = [c for c in knobs.choices(spec) if c != default]
    if options:
        return options[0]
    kinds = [a for a in typing.get_args(hint) if a is not type(None)] or [hint]
    kind = typing.get_origin(kinds[0]) or kinds[0]
    if kind is bool:
        return not default
    if kind is int:
        return (default or 0) + 1
    if kind is float:
        return (default or 0.5) * 2
    if kind is tuple:
        return [2 * w for w in default]
    raise AssertionError(f"no other value known for {spec.name}: declare its choices (knob)")


def _non_default_config() -> dict:
    values = dict(TINY)
    for part in PARTS:
        hints = typing.get_type_hints(part)
        for spec in config_fields(part):
            if spec.name not in values:
                values[spec.name] = _other_value(spec, hints[spec.name])
            assert values[spec.name] != _plain(spec.default), spec.name
    return values


def _plain(value):
    return list(value) if isinstance(value, tuple) else value


def _assert_arrived(checkpoint, values: dict) -> None:
    model = dataclasses.asdict(checkpoint.model_config)
    for part, stored in ((ModelConfig, model), (TrainConfig, checkpoint.train_config)):
        for spec in config_fields(part):
            assert _plain(stored[spec.name]) == values[spec.name], (part.__name__, spec.name)


def test_every_model_and_training_field_reaches_trained_model(tmp_path):
    splits = build_splits(*feature_frames(1500, seed=1), SplitConfig(window=32))
    splits.lineage = {"symbol": "BTCUSDT", "months": ["seed-1"]}
    splits.save(Layout.at(tmp_path).dataset("BTCUSDT"))
    values = _non_default_config()
    result = dg.materialize(
        [trained_model],
        partition_key="BTCUSDT",
        resources={"store": DataStore(root=str(tmp_path)), "venue": TradingVenue()},
        run_config={"ops": {"trained_model": {"config": values}}},
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    assert result.success, [e.message for e in result.get_step_failure_events()]
    _assert_arrived(load_checkpoint(Layout.at(tmp_path).checkpoint("BTCUSDT")), values)


def test_every_model_and_training_field_reaches_wf_model(tmp_path):
    store_months(tmp_path, "BTCUSDT", [date(2024, 1, 1), date(2024, 2, 1)], hours=3)
    values = _non_default_config()
    result = dg.materialize(
        [wf_model],
        partition_key="2024-02-01|BTCUSDT",
        resources={"store": DataStore(root=str(tmp_path))},
        run_config={"ops": {"wf_model": {"config": values | {"window": 32}}}},
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    assert result.success, [e.message for e in result.get_step_failure_events()]
    fold = Layout.at(tmp_path).fold("BTCUSDT", date(2024, 2, 1))
    _assert_arrived(load_checkpoint(fold.model), values)


def test_both_assets_offer_every_field_with_the_dataclass_default_and_description():
    for config in (TrainingConfig, WalkForwardConfig):
        for part in PARTS:
            for spec in config_fields(part):
                field = config.model_fields[spec.name]
                assert field.default == _plain(spec.default), (config.__name__, spec.name)
                assert field.description == knobs.description(spec)
    derived = {f.name for f in dataclasses.fields(ModelConfig) if knobs.from_data(f)}
    assert derived == {"window", "in_channels", "num_classes"}  # set from the dataset
    assert not derived & set(TrainingConfig.model_fields)
    assert IDENTITY_FREE_FIELDS <= {f.name for f in dataclasses.fields(TrainConfig)}


def test_a_field_declared_by_two_parts_of_one_config_fails_when_it_is_built():
    @dataclasses.dataclass(frozen=True)
    class Clashing:
        lr: float = knobs.knob(0.1, "another lr")

    with pytest.raises(TypeError, match="'lr' is declared by both TrainConfig and Clashing"):
        dagster_config("Clash", __name__, "", TrainConfig, Clashing)


def test_the_derived_configs_pickle_like_hand_written_ones():
    for config in (TrainingConfig(epochs=3), WalkForwardConfig(rolling_months=2)):
        assert pickle.loads(pickle.dumps(config)) == config


def test_tuples_become_lists_and_optional_stays_optional():
    hint = TrainingConfig.model_fields["class_weights"].annotation
    assert set(typing.get_args(hint)) == {list[float], type(None)}
    assert TrainingConfig(class_weights=None).class_weights is None


def test_wf_model_honours_augment(tmp_path):
    """The same fold with and without augmentation trains on different inputs."""
    store_months(tmp_path, "BTCUSDT", [date(2024, 1, 1), date(2024, 2, 1)], hours=3)
    fold = Layout.at(tmp_path).fold("BTCUSDT", date(2024, 2, 1))
    losses = {}
    for augment in (False, True, False):
        result = dg.materialize(
            [wf_model],
            partition_key="2024-02-01|BTCUSDT",
            resources={"store": DataStore(root=str(tmp_path))},
            run_config={"ops": {"wf_model": {"config": TINY | {"window": 32, "augment": augment}}}},
            instance=dg.DagsterInstance.ephemeral(),
        )
        assert result.success
        losses.setdefault(augment, []).append(load_checkpoint(fold.model).history[0]["train_loss"])
    assert losses[False][0] == losses[False][1]  # reproducible: only augment differs
    assert losses[True][0] != losses[False][0]


def test_wf_model_honours_resume_and_leaves_no_state_when_done(tmp_path):
    store_months(tmp_path, "BTCUSDT", [date(2024, 1, 1), date(2024, 2, 1)], hours=3)
    fold = Layout.at(tmp_path).fold("BTCUSDT", date(2024, 2, 1))
    outcomes = []
    for resume in (True, None):
        config = TINY | {"window": 32, "augment": False, "resume": resume}
        result = dg.materialize(
            [wf_model],
            partition_key="2024-02-01|BTCUSDT",
            resources={"store": DataStore(root=str(tmp_path))},
            run_config={"ops": {"wf_model": {"config": config}}},
            instance=dg.DagsterInstance.ephemeral(),
            raise_on_error=False,
        )
        outcomes.append(result)
    required, auto = outcomes
    [failure] = required.get_step_failure_events()
    message = failure.step_failure_data.error.message
    assert f"resume was required but there is no training state at {fold.training_state}" in (
        message
    )
    assert auto.success and fold.model.exists() and not fold.training_state.exists()


STRATEGY_PARTS = (StrategyConfig, ShortRules)


def _non_default_strategy() -> dict:
    """A valid value other than the default for every field the backtest's config offers."""
    values = {"threshold": 0.7}  # twice the default is past the [0.5, 1) a threshold allows
    for part in STRATEGY_PARTS:
        hints = typing.get_type_hints(part)
        for spec in flat_fields(part):
            values.setdefault(spec.name, _other_value(spec, hints[spec.name]))
            assert values[spec.name] != spec.default, spec.name
    return values


def test_every_strategy_field_reaches_the_backtest_from_its_dagster_config(tmp_path):
    instance = dg.DagsterInstance.ephemeral()
    for selection in (["raw_candles"], ["features", "labels"]):
        materialize_chain(tmp_path, instance, selection, "2024-01-01|BTCUSDT")
    values = _non_default_strategy()
    run_config = {
        "ops": {
            "dataset_splits": {
                "config": {"start_month": "2024-01", "end_month": "2024-01", "window": 64}
            },
            "trained_model": {"config": TINY | {"epochs": 1, "augment": False}},
            "backtest_report": {"config": values},
        }
    }
    materialize_chain(
        tmp_path,
        instance,
        ["dataset_splits", "trained_model", "test_metrics", "backtest_report"],
        "BTCUSDT",
        run_config,
    )
    path = Layout.at(tmp_path).reports("BTCUSDT").backtest_metrics
    used = json.loads(path.read_text())["strategy_config"]
    shorts = ShortRules(**{f.name: values[f.name] for f in flat_fields(ShortRules)}).on("spot")
    for spec in config_fields(StrategyConfig):
        expected = values[spec.name] if spec in flat_fields(StrategyConfig) else shorts[spec.name]
        assert used[spec.name] == expected, spec.name
    # the resolved fields carry the non-default values too: shorts borrowed on spot
    assert (used["allow_short"], used["borrow_fee_per_day"]) == (
        True,
        values["spot_borrow_fee_per_day"],
    )


def test_every_strategy_field_is_offered_once_with_its_default_and_description():
    for config in (BacktestConfig, WalkForwardReportConfig):
        for part in STRATEGY_PARTS:
            for spec in flat_fields(part):
                field = config.model_fields[spec.name]
                assert field.default == _plain(spec.default), (config.__name__, spec.name)
                assert field.description == knobs.description(spec)
        for spec in config_fields(StrategyConfig):
            resolver = knobs.resolved_by(spec)
            assert spec.name in config.model_fields or resolver in STRATEGY_PARTS, spec.name
    values = _non_default_strategy()
    own = strategy_for(BacktestConfig(**values), "linear")
    assert strategy_for(WalkForwardReportConfig(**values), "linear") == own
    assert own.to_dict() == {
        f.name: values[f.name] for f in flat_fields(StrategyConfig)
    } | ShortRules(True, values["spot_borrow_fee_per_day"]).on("linear")


def test_a_config_without_the_part_that_resolves_a_field_fails_when_it_is_built():
    with pytest.raises(TypeError, match="StrategyConfig.allow_short is set by ShortRules"):
        dagster_config("Rules", __name__, "", StrategyConfig)
