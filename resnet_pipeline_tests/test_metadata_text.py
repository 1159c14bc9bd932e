"""Figures as a person reads them in the Dagster UI: ages in days and hours, p-values below the
test's resolution as '< 0.001', shares as percentages with units, settings without braces, and
a key figure small enough to show without a click."""

from __future__ import annotations

import numpy as np
import pandas as pd

from resnet_pipeline.defs.key_figure import equity_markdown
from resnet_pipeline.defs.metadata import INLINE_MARKDOWN, as_series, as_text, settings_list
from resnet_pipeline.number_format import age, p_value


def test_an_age_reads_in_the_two_largest_units():
    assert age(1_236_560.4) == "858 d 17 h"  # not 1236560.4 minutes
    assert age(192) == "3 h 12 min" and age(4.53) == "4.5 min" and age(None) == "n/a"


def test_a_p_value_below_resolution_is_said_as_a_bound():
    assert p_value(0.0) == "< 0.001" and p_value(0.0, resolution=1 / 100) == "< 0.01"
    assert p_value(0.01234) == "0.0123"


def test_symbol_figures_are_text_and_month_figures_rounded_numbers():
    text = as_text(
        currency="USDT",
        entries={
            "accuracy": 0.38041,
            "sharpe": -4.00882,
            "fees_paid": 1229.4,
            "accuracy_minus_majority": -0.0123,
            "suggested_fraction": 0.25,
            "spa_p_buy_and_hold": 0.0,
            "trades": 408,
            "missing": None,
            "purged": {"train": 12},
        },
    )
    assert text == {
        "accuracy": "38%",
        "sharpe": "-4.009",
        "fees_paid": "1,229 USDT",
        "accuracy_minus_majority": "-1.23 points",
        "suggested_fraction": "25%",
        "spa_p_buy_and_hold": "< 0.001",
        "trades": "408 trades",
        "purged": "train: 12",
    }
    assert as_series({"temperature": 1.0459915318859714, "samples": np.int64(7)}) == {
        "temperature": 1.046,
        "samples": 7,
    }
    assert settings_list({"folds": {"window": 32}}) == ["folds.window: 32"]


def test_the_key_figure_fits_the_ui_s_inline_limit():
    rng = np.random.default_rng(0)
    equity = pd.Series(np.cumprod(1 + rng.normal(0, 0.01, 50_000)))
    hold = pd.Series(np.cumprod(1 + rng.normal(0, 0.01, 50_000)))
    shown = equity_markdown(equity, hold)
    assert shown is not None and len(shown) < INLINE_MARKDOWN
    assert shown.startswith("![equity") and "data:image/svg+xml," in shown
    assert equity_markdown(equity.iloc[:1], hold.iloc[:1]) is None  # nothing to draw
