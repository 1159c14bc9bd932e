"""The search section of an experiment file: read, and refused at check time naming the file and
the field (no training, no Dagster)."""

from datetime import date

import pytest

from resnet_pipeline.experiments.experiment_file import (
    ExperimentError,
    load_experiment,
    parse_experiment,
)
from resnet_pipeline.experiments.search_space import MAX_SEARCH_TRIALS

SYMBOLS = ["BTCUSDT"]


def _file(search: dict, **top) -> dict:
    return {"months": "2024-02..2024-05", "search": search} | top


def _refusal(raw: dict) -> str:
    with pytest.raises(ExperimentError) as caught:
        parse_experiment(raw, "experiments/demo.yaml", SYMBOLS)
    return str(caught.value)


def test_a_search_reads_its_space_and_splits_off_its_months():
    space = {
        "model.width": {"int": [16, 64], "step": 16},
        "training.lr": {"log": [1.0e-4, 1.0e-2]},
        "folds.window": {"categorical": [32, 48, 64]},
        "model.dropout": {"float": [0.0, 0.5]},
    }
    raw = _file({"space": space, "n_trials": 7, "search_months": "2024-02..2024-03"})
    experiment = parse_experiment(raw, "experiments/demo.yaml", SYMBOLS)
    search = experiment.search
    assert [d.name for d in search.space] == list(space)
    assert [d.kind for d in search.space] == ["int", "log", "categorical", "float"]
    assert (search.n_trials, search.sampler, search.pruner) == (7, "tpe", "median")
    assert search.objective == "val_log_loss" and search.startup_trials == 5
    assert experiment.search_months == (date(2024, 2, 1), date(2024, 3, 1))
    assert experiment.months == (date(2024, 4, 1), date(2024, 5, 1))  # the verdict's
    assert experiment.all_months[0] == date(2024, 2, 1) and experiment.variants == ()
    overrides = search.overrides({"training.lr": 0.001, "folds.window": 48})
    assert overrides == {"training": {"lr": 0.001}, "folds": {"window": 48}}


def test_a_grid_search_runs_its_combinations_by_default():
    space = {
        "folds.window": {"categorical": [32, 48]},
        "model.dropout": {"categorical": [0.1, 0.2]},
    }
    experiment = parse_experiment(
        _file({"space": space, "sampler": "grid"}), "experiments/demo.yaml", SYMBOLS
    )
    assert experiment.search.n_trials == 4
    assert experiment.search.grid() == {"folds.window": [32, 48], "model.dropout": [0.1, 0.2]}


@pytest.mark.parametrize(
    ("space", "where", "problem"),
    [
        ({"model.width": {"int": [64, 16]}}, "'model.width'", "is inverted"),
        ({"model.width": {"int": [16, 16]}}, "'model.width'", "is empty"),
        ({"training.lr": {"log": [0.0, 1.0e-2]}}, "'training.lr'", "must stay above 0"),
        ({"folds.window": {"categorical": [32]}}, "'folds.window'", "at least two values"),
        ({"training.nope": {"float": [0.1, 0.2]}}, "'training.nope'", "not a field"),
        ({"model.in_channels": {"int": [1, 4]}}, "'model.in_channels'", "not a field"),
        ({"months": {"categorical": ["2024-02", "2024-03"]}}, "'months'", "scored months"),
        ({"lr": {"float": [0.1, 0.2]}}, "'lr'", "write section.field"),
        ({"model.dropout": {"float": [0.0, 1.5]}}, "model.dropout", "the value 1.5"),
        ({"model.width": {"int": [16.5, 64]}}, "'model.width', int", "not an integer"),
        ({"training.lr": {"log": ["1e-4", 1.0e-2]}}, "'training.lr', log", "write 1.0e-4"),
        ({"training.lr": {"uniform": [0.1, 0.2]}}, "'training.lr'", "exactly one of"),
    ],
)
def test_a_space_that_cannot_be_searched_is_refused_naming_the_field(space, where, problem):
    message = _refusal(_file({"space": space, "n_trials": 3}))
    assert message.startswith(f"experiments/demo.yaml: search, space, {where}")
    assert problem in message


@pytest.mark.parametrize(
    ("search", "where", "problem"),
    [
        ({"n_trials": 0}, "search, n_trials", "from 1 to"),
        ({"n_trials": MAX_SEARCH_TRIALS + 1}, "search, n_trials", f"{MAX_SEARCH_TRIALS:,}"),
        ({}, "search, n_trials", "missing"),
        ({"n_trials": 5, "sampler": "grid"}, "search, sampler", "categoricals only"),
        ({"n_trials": 3, "sampler": "cmaes"}, "search, sampler", "tpe, random, grid"),
        ({"n_trials": 3, "pruner": "hyperband"}, "search, pruner", "median, none"),
        ({"n_trials": 3, "objective": "month_log_loss"}, "search, objective", "search_months"),
        ({"n_trials": 3, "search_months": "2024-02..2024-05"}, "search, search_months", "none"),
        ({"n_trials": 3, "search_months": ["2024-03"]}, "search, search_months", "2024-02"),
        ({"n_trials": 3, "search_months": ["2024-09"]}, "search, search_months", "not among"),
        ({"n_trials": 3, "budget": 3}, "search", "unknown key"),
    ],
)
def test_search_settings_that_cannot_run_are_refused(search, where, problem):
    space = {"training.lr": {"log": [1.0e-4, 1.0e-2]}}
    message = _refusal(_file({"space": space} | search))
    assert message.startswith(f"experiments/demo.yaml: {where}:")
    assert problem in message


def test_a_grid_with_fewer_combinations_than_trials_is_refused():
    space = {"folds.window": {"categorical": [32, 48]}}
    message = _refusal(_file({"space": space, "sampler": "grid", "n_trials": 3}))
    assert "search, n_trials: 3 is more than the grid's 2 combinations" in message


def test_written_variants_may_not_take_the_search_s_names():
    space = {"training.lr": {"log": [1.0e-4, 1.0e-2]}}
    raw = _file({"space": space, "n_trials": 2}, variants=[{"name": "search-001"}])
    assert "variant 'search-001': names search-<number> are the search's" in _refusal(raw)


def test_yaml_s_1e_4_is_text_and_the_refusal_says_how_to_write_it(tmp_path):
    path = tmp_path / "demo.yaml"
    path.write_text(
        "months: 2024-02..2024-03\nsearch:\n  space:\n    training.lr: {log: [1e-4, 1.0e-2]}\n"
        "  n_trials: 3\n"
    )
    with pytest.raises(ExperimentError, match=r"search, space, 'training.lr', log: '1e-4' is text"):
        load_experiment(path, SYMBOLS)
