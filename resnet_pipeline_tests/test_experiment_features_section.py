"""The ``features`` section of experiment files: one spelling per feature set (so one hash),
a different set a different trial, the model's width following it, and each thing no run could
use refused when the file is checked, naming the file, variant and field."""

from datetime import date
from pathlib import Path

import pytest

from resnet_pipeline.experiments.experiment_file import (
    ExperimentError,
    features_fit,
    history_fits,
    load_experiment,
    parse_experiment,
)
from resnet_pipeline.experiments.variant_config import resolve_config
from resnet_pipeline.features.channel_names import FEATURE_CHANNELS
from resnet_pipeline.features.feature_config import FeatureConfig

SYMBOLS = ("BTCUSDT", "ETHUSDT")


def _refusal(tmp_path: Path, body: str, source: str | None = None) -> str:
    path = tmp_path / "feats.yaml"
    path.write_text(f"months: 2024-02\nvariants:\n  - name: v1\n    features: {body}\n")
    with pytest.raises(ExperimentError) as caught:
        load_experiment(path, SYMBOLS, source=source)
    message = str(caught.value)
    assert message.startswith(f"{path}: variant 'v1'") and "\n" not in message
    assert not list(tmp_path.glob("*[!l]"))  # nothing but the file itself was written
    return message


def test_the_default_is_the_15_spec_channels_in_one_spelling():
    default = resolve_config({})
    assert default.features.channels == FEATURE_CHANNELS
    assert default.model.in_channels == len(FEATURE_CHANNELS)
    named = resolve_config({"features": {"channels": ["spec"]}})
    shuffled = resolve_config({"features": {"channels": list(reversed(FEATURE_CHANNELS))}})
    assert named.config_hash == shuffled.config_hash == default.config_hash
    assert "features" in default.sections()


def test_another_feature_set_is_another_trial_and_sets_the_model_s_width():
    wider = resolve_config({"features": {"channels": ["spec", "calendar"]}})
    fewer = resolve_config({"features": {"channels": ["open", "high", "low", "close"]}})
    default = resolve_config({})
    assert len({wider.config_hash, fewer.config_hash, default.config_hash}) == 3
    assert (wider.model.in_channels, fewer.model.in_channels) == (19, 4)
    no_close = {"channels": ["open", "volume"]}
    zscored = resolve_config({"features": no_close, "folds": {"price_norm": "zscore"}})
    assert zscored.model.in_channels == 2


def test_a_variant_spelling_the_default_set_again_is_the_same_trial(tmp_path):
    path = tmp_path / "twins.yaml"
    path.write_text("months: 2024-02\nvariants:\n  - name: a\n  - name: b\n"
                    "    features: {channels: [spec]}\n")  # fmt: skip
    with pytest.raises(ExperimentError, match="its configuration equals variant 'a'"):
        load_experiment(path, SYMBOLS)


@pytest.mark.parametrize(
    ("body", "field", "what"),
    [
        ("{channels: []}", "features.channels", "no channel selected"),
        ("{channels: [spec, moon_phase]}", "features.channels", "unknown channel or family"),
        ("{channels: [cross_asset]}", "features.cross_symbol", "name it with cross_symbol"),
        ("{channels: [spec], cross_symbol: ETHUSDT}", "features.cross_symbol", "no cross_asset"),
        ("{channels: spec}", "features.channels", "Input should be a valid list"),
        ("{channels: [open, volume]}", "features.channels", "but close is not selected"),
        (
            "{channels: [spec, cross_asset], cross_symbol: ethusdt}",
            "features.cross_symbol",
            "for symbol ETHUSDT: cross_symbol 'ETHUSDT' is the traded symbol itself",
        ),
    ],
)
def test_what_no_run_could_compute_is_refused_naming_the_field(tmp_path, body, field, what):
    message = _refusal(tmp_path, body)
    assert field in message and what in message


def test_order_flow_on_a_source_without_it_is_refused_naming_the_source(tmp_path):
    message = _refusal(tmp_path, "{channels: [spec, order_flow]}", source="bybit")
    assert "features.channels" in message and "RESNET_SOURCE=bybit" in message
    path = tmp_path / "flow.yaml"
    path.write_text("months: 2024-02\nvariants:\n  - name: v\n"
                    "    features: {channels: [spec, order_flow]}\n")  # fmt: skip
    assert load_experiment(path, SYMBOLS, source="files").variants[0].config.model.in_channels == 17


def test_a_family_whose_history_exceeds_the_month_before_the_first_fold_is_refused():
    every = FeatureConfig(channels=("spec", "multi_timeframe", "calendar", "order_flow"))
    assert features_fit(every, SYMBOLS, date(2024, 3, 1), None) is None
    # February 2024 holds 41,760 minutes: a family needing them all would leave no row
    problem = history_fits(("spec",), 41_760, date(2024, 3, 1))
    assert problem is not None and "2024-02" in problem and "41,760 minutes" in problem
    assert history_fits(("spec",), 41_759, date(2024, 3, 1)) is None


def test_a_grid_over_feature_sets_gives_one_trial_each():
    file = {
        "months": "2024-02",
        "grid": {"features": {"channels": [["spec"], ["spec", "calendar"], ["close", "volume"]]}},
    }
    experiment = parse_experiment(file, "grid.yaml", SYMBOLS)
    assert [v.config.model.in_channels for v in experiment.variants] == [15, 19, 2]
