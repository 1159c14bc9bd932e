"""Shorts by market: a spot account is long-only unless shorts are asked for (then they pay to
borrow), a linear perpetual shorts natively."""

import pytest

from resnet_pipeline.defs.evaluation.backtest_report import BacktestConfig, strategy_for
from resnet_pipeline.trading.simulate import run_backtest, simulate
from resnet_pipeline.trading.strategy import StrategyConfig, short_rules
from resnet_pipeline.trading.strategy_evaluation import evaluate_strategy
from resnet_pipeline_tests._backtest_helpers import (
    FLAT,
    LONG,
    NO_COSTS,
    SHORT,
    bars_from,
    ramped_predictions,
)
from resnet_pipeline_tests._features_helpers import synthetic
from resnet_pipeline_tests._reference_backtest import reference_trades

HOLD_SHORT = (0.6, 0.2, 0.2)


def test_spot_is_long_only_by_default_and_linear_shorts():
    assert short_rules("spot", None, 0.001) == {"allow_short": False, "borrow_fee_per_day": 0.0}
    assert short_rules("spot", True, 0.001) == {"allow_short": True, "borrow_fee_per_day": 0.001}
    assert short_rules("linear", None, 0.001) == {"allow_short": True, "borrow_fee_per_day": 0.0}
    assert short_rules("linear", False, 0.001)["allow_short"] is False
    with pytest.raises(ValueError, match="spot"):
        short_rules("inverse", None, 0.0)


def test_the_backtest_asset_follows_the_market_setting():
    assert strategy_for(BacktestConfig(), "spot").allow_short is False
    assert strategy_for(BacktestConfig(), "linear").allow_short is True
    spot_short = strategy_for(
        BacktestConfig(allow_short=True, spot_borrow_fee_per_day=0.002), "spot"
    )
    assert (spot_short.allow_short, spot_short.borrow_fee_per_day) == (True, 0.002)


def test_long_only_ignores_short_signals():
    cfg = StrategyConfig(take_profit=None, allow_short=False, **NO_COSTS)
    probs = [SHORT, HOLD_SHORT, FLAT, LONG, FLAT, FLAT]
    m = bars_from([100, 99, 98, 98, 99, 99], probs, cfg)
    trades = simulate(m, cfg)
    assert trades == reference_trades(m, cfg)
    assert [(t["side"], t["entry_bar"]) for t in trades] == [(1, 4)]


def test_a_short_pays_its_borrow_fee_per_day_held():
    free = StrategyConfig(take_profit=None, stop="fixed", **NO_COSTS)
    paid = StrategyConfig(take_profit=None, stop="fixed", borrow_fee_per_day=0.01, **NO_COSTS)
    n = 122  # entry at bar 1, held to the last bar: 120 minutes
    probs = [SHORT] + [HOLD_SHORT] * (n - 1)
    base = simulate(bars_from([100.0] * n, probs, free), free)[0]
    m = bars_from([100.0] * n, probs, paid)
    trade = simulate(m, paid)[0]
    assert simulate(m, paid) == reference_trades(m, paid)
    cost = 2500 * 0.01 * 120 / 1440  # notional x rate x days held
    assert trade["borrow_fee"] == pytest.approx(cost)
    assert trade["pnl"] == pytest.approx(base["pnl"] - cost)
    result = run_backtest(m, paid)
    assert result.equity.iloc[-1] == pytest.approx(10_000 - cost)
    assert result.equity.iloc[61] == pytest.approx(10_000 - cost / 2)  # accrued half-way
    assert result.fees == pytest.approx(cost)


def test_longs_pay_no_borrow_fee():
    cfg = StrategyConfig(take_profit=None, borrow_fee_per_day=0.01, **NO_COSTS)
    m = bars_from([100.0] * 30, [LONG] + [(0.2, 0.2, 0.6)] * 29, cfg)
    assert simulate(m, cfg)[0]["borrow_fee"] == 0.0


def test_no_trades_on_a_long_only_market_says_shorts_are_off():
    candles = synthetic("2024-03-01", 2 * 1440)
    predictions = ramped_predictions(candles, 0.5, 0.7)
    long_only = evaluate_strategy(candles, predictions, StrategyConfig(allow_short=False))
    assert long_only.metrics["trades"] == 0
    assert "highest p_down 0.7000" in long_only.notes[0] and "Shorts are off" in long_only.notes[0]
    both = evaluate_strategy(candles, predictions, StrategyConfig())
    assert both.metrics["trades"] > 0 and (both.result.trades["side"] == -1).all()
