"""Trading metrics on hand-computed cases, and no fake edge from a model without skill."""

import math

import numpy as np
import pandas as pd
import pytest

from resnet_pipeline.trading.performance import (
    CONVENTIONS,
    TRADING_TARGETS,
    annualized_return,
    buy_and_hold,
    calmar,
    daily_returns,
    max_drawdown,
    profit_factor,
    sharpe,
    sortino,
    total_return,
    trading_verdicts,
    win_rate,
)
from resnet_pipeline.trading.strategy import StrategyConfig
from resnet_pipeline.trading.strategy_evaluation import evaluate_strategy
from resnet_pipeline_tests._features_helpers import synthetic


def _daily(values, start="2024-01-01"):
    return pd.Series(values, index=pd.date_range(start, periods=len(values), freq="1D", tz="UTC"))


def test_flat_equity():
    flat = _daily([100.0] * 10)
    assert total_return(flat) == 0 and annualized_return(flat) == 0
    assert max_drawdown(flat) == 0
    assert sharpe(daily_returns(flat)) is None  # no volatility: undefined, not infinite
    assert sortino(daily_returns(flat)) is None
    assert calmar(flat) is None


def test_known_drawdown_and_returns():
    equity = _daily([100.0, 120.0, 90.0, 110.0])
    assert max_drawdown(equity) == pytest.approx(0.25)  # 120 -> 90
    assert total_return(equity) == pytest.approx(0.10)
    assert annualized_return(equity) == pytest.approx(1.10 ** (365 / 3) - 1)
    returns = daily_returns(equity)
    assert list(returns.round(6)) == [0.0, 0.2, -0.25, round(110 / 90 - 1, 6)]
    expected_sharpe = returns.mean() / returns.std(ddof=1) * math.sqrt(365)
    assert sharpe(returns) == pytest.approx(expected_sharpe)
    downside = math.sqrt((0.25**2) / 4)
    assert sortino(returns) == pytest.approx(returns.mean() / downside * math.sqrt(365))
    assert calmar(equity) == pytest.approx(annualized_return(equity) / 0.25)


def test_daily_returns_use_the_last_value_of_each_utc_day():
    minutes = pd.Series(
        [100.0, 101.0, 99.0, 102.0],
        index=pd.to_datetime(
            ["2024-01-01 00:00", "2024-01-01 23:59", "2024-01-02 00:00", "2024-01-02 12:00"],
            utc=True,
        ),
    )
    assert list(daily_returns(minutes).round(6)) == [0.01, round(102 / 101 - 1, 6)]


def test_trade_statistics():
    trades = pd.DataFrame({"pnl": [10.0, -5.0, 20.0, -5.0]})
    assert win_rate(trades) == 0.5
    assert profit_factor(trades) == pytest.approx(3.0)
    assert profit_factor(pd.DataFrame({"pnl": [1.0]})) is None  # no loss: undefined
    assert win_rate(pd.DataFrame({"pnl": []})) is None


def test_buy_and_hold_pays_entry_and_exit_costs():
    cfg = StrategyConfig(fee_rate=0.001, slippage_bps=10)
    times = pd.date_range("2024-01-01", periods=3, freq="1min", tz="UTC")
    equity = buy_and_hold(times, np.array([100.0, 100, 100]), np.array([100.0, 110, 120]), cfg)
    qty = 10_000 * 0.999 / 100.1
    sold = qty * 120 * 0.999 * 0.999  # sold at the last close: slippage, then the fee
    assert list(equity.round(6)) == [round(qty * 100, 6), round(qty * 110, 6), round(sold, 6)]


def test_break_even_trades_count_as_losses():
    trades = pd.DataFrame({"pnl": [0.0, 5.0, -5.0, 0.0]})
    assert win_rate(trades) == 0.25
    assert profit_factor(trades) == pytest.approx(1.0)


def test_sortino_downside_is_over_all_days_with_target_zero():
    returns = pd.Series([0.02, -0.01, 0.005, -0.03, 0.01])
    downside = math.sqrt((0.01**2 + 0.03**2) / 5)  # all 5 days, positive days count as 0
    assert sortino(returns) == pytest.approx(returns.mean() / downside * math.sqrt(365))
    assert sharpe(returns) == pytest.approx(
        returns.mean() / returns.std(ddof=1) * math.sqrt(365)  # risk-free rate 0
    )


def test_every_stated_convention_is_in_the_list_reports_print():
    text = " ".join(CONVENTIONS)
    for phrase in (
        "daily (UTC) returns",
        "sqrt(365)",
        "risk-free rate is 0",
        "ddof 1",
        "over all days (target return 0)",
        "break-even trades count as losses",
        "closed at the last close, paying slippage and its exit fee",
        "buy-and-hold pays the same entry and exit costs",
    ):
        assert phrase in text


def test_targets_are_marked():
    assert [(t.metric, t.op, t.threshold) for t in TRADING_TARGETS] == [
        ("sharpe", ">", 1.5),
        ("sortino", ">", 2.0),
        ("max_drawdown", "<", 0.15),
        ("win_rate", ">", 0.52),
        ("profit_factor", ">", 1.3),
        ("calmar", ">", 1.0),
    ]
    strategy = {"sharpe": 2.0, "max_drawdown": 0.2, "sortino": None, "trades": 5}
    rows = trading_verdicts(strategy, {"sharpe": 1.0, "max_drawdown": 0.3, "sortino": 1.0})
    by_name = {r["metric"]: r for r in rows}
    assert by_name["sharpe"]["met"] is True
    assert by_name["max_drawdown"]["met"] is False  # < 15% required
    assert by_name["sortino"]["met"] is None
    assert by_name["sortino"]["verdict"] == "not defined (no losing day)"


def test_a_model_without_skill_shows_no_edge():
    """Probabilities unrelated to the future (a shuffled-label model) must lose about the
    costs, not show a profit: the backtest cannot manufacture an edge."""
    candles = synthetic("2024-03-01", 20 * 1440)
    rng = np.random.default_rng(0)
    test = candles.iloc[1440:].reset_index(drop=True)
    proba = rng.dirichlet([1.0, 3.0, 1.0], len(test))
    rng.shuffle(proba)
    predictions = pd.DataFrame(
        {
            "timestamp": test["timestamp"],
            "p_down": proba[:, 0],
            "p_neutral": proba[:, 1],
            "p_up": proba[:, 2],
        }
    )
    costly = evaluate_strategy(candles, predictions, StrategyConfig())
    free = evaluate_strategy(candles, predictions, StrategyConfig(fee_rate=0.0, slippage_bps=0.0))
    trades = costly.result.trades
    assert len(trades) > 100
    # gross of costs the average trade earns nothing distinguishable from zero...
    gross = free.result.trades["return"]
    assert abs(gross.mean()) < 3 * gross.std() / math.sqrt(len(gross))
    # ...so with costs the strategy loses, by about what it paid
    assert costly.metrics["total_return"] < 0
    assert costly.metrics["fees_paid"] > 0
