"""Experiment files: variants parse, a grid expands, every knob of the one config is settable,
the configuration hash names a trial, and every bad file is refused naming the file, the
variant and the field."""

import dataclasses
import math
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from resnet_pipeline.experiments.experiment_file import (
    ExperimentError,
    expand_grid,
    load_experiment,
    parse_experiment,
)
from resnet_pipeline.experiments.variant_config import (
    SECTIONS,
    resolve_config,
    section_fields,
)
from resnet_pipeline.features.labels import LabelConfig
from resnet_pipeline.knobs import config_fields

SYMBOLS = ("BTCUSDT", "ETHUSDT")
EXAMPLE = """
description: horizons and thresholds
months: 2024-02..2024-04
symbols: [btcusdt]
base:
  training: {epochs: 3, class_weights: [1, 1, 1]}
  folds: {warm_start: true}
variants:
  - name: spec-default
  - name: short-horizon
    labels: {forward_window: 6}
    training: {epochs: 5}
grid:
  labels: {threshold: [0.001, 0.003]}
  strategy: {threshold: [0.55]}
  model: {dropout: [0.1, 0.5]}
"""


def _file(tmp_path: Path, text: str, name: str = "horizons") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return path


def test_a_file_parses_with_its_base_variants_and_grid(tmp_path):
    experiment = load_experiment(_file(tmp_path, EXAMPLE), SYMBOLS)
    assert experiment.name == "horizons" and experiment.symbols == ("BTCUSDT",)
    assert experiment.months == (date(2024, 2, 1), date(2024, 3, 1), date(2024, 4, 1))
    names = [v.name for v in experiment.variants]
    assert names == [
        "spec-default",
        "short-horizon",
        "labels.threshold=0.001+strategy.threshold=0.55+dropout=0.1",
        "labels.threshold=0.001+strategy.threshold=0.55+dropout=0.5",
        "labels.threshold=0.003+strategy.threshold=0.55+dropout=0.1",
        "labels.threshold=0.003+strategy.threshold=0.55+dropout=0.5",
    ]
    default, short = experiment.variants[:2]
    assert default.config.train.epochs == 3 and short.config.train.epochs == 5  # over base
    assert default.config.train.class_weights == (1.0, 1.0, 1.0)
    assert short.config.labels.forward_window == 6 and short.config.warm.warm_start
    assert default.config.labels == LabelConfig()  # the SPEC 5 rule stays the default
    grid = experiment.variants[4].config
    assert grid.labels.threshold == 0.003 and grid.strategy.threshold == 0.55
    assert grid.model.dropout == 0.1
    assert len({v.config.config_hash for v in experiment.variants}) == len(names)
    assert experiment.base.train.epochs == 3


def test_the_purge_covers_a_longer_label_horizon(tmp_path):
    experiment = load_experiment(
        _file(tmp_path, "months: [2024-02]\nvariants: [{name: h30, labels: {forward_window: 30}}]"),
        SYMBOLS,
    )
    config = experiment.variants[0].config
    assert config.folds.split_config(config.labels.forward_window).purge == 30


@pytest.mark.parametrize("section", list(SECTIONS))
def test_every_knob_of_every_section_is_settable_and_its_default_changes_nothing(section):
    plain = resolve_config({})
    for name in section_fields(section):
        value = plain.sections()[section][name]
        assert resolve_config({section: {name: value}}).config_hash == plain.config_hash, name


def test_the_sections_are_the_config_dataclasses_fields():
    for section, parts in SECTIONS.items():
        derived = {f.name for part in parts for f in config_fields(part)}
        assert set(section_fields(section)) == derived
        assert set(resolve_config({}).sections()[section]) == derived


def test_a_changed_value_is_another_trial_and_the_same_value_the_same_trial():
    base = resolve_config({"model": {"dropout": 0.3}})
    assert base.config_hash == resolve_config({}).config_hash  # 0.3 is the default
    assert resolve_config({"model": {"dropout": 0.2}}).config_hash != base.config_hash
    assert resolve_config({"training": {"seed": 1}}).config_hash != base.config_hash


def test_shorts_follow_the_market_unless_a_variant_sets_them():
    assert not resolve_config({}, "spot").strategy.allow_short
    assert resolve_config({}, "linear").strategy.allow_short
    borrowed = resolve_config({"strategy": {"allow_short": True}}, "spot").strategy
    assert borrowed.allow_short and borrowed.borrow_fee_per_day > 0  # spot shorts borrow


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.integers(0, 9), min_size=1, max_size=3, unique=True),
    st.lists(st.sampled_from([0.1, 0.2, 0.4]), min_size=1, max_size=3, unique=True),
    st.lists(st.integers(1, 4), min_size=1, max_size=2, unique=True),
)
def test_a_grid_is_the_cartesian_product_with_unique_deterministic_names(seeds, dropouts, epochs):
    grid = {"training": {"seed": seeds, "epochs": epochs}, "model": {"dropout": dropouts}}
    expanded = expand_grid(grid, Path("g.yaml"))
    assert len(expanded) == len(seeds) * len(dropouts) * len(epochs)
    assert len({name for name, _ in expanded}) == len(expanded)
    assert expanded == expand_grid(grid, Path("g.yaml"))
    combos = {
        (o["training"]["seed"], o["training"]["epochs"], o["model"]["dropout"]) for _, o in expanded
    }
    assert len(combos) == len(expanded)
    name, overrides = expanded[0]
    assert name == f"seed={seeds[0]}+epochs={epochs[0]}+dropout={dropouts[0]:g}"


BAD = [
    ("months: [2024-02]\nvariants: [{name: a}]\nextra: 1", "top level", "extra"),
    ("months: [2024-13]\nvariants: [{name: a}]", "months", "2024-13"),
    ("variants: [{name: a}]", "months", "missing or empty"),
    ("months: [2024-02]\nsymbols: [SOLUSDT]\nvariants: [{name: a}]", "symbols", "SOLUSDT"),
    ("months: [2024-02]", "variants", "no variant"),
    ("months: [2024-02]\nvariants: []", "variants", "no variant"),
    (
        "months: [2024-02]\nvariants: [{name: a}, {name: a, model: {dropout: 0.1}}]",
        "variant 'a'",
        "used twice",
    ),
    ("months: [2024-02]\nvariants: [{name: a}, {name: b}]", "variant 'b'", "equals variant 'a'"),
    ("months: [2024-02]\nvariants: [{name: a, optics: {x: 1}}]", "variant 'a'", "optics"),
    (
        "months: [2024-02]\nvariants: [{name: a, labels: {horizon: 5}}]",
        "variant 'a'",
        "labels.horizon",
    ),
    (
        "months: [2024-02]\nvariants: [{name: a, training: {epochs: ten}}]",
        "variant 'a'",
        "training.epochs",
    ),
    ("months: [2024-02]\nvariants: [{name: a, model: {arch: resnet99}}]", "variant 'a'", "arch"),
    (
        "months: [2024-02]\nvariants: [{name: a, model: {window: 64}}]",
        "variant 'a'",
        "folds.window",
    ),
    (
        "months: [2024-02]\nvariants: [{name: a, folds: {purge_minutes: 5}}]",
        "variant 'a'",
        "purge_minutes",
    ),
    (
        "months: [2024-02]\nvariants: [{name: a, strategy: {threshold: 0.3}}]",
        "variant 'a'",
        "threshold",
    ),
    ("months: [2024-02]\nvariants: [{name: 'a|b'}]", "variant 'a|b'", "partition key"),
    ("months: [2024-02]\ngrid: {model: {dropout: 0.1}}", "grid, model.dropout", "non-empty list"),
    ("months: [2024-02]\ngrid: {model: {depth: [1, 2]}}", "grid, model.depth", "not a field"),
    (
        "months: [2024-02]\nbase: {model: {dropout: 2}}\nvariants: [{name: a}]",
        "variant 'a'",
        "dropout",
    ),
    ("name: other\nmonths: [2024-02]\nvariants: [{name: a}]", "name", "differs from the file name"),
    ("months: [2024-02\nvariants: [", "not valid YAML", "fix the file"),
]


@pytest.mark.parametrize(("text", "where", "what"), BAD)
def test_a_bad_file_is_refused_naming_the_file_the_variant_and_the_field(
    tmp_path, text, where, what
):
    path = _file(tmp_path, text)
    with pytest.raises(ExperimentError) as caught:
        load_experiment(path, SYMBOLS)
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and where in message and what in message
    assert "\n" not in message  # one paragraph


def test_a_missing_file_names_where_experiments_live(tmp_path):
    with pytest.raises(ExperimentError, match="RESNET_EXPERIMENTS_DIR"):
        load_experiment(tmp_path / "nothing.yaml", SYMBOLS)


def test_the_resolved_configuration_is_every_field_of_every_part():
    sections = resolve_config({}).sections()
    labels = {f.name: f.default for f in dataclasses.fields(LabelConfig)}
    assert sections["labels"] == labels
    assert all(
        not (isinstance(v, float) and math.isnan(v)) for s in sections.values() for v in s.values()
    )


def test_parse_takes_the_yaml_already_read():
    experiment = parse_experiment(
        {"months": ["2024-05"], "variants": [{"name": "only"}]}, Path("x.yaml"), SYMBOLS
    )
    assert experiment.symbols == SYMBOLS and [v.name for v in experiment.variants] == ["only"]
