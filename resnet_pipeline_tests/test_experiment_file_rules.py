"""Everything a run would refuse, ``check`` refuses: a value outside its knob's rule in any
section (the rule declared once, with the knob, and enforced the same way by the Launchpad's
configs), months that are no month partition or have none before them to train on, variant
names a ``--partition-range`` would split wrongly, and ``--n-boot``."""

import dataclasses
import math
import shlex
import typing
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from resnet_pipeline.commands import materialize_trial_months
from resnet_pipeline.experiments.experiment_file import (
    VARIANT_NAME,
    Experiment,
    ExperimentError,
    load_experiment,
    months_within,
    parse_experiment,
    valid_variant_name,
)
from resnet_pipeline.experiments.trial_keys import trial_key
from resnet_pipeline.experiments.variant_config import SECTIONS, VariantConfigError, resolve_config
from resnet_pipeline.knobs import KnobError, allowed, bounds, check_knobs, config_fields
from resnet_pipeline.partition_months import MonthSpan

SYMBOLS = ("BTCUSDT",)
SPAN = MonthSpan(date(2024, 1, 1), date(2024, 12, 1), "the running month (synthetic source)")


def _refusal(tmp_path: Path, body: str, months: str = "2024-02") -> str:
    path = tmp_path / "rules.yaml"
    path.write_text(f"months: {months}\nvariants:\n  - name: v1\n{body}")
    with pytest.raises(ExperimentError) as caught:
        load_experiment(path, SYMBOLS)
    message = str(caught.value)
    assert message.startswith(f"{path}: variant 'v1': ") and "\n" not in message
    return message


@pytest.mark.parametrize(
    ("body", "field", "value", "rule"),
    [
        ("training: {lr: .nan}", "training.lr", "nan", "a positive finite number"),
        ("training: {lr: .inf}", "training.lr", "inf", "a positive finite number"),
        ("training: {lr: -.inf}", "training.lr", "-inf", "a positive finite number"),
        ("training: {weight_decay: -5}", "training.weight_decay", "-5.0", "at least 0"),
        ("training: {max_train_samples: 0}", "training.max_train_samples", "0", "at least 1"),
        ("training: {num_threads: -3}", "training.num_threads", "-3", "in [0, 1024]"),
        ("training: {epochs: 0}", "training.epochs", "0", "at least 1"),
        ("training: {batch_size: 0}", "training.batch_size", "0", "in [1, 1,048,576]"),
        ("training: {epoch_fraction: 1.5}", "training.epoch_fraction", "1.5", "in (0, 1]"),
        ("training: {busy_threads: 0}", "training.busy_threads", "0", "in [1, 1024]"),
        ("training: {class_weights: [1, -1, 1]}", "training.class_weights", "-1", "each a"),
        ("strategy: {fee_rate: -0.1}", "strategy.fee_rate", "-0.1", "in [0, 1)"),
        ("strategy: {stop_pct: .nan}", "strategy.stop_pct", "nan", "in (0, 1)"),
        ("strategy: {initial_equity: 0}", "strategy.initial_equity", "0", "positive"),
        ("strategy: {max_hold_minutes: 0}", "strategy.max_hold_minutes", "0", "at least 1"),
        ("model: {dropout: 1.0}", "model.dropout", "1.0", "in [0, 1)"),
        ("model: {width: 2}", "model.width", "2", "in [4, 1024]"),
        ("folds: {val_ratio: 0}", "folds.val_ratio", "0", "in (0, 1)"),
        ("folds: {min_train_samples: 0}", "folds.min_train_samples", "0", "at least 1"),
        ("folds: {warm_start_epochs: 0}", "folds.warm_start_epochs", "0", "at least 1"),
        ("folds: {max_gap_minutes: .inf}", "folds.max_gap_minutes", "inf", "at least 1"),
    ],
)
def test_a_number_outside_its_knob_s_rule_is_refused_in_every_section(
    tmp_path, body, field, value, rule
):
    message = _refusal(tmp_path, f"    {body}\n")
    assert f"{field}=" in message and value in message and rule in message


@pytest.mark.parametrize(
    ("body", "what"),
    [
        ("training: {device: tpu}", "device='tpu': use auto"),
        ("training: {epochs: yes}", "training.epochs = True: Input should be a valid integer"),
        ("training: {epochs: 2.5}", "training.epochs = 2.5"),
        ("training: {class_weights: [1, 2]}", "one weight per class (Down, Neutral, Up)"),
        ("training: {precision: fp16, device: cpu}", "precision='fp16' needs a CUDA GPU"),
        ("labels: {threshold: .nan}", "threshold=nan"),
        ("labels: {vol_k: .inf}", "vol_k=inf"),
        ("labels: {forward_window: 0}", "forward_window=0"),
    ],
)
def test_values_no_run_could_use_are_refused(tmp_path, body, what):
    assert what in _refusal(tmp_path, f"    {body}\n")


def test_a_long_refused_value_is_cut(tmp_path):
    weights = "[" + ", ".join(["-1.5"] * 200) + "]"
    message = _refusal(tmp_path, f"    training: {{class_weights: {weights}}}\n")
    assert "training.class_weights=[-1.5, -1.5" in message and "..." in message
    assert len(message) < 400


def _bad_values(spec: dataclasses.Field) -> list:
    """Values just outside the knob's range, and the non-finite ones for a float knob."""
    rule, kind = bounds(spec), str(spec.type)
    whole = kind.startswith("int")
    out: list = [] if whole else [math.nan, math.inf, -math.inf]
    step = 1 if whole else 0.5
    if rule.ge is not None:
        out.append(rule.ge - step)
    if rule.gt is not None:
        out.append(rule.gt)
    if rule.le is not None:
        out.append(rule.le + step)
    if rule.lt is not None:
        out.append(rule.lt)
    out = [int(v) if whole else float(v) for v in out]
    if kind.startswith("tuple"):
        out = [(v, 1.0, 1.0) for v in out]
    return out


RULED = [
    (section, cls, spec, value)
    for section, classes in SECTIONS.items()
    for cls in classes
    for spec in config_fields(cls)
    if "description" in spec.metadata  # a knob (LabelConfig states its own rules)
    and not spec.metadata.get("choices")
    and ("int" in str(spec.type) or "float" in str(spec.type))
    for value in _bad_values(spec)
]


def test_every_number_knob_has_a_rule_to_test():
    assert len({(c, s.name) for _, c, s, _ in RULED}) >= 40


@pytest.mark.parametrize(
    ("section", "cls", "spec", "value"),
    RULED,
    ids=[f"{s}.{f.name}={v}" for s, _, f, v in RULED],
)
def test_every_knob_s_rule_is_enforced_alike_in_a_file_and_in_the_dataclass(
    section, cls, spec, value
):
    """The rule is the knob's: the experiment file refuses with the dataclass's own words
    (the Launchpad builds the same dataclass, ``dagster_config.part_of``)."""
    written = list(value) if isinstance(value, tuple) else value
    with pytest.raises(VariantConfigError) as in_file:
        resolve_config({section: {spec.name: written}})
    assert in_file.value.field == spec.name
    assert f"{section}.{spec.name}=" in str(in_file.value)
    assert allowed(spec) in str(in_file.value)
    with pytest.raises(KnobError) as in_code:
        cls(**{spec.name: value})
    assert str(in_file.value) == f"{section}.{in_code.value}"


def test_the_launchpad_config_refuses_what_the_file_refuses():
    from resnet_pipeline.defs.dagster_config import dagster_config, part_of
    from resnet_pipeline.ml.training.train_config import TrainConfig

    config = dagster_config("Probe", __name__, "probe", TrainConfig)
    with pytest.raises(KnobError, match=r"lr=nan: use a positive finite number"):
        part_of(TrainConfig, config(lr=math.nan))
    with pytest.raises(KnobError, match=r"weight_decay=-5\.0: use a finite number at least 0"):
        part_of(TrainConfig, config(weight_decay=-5.0))


def test_check_knobs_passes_the_defaults_of_every_section():
    for classes in SECTIONS.values():
        for cls in classes:
            if not any(f.metadata.get("from_data") for f in dataclasses.fields(cls)):
                check_knobs(cls())


def _experiment(tmp_path: Path, months: str) -> Experiment:
    path = tmp_path / "span.yaml"
    path.write_text(f"months: {months}\nvariants:\n  - name: v1\n")
    return load_experiment(path, SYMBOLS)


@pytest.mark.parametrize(
    ("months", "what"),
    [
        ("2030-01..2030-02", "2030-02 is after the last month partition"),
        ("2000-01..2049-12", "2049-12 is after the last month partition"),
        ("2024-06..2025-01", "2025-01 is after the last month partition"),
        ("2024-01", "2024-01 has no month partition before it to train on"),
        ("2023-06..2024-03", "2023-06 is before the first month partition"),
    ],
)
def test_months_outside_the_partitions_or_without_history_are_refused(tmp_path, months, what):
    experiment = _experiment(tmp_path, months)
    with pytest.raises(ExperimentError) as caught:
        months_within(experiment, SPAN)
    message = str(caught.value)
    assert message.startswith(f"{experiment.path}: months: {what}")
    assert "the month partitions run from RESNET_FIRST_MONTH=2024-01 to 2024-12" in message
    assert "choose months from 2024-02 to 2024-12 in the months field" in message
    assert "\n" not in message


def test_a_first_fold_without_history_names_the_first_month_that_fixes_it(tmp_path):
    with pytest.raises(ExperimentError, match=r"or set RESNET_FIRST_MONTH=2023-12 \(and ingest"):
        months_within(_experiment(tmp_path, "2024-01..2024-02"), SPAN)


@pytest.mark.parametrize("months", ["2024-02", "2024-02..2024-12", "[2024-12]"])
def test_months_inside_the_partitions_with_history_pass(tmp_path, months):
    months_within(_experiment(tmp_path, months), SPAN)


@pytest.mark.parametrize("name", ["a.", "a..", "x...y", "spec.default."])
def test_a_name_a_partition_range_would_split_wrongly_is_refused(tmp_path, name):
    path = tmp_path / "names.yaml"
    path.write_text(f"months: 2024-02\nvariants:\n  - name: '{name}'\n")
    with pytest.raises(ExperimentError, match=r"not ending with \. and without \.\.\."):
        load_experiment(path, SYMBOLS)


def test_a_grid_value_that_would_end_a_name_with_a_dot_is_refused(tmp_path):
    path = tmp_path / "names.yaml"
    path.write_text("months: 2024-02\ngrid:\n  folds: {price_norm: ['zscore.']}\n")
    with pytest.raises(ExperimentError, match=r"grid variant 'price_norm=zscore\.'.*not ending"):
        load_experiment(path, SYMBOLS)


def _range_of(command: str) -> str:
    words = shlex.split(command)
    return words[words.index("--partition-range") + 1]


@settings(max_examples=200, deadline=None)
@given(name=st.from_regex(VARIANT_NAME, fullmatch=True).filter(valid_variant_name))
def test_every_accepted_name_round_trips_through_a_partition_range(name):
    """Dagster's CLI splits ``--partition-range`` at ``...`` and wants two keys back."""
    key = trial_key("exp", "BTCUSDT", name)
    command = materialize_trial_months(key, date(2024, 2, 1), date(2024, 3, 1))
    assert _range_of(command).split("...") == [f"2024-02-01|{key}", f"2024-03-01|{key}"]


def _in_rule(spec: dataclasses.Field) -> st.SearchStrategy:
    """A value the knob accepts, small where a run's cost grows with it."""
    options = spec.metadata.get("choices")
    if options:
        return st.sampled_from(options)
    kind = str(spec.type)
    if kind.startswith("tuple[str"):  # channels: families and single channels, close kept
        names = ("spec", "calendar", "multi_timeframe", "volume", "rsi_14")
        return st.lists(st.sampled_from(names), min_size=1, max_size=3).map(lambda n: [*n, "close"])
    if kind.startswith("str"):  # the cross symbol, with no cross_asset channel chosen
        return st.none()
    if kind.startswith("bool"):
        return st.booleans() | st.none() if "None" in kind else st.booleans()
    rule = bounds(spec)
    low = rule.ge if rule.ge is not None else rule.gt
    high = rule.le if rule.le is not None else rule.lt
    if kind.startswith("int"):
        lo = int(low if low is not None else 0) + (1 if rule.gt is not None else 0)
        hi = int(high if high is not None else lo + 20) - (1 if rule.lt is not None else 0)
        values = st.integers(lo, min(hi, lo + 20))
    elif kind.startswith("tuple"):
        return st.none() | st.lists(st.floats(0.1, 5.0), min_size=3, max_size=3)
    else:
        lo = float(low if low is not None else 0.0)
        hi = float(high if high is not None else lo + 10.0)
        values = st.floats(
            lo,
            hi,
            exclude_min=rule.gt is not None,
            exclude_max=rule.lt is not None,
            allow_nan=False,
        )
    return values | st.none() if "None" in kind else values


# Knobs held where a generated value would only make the fold slow or need hardware.
HELD = {"epochs", "batch_size", "device", "precision", "num_threads", "busy_threads", "width"}
HELD |= {"window", "purge_minutes", "max_train_samples", "max_val_samples", "min_train_samples"}
HELD |= {"time_budget_minutes", "progress_every_seconds", "bn_refresh_batches", "min_steps"}


@st.composite
def _overrides(draw) -> dict[str, dict[str, typing.Any]]:
    out: dict[str, dict[str, typing.Any]] = {}
    for section, classes in SECTIONS.items():
        if section == "labels":
            continue  # LabelConfig's relations (vol_min_returns <= vol_window) come below
        for cls in classes:
            for spec in config_fields(cls):
                if spec.name not in HELD and draw(st.booleans()):
                    out.setdefault(section, {})[spec.name] = draw(_in_rule(spec))
    out["labels"] = draw(
        st.sampled_from(
            [{}, {"forward_window": 6}, {"vol_k": 0.5, "vol_window": 60, "vol_min_returns": 30}]
        )
    )
    return out


@settings(max_examples=60, deadline=None)
@given(overrides=_overrides(), n_boot=st.integers(100, 2000))
def test_a_configuration_check_accepts_builds_every_runtime_config(overrides, n_boot):
    """What a fold and the report build from a variant: the split rules for its horizon, the
    warm-start training, the loss and the network, the report's settings."""
    import torch

    from resnet_pipeline.experiments.verdict_report import ReportSettings, TrialTests
    from resnet_pipeline.ml.evaluation.bootstrap_config import BootstrapConfig
    from resnet_pipeline.ml.model.resnet import build_model
    from resnet_pipeline.ml.training.losses import make_loss

    file = {"months": "2024-02", "variants": [{"name": "v", **overrides}]}
    try:
        experiment = parse_experiment(file, "generated.yaml", SYMBOLS)
    except ExperimentError as error:  # a relation between knobs, refused in one paragraph
        assert "\n" not in str(error) and "generated.yaml: variant 'v': " in str(error)
        return
    config = experiment.variants[0].config
    config.folds.split_config(config.labels.forward_window)
    dataclasses.replace(config.train, epochs=config.warm.warm_start_epochs)
    train = config.train
    make_loss(train.loss, train.class_weights, train.focal_alpha, train.focal_gamma)
    model = build_model(dataclasses.replace(config.model, width=4))
    assert model(torch.zeros(1, config.model.in_channels, config.model.window)).shape == (1, 3)
    ReportSettings(BootstrapConfig(n_boot=n_boot), TrialTests())
