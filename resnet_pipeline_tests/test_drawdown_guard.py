"""The drawdown guard only moves forward in time: a reversal decided on the last bar of a UTC
day / ISO week exits and re-enters at the next 00:00 open, in the new day / week, and the
halving or weekly halt that exit caused holds for that re-entry (the engine and the reference
loop alike)."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resnet_pipeline.trading.bars import DAY_NS, make_bars
from resnet_pipeline.trading.simulate import simulate
from resnet_pipeline.trading.strategy import StrategyConfig
from resnet_pipeline_tests._backtest_helpers import (
    FLAT,
    HOLD_LONG,
    LONG,
    NO_COSTS,
    SHORT,
    bars_from,
)
from resnet_pipeline_tests._reference_backtest import reference_trades

# Bars from 23:55: the long fills at 23:56, the short signal at 23:59 reverses it at the
# 00:00 open (gapping down 1.8%, above the 2% stop), then a long signal at 00:02.
CLOSES = [100, 100, 100, 100, 100, 98.2, 98.2, 98.2, 98.2, 98.2]
OPENS = [100, 100, 100, 100, 100, 98.2, 98.2, 98.2, 98.2, 98.2]
PROBS = [LONG, HOLD_LONG, HOLD_LONG, HOLD_LONG, SHORT, FLAT, FLAT, LONG, FLAT, FLAT]
RULES = {"stop": "fixed", "take_profit": None, "exit_confidence": None, **NO_COSTS}


def engine_and_reference(cfg, start):
    m = bars_from(CLOSES, PROBS, cfg, opens=OPENS, start=start)
    trades = simulate(m, cfg)
    assert trades == reference_trades(m, cfg)
    return trades


def test_a_reversal_into_a_new_week_keeps_the_weekly_halt():
    # 2024-01-07 is a Sunday: the reversal exit at Monday 00:00 loses 25% x 1.8% = 0.45% of
    # equity, over the 0.4% weekly limit of the new week: no position may open in it
    cfg = StrategyConfig(weekly_drawdown_stop=0.004, **RULES)
    trades = engine_and_reference(cfg, "2024-01-07 23:55")
    assert [(t["reason"], t["exit_bar"]) for t in trades] == [("reversal", 5)]
    assert trades[0]["equity_after"] == pytest.approx(10_000 * (1 - 0.25 * 0.018))


def test_a_reversal_into_a_new_day_re_enters_at_half_size():
    cfg = StrategyConfig(daily_drawdown_halve=0.003, **RULES)
    trades = engine_and_reference(cfg, "2024-01-02 23:55")
    reverse = trades[1]
    assert (trades[0]["reason"], reverse["side"], reverse["entry_bar"]) == ("reversal", -1, 5)
    assert reverse["notional"] == pytest.approx(reverse["equity_before"] * 0.25 / 2)


def test_a_fill_in_a_new_week_is_judged_by_that_week():
    # a week halted on Sunday does not block a decision at Sunday 23:59 that fills Monday
    cfg = StrategyConfig(weekly_drawdown_stop=0.004, **RULES)
    closes = [100, 100, 97, 97, 97, 97, 97]  # stopped out at 23:57 (-0.5% of equity)
    probs = [LONG, HOLD_LONG, FLAT, FLAT, LONG, HOLD_LONG, HOLD_LONG]  # LONG at 23:59
    m = bars_from(closes, probs, cfg, lows=closes, start="2024-01-07 23:55")
    trades = simulate(m, cfg)
    assert trades == reference_trades(m, cfg)
    assert [t["entry_bar"] for t in trades] == [1, 5]


def expected_guard(trades: list[dict], m, cfg: StrategyConfig) -> list[tuple[bool, bool]]:
    """(halved, halted) for each trade's fill, recomputed from the trade log alone: the day /
    week of the fill, its peak from the equity carried into it, every earlier exit in it."""
    out = []
    for k, trade in enumerate(trades):
        states = []
        for period, limit in ((1, cfg.daily_drawdown_halve), (7, cfg.weekly_drawdown_stop)):

            def key(ns, period=period):
                return ns // DAY_NS if period == 1 else (ns // DAY_NS + 3) // 7

            now = key(m.times[trade["entry_bar"]])
            peak, breached = cfg.initial_equity, False
            for earlier in trades[:k]:
                if key(m.times[earlier["exit_bar"]]) < now:
                    peak = earlier["equity_after"]  # carried into the period
                else:
                    peak = max(peak, earlier["equity_after"])
                    breached |= earlier["equity_after"] < peak * (1 - limit)
            states.append(breached)
        out.append(tuple(states))
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 100_000),
    n=st.integers(50, 1200),
    step=st.sampled_from(["1min", "7min", "29min"]),
    start=st.sampled_from(["2024-01-07 20:00", "2024-01-03 22:30"]),
    daily=st.sampled_from([0.001, 0.003]),
    weekly=st.sampled_from([0.002, 0.006]),
)
def test_every_fill_obeys_the_guard_of_its_own_day_and_week(seed, n, step, start, daily, weekly):
    cfg = StrategyConfig(
        sizing="fixed", daily_drawdown_halve=daily, weekly_drawdown_stop=weekly, max_hold_minutes=60
    )
    rng = np.random.default_rng(seed)
    closes = 100 * np.exp(np.cumsum(rng.normal(0, 0.004, n)))
    opens = closes * np.exp(rng.normal(0, 0.003, n))
    highs = np.maximum(opens, closes) * (1 + rng.exponential(0.002, n))
    lows = np.minimum(opens, closes) * (1 - rng.exponential(0.002, n))
    probs = rng.dirichlet([0.4, 0.4, 0.4], n)
    times = pd.date_range(start, periods=n, freq=step, tz="UTC")
    m = make_bars(times, opens, highs, lows, closes, np.full(n, 0.5), probs, cfg)
    trades = simulate(m, cfg)
    assert trades == reference_trades(m, cfg)
    for trade, (halved, halted) in zip(trades, expected_guard(trades, m, cfg), strict=True):
        assert not halted, f"a position opened in a halted week: {trade}"
        size = cfg.fixed_fraction * (0.5 if halved else 1.0)
        assert trade["notional"] == pytest.approx(trade["equity_before"] * size)
