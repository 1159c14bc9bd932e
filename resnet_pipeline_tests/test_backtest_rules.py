"""Each SPEC 9 rule fires on a constructed price path exactly when it should, and the engine
equals the tests' bar-by-bar reference loop, trade for trade and bar for bar of equity, on
random paths."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resnet_pipeline.trading.bars import make_bars
from resnet_pipeline.trading.exit_search import first_flag_from
from resnet_pipeline.trading.simulate import run_backtest, simulate
from resnet_pipeline.trading.strategy import StrategyConfig, decide
from resnet_pipeline_tests._backtest_helpers import (
    FLAT,
    HOLD_LONG,
    LONG,
    NO_COSTS,
    SHORT,
    bars_from,
)
from resnet_pipeline_tests._reference_backtest import reference_equity, reference_trades


def only_trade(m, cfg):
    trades = simulate(m, cfg)
    assert trades == reference_trades(m, cfg)  # every constructed case holds for the reference too
    assert len(trades) >= 1
    return trades[0], trades


def test_fixed_stop_fires_inside_the_bar_at_its_level():
    cfg = StrategyConfig(stop="fixed", take_profit=None, **NO_COSTS)
    closes = [100, 100, 100, 99, 99]
    lows = [100, 100, 99.5, 97.9, 99]  # bar 3 dips below 98 = 100 * (1 - 2%)
    m = bars_from(closes, [LONG] + [HOLD_LONG] * 4, cfg, lows=lows)
    trade, _ = only_trade(m, cfg)
    assert (trade["entry_bar"], trade["exit_bar"], trade["reason"]) == (1, 3, "stop")
    assert trade["entry_price"] == 100 and trade["exit_price"] == pytest.approx(98.0)


def test_gap_through_the_stop_fills_at_the_open():
    cfg = StrategyConfig(stop="fixed", take_profit=None, **NO_COSTS)
    m = bars_from(
        [100, 100, 100, 95, 95],
        [LONG] + [HOLD_LONG] * 4,
        cfg,
        opens=[100, 100, 100, 96, 95],
        lows=[100, 100, 100, 94, 95],
    )
    trade, _ = only_trade(m, cfg)
    assert trade["reason"] == "stop" and trade["exit_price"] == 96.0


def test_take_profit_and_stop_in_one_bar_assumes_the_stop():
    cfg = StrategyConfig(stop="fixed", take_profit=0.03, **NO_COSTS)
    m = bars_from(
        [100, 100, 100, 100],
        [LONG] + [HOLD_LONG] * 3,
        cfg,
        highs=[100, 100, 104, 100],
        lows=[100, 100, 97, 100],
    )
    trade, _ = only_trade(m, cfg)
    assert trade["reason"] == "stop" and trade["exit_bar"] == 2


def test_take_profit_fires_at_plus_three_percent():
    cfg = StrategyConfig(stop="fixed", take_profit=0.03, **NO_COSTS)
    m = bars_from(
        [100, 100, 101, 102, 103.5],
        [LONG] + [HOLD_LONG] * 4,
        cfg,
        highs=[100, 100, 101, 102.9, 103.5],
    )
    trade, _ = only_trade(m, cfg)
    assert (trade["reason"], trade["exit_bar"]) == ("take_profit", 4)
    assert trade["exit_price"] == pytest.approx(103.0)


def test_atr_stop_is_two_atr_below_entry():
    cfg = StrategyConfig(stop="atr", take_profit=None, **NO_COSTS)
    m = bars_from(
        [100] * 6, [LONG] + [HOLD_LONG] * 5, cfg, lows=[100, 100, 99, 98.1, 97.9, 100], atr=1.0
    )
    trade, _ = only_trade(m, cfg)
    assert (trade["reason"], trade["exit_bar"], trade["exit_price"]) == ("stop", 4, 98.0)


def test_trailing_stop_follows_the_peak_of_earlier_bars():
    cfg = StrategyConfig(stop="trailing", take_profit=None, **NO_COSTS)
    highs = [100, 100, 103, 105, 104, 104]
    lows = [100, 100, 100, 103.6, 103.4, 100]
    m = bars_from(
        [100, 100, 102, 104, 104, 101],
        [LONG] + [HOLD_LONG] * 5,
        cfg,
        highs=highs,
        lows=lows,
        atr=1.0,
    )
    trade, _ = only_trade(m, cfg)
    # peak 105 after bar 3 -> level 103.5; bar 3 itself (low 103.6) used the level from 103
    assert (trade["reason"], trade["exit_bar"]) == ("trailing_stop", 4)
    assert trade["exit_price"] == pytest.approx(103.5)


def test_short_positions_mirror_the_rules():
    cfg = StrategyConfig(stop="fixed", take_profit=0.03, **NO_COSTS)
    m = bars_from(
        [100, 100, 99, 96.5], [SHORT] + [(0.6, 0.2, 0.2)] * 3, cfg, lows=[100, 100, 99, 96.9]
    )
    trade, _ = only_trade(m, cfg)
    assert (trade["side"], trade["reason"]) == (-1, "take_profit")
    assert trade["exit_price"] == pytest.approx(97.0) and trade["pnl"] > 0


def test_reversal_exits_at_the_next_open_and_enters_the_other_side():
    cfg = StrategyConfig(take_profit=None, **NO_COSTS)
    m = bars_from(
        [100, 100, 100, 100, 100, 100],
        [LONG, HOLD_LONG, SHORT, (0.6, 0.2, 0.2), None, None],
        cfg,
        opens=[100, 100, 100, 100.5, 100, 100],
    )
    first, trades = only_trade(m, cfg)
    assert (first["reason"], first["exit_bar"], first["exit_price"]) == ("reversal", 3, 100.5)
    assert trades[1]["side"] == -1 and trades[1]["entry_bar"] == 3


def test_low_confidence_exits():
    cfg = StrategyConfig(take_profit=None, **NO_COSTS)
    m = bars_from([100] * 5, [LONG, HOLD_LONG, (0.3, 0.3, 0.4), FLAT, FLAT], cfg)
    trade, _ = only_trade(m, cfg)
    assert (trade["reason"], trade["exit_bar"]) == ("low_confidence", 3)


def test_time_exit_after_twelve_hours():
    cfg = StrategyConfig(take_profit=None, stop="fixed", **NO_COSTS)
    n = 800
    m = bars_from([100.0] * n, [LONG] + [HOLD_LONG] * (n - 1), cfg)
    trade, _ = only_trade(m, cfg)
    assert trade["reason"] == "time"
    assert trade["exit_bar"] - trade["entry_bar"] == 720


def test_end_of_data_closes_at_the_last_close():
    cfg = StrategyConfig(take_profit=None, **NO_COSTS)
    m = bars_from([100, 100, 101, 102], [LONG] + [HOLD_LONG] * 3, cfg)
    trade, _ = only_trade(m, cfg)
    assert (trade["reason"], trade["exit_bar"], trade["exit_price"]) == ("end", 3, 102.0)


def test_a_still_open_trade_pays_slippage_and_its_exit_fee_at_the_last_close():
    cfg = StrategyConfig(take_profit=None, fee_rate=0.001, slippage_bps=10)
    m = bars_from([100, 100, 101, 102], [LONG] + [HOLD_LONG] * 3, cfg)
    trade, _ = only_trade(m, cfg)
    assert (trade["reason"], trade["exit_price"]) == ("end", pytest.approx(102 * 0.999))
    exit_fee = trade["qty"] * 102 * 0.999 * 0.001
    assert trade["fees"] == pytest.approx(trade["entry_fee"] + exit_fee)
    assert run_backtest(m, cfg).equity.iloc[-1] == pytest.approx(trade["equity_after"])


def test_fees_and_slippage_cost_exactly_what_they_say():
    free = StrategyConfig(take_profit=None, **NO_COSTS)
    paid = StrategyConfig(take_profit=None, fee_rate=0.001, slippage_bps=10)
    args = ([100, 100, 101, 102], [LONG] + [HOLD_LONG] * 3)
    t0, _ = only_trade(bars_from(*args, free), free)
    t1, _ = only_trade(bars_from(*args, paid), paid)
    assert t0["notional"] == pytest.approx(10_000 * 0.25)  # Kelly: 0.8 - 0.5 capped at 0.25
    entry, exit_ = 100 * 1.001, 102 * 0.999
    qty = 2500 / entry
    expected = qty * (exit_ - entry) - 2500 * 0.001 - qty * exit_ * 0.001
    assert t1["pnl"] == pytest.approx(expected)
    assert t0["pnl"] == pytest.approx(2500 * 0.02)


def test_daily_drawdown_halves_later_sizes_that_day():
    cfg = StrategyConfig(
        stop="fixed", take_profit=None, exit_confidence=None, daily_drawdown_halve=0.003, **NO_COSTS
    )
    # trade 1 loses 2% of a 25% position = 0.5% of equity (> 0.3%): trade 2 is half size
    closes = [100, 100, 100, 97, 97, 97, 97]
    lows = [100, 100, 100, 97, 97, 97, 97]
    probs = [LONG, HOLD_LONG, HOLD_LONG, FLAT, LONG, HOLD_LONG, HOLD_LONG]
    m = bars_from(closes, probs, cfg, lows=lows)
    _, trades = only_trade(m, cfg)
    assert trades[0]["reason"] == "stop"
    assert trades[1]["notional"] == pytest.approx(trades[1]["equity_before"] * 0.25 / 2)
    next_day = bars_from(closes, probs, cfg, lows=lows, start="2024-01-01 23:56")
    _, reset = only_trade(next_day, cfg)  # the second decision falls on the next UTC day
    assert reset[1]["notional"] == pytest.approx(reset[1]["equity_before"] * 0.25)


def test_weekly_drawdown_stops_trading_until_next_week():
    cfg = StrategyConfig(
        stop="fixed", take_profit=None, exit_confidence=None, weekly_drawdown_stop=0.004, **NO_COSTS
    )
    closes = [100, 100, 100, 97, 97, 97, 97]
    lows = [100, 100, 100, 97, 97, 97, 97]
    probs = [LONG, HOLD_LONG, HOLD_LONG, FLAT, LONG, HOLD_LONG, HOLD_LONG]
    _, trades = only_trade(bars_from(closes, probs, cfg, lows=lows), cfg)
    assert len(trades) == 1  # -0.5% of equity > 0.4%: no new trade that week
    # the loss is realized Sunday 23:59; the next decision (Monday 00:00) is a new ISO week
    _, monday = only_trade(bars_from(closes, probs, cfg, lows=lows, start="2024-01-07 23:56"), cfg)
    assert len(monday) == 2


def test_no_look_ahead_future_bars_change_nothing_before():
    cfg = StrategyConfig()
    rng = np.random.default_rng(4)
    n = 3000
    closes = 100 * np.exp(np.cumsum(rng.normal(0, 0.002, n)))
    probs = rng.dirichlet([1, 1, 1], n)
    base = simulate(bars_from(closes, probs, cfg, highs=closes * 1.001, lows=closes * 0.999), cfg)
    cut = 1500
    changed_closes = closes.copy()
    changed_closes[cut + 1 :] *= 1.5
    changed_probs = probs.copy()
    changed_probs[cut + 1 :] = rng.dirichlet([1, 1, 1], n - cut - 1)
    other = simulate(
        bars_from(
            changed_closes,
            changed_probs,
            cfg,
            highs=changed_closes * 1.001,
            lows=changed_closes * 0.999,
        ),
        cfg,
    )
    done_before = [t for t in base if t["exit_bar"] <= cut]
    assert done_before == other[: len(done_before)]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 100_000),
    n=st.integers(50, 1500),
    stop=st.sampled_from(["fixed", "atr", "trailing"]),
    sizing=st.sampled_from(["kelly", "fixed"]),
    take_profit=st.sampled_from([None, 0.005, 0.03]),
    exit_confidence=st.sampled_from([None, 0.5]),
    reversal=st.booleans(),
    hold=st.sampled_from([5, 60, 720]),
    daily=st.sampled_from([0.001, 0.03]),
    weekly=st.sampled_from([0.002, 0.10]),
    step=st.sampled_from(["1min", "7min"]),
    borrow=st.sampled_from([0.0, 0.001]),
)
def test_engine_equals_the_reference_loop(
    seed, n, stop, sizing, take_profit, exit_confidence, reversal, hold, daily, weekly, step, borrow
):
    cfg = StrategyConfig(
        stop=stop,
        sizing=sizing,
        take_profit=take_profit,
        exit_confidence=exit_confidence,
        exit_on_reversal=reversal,
        max_hold_minutes=hold,
        daily_drawdown_halve=daily,
        weekly_drawdown_stop=weekly,
        borrow_fee_per_day=borrow,
    )
    rng = np.random.default_rng(seed)
    closes = 100 * np.exp(np.cumsum(rng.normal(0, 0.004, n)))
    opens = closes * np.exp(rng.normal(0, 0.002, n))
    highs = np.maximum(opens, closes) * (1 + rng.exponential(0.002, n))
    lows = np.minimum(opens, closes) * (1 - rng.exponential(0.002, n))
    probs = rng.dirichlet([0.5, 0.5, 0.5], n)
    probs[rng.random(n) < 0.05] = np.nan  # bars without a prediction
    times = pd.date_range("2024-01-05 20:00", periods=n, freq=step, tz="UTC")
    m = make_bars(times, opens, highs, lows, closes, np.abs(rng.normal(0.5, 0.2, n)), probs, cfg)
    trades = simulate(m, cfg)
    assert trades == reference_trades(m, cfg)
    equity = run_backtest(m, cfg).equity
    assert np.array_equal(equity.to_numpy(), reference_equity(m, trades, cfg.initial_equity))
    assert equity.index.equals(pd.to_datetime(m.times, utc=True))


@settings(max_examples=50, deadline=None)
@given(flags=st.lists(st.booleans(), max_size=40))
def test_first_flag_from_points_at_the_next_flag(flags):
    flags = np.array(flags, bool)
    n = len(flags)
    expected = [next((j for j in range(i, n) if flags[j]), n) for i in range(n)]
    assert first_flag_from(flags).tolist() == expected


def test_equity_curve_marks_positions_and_ends_at_realized_equity():
    cfg = StrategyConfig(take_profit=None, **NO_COSTS)
    m = bars_from([100, 100, 101, 102, 102], [LONG] + [HOLD_LONG] * 2 + [FLAT, FLAT], cfg)
    result = run_backtest(m, cfg)
    qty = 2500 / 100
    assert list(result.equity.round(6)) == [
        10_000,
        10_000,
        10_000 + qty,
        10_000 + 2 * qty,
        result.trades["equity_after"].iloc[-1],
    ]
    assert result.exposure == pytest.approx(3 / 5)


def test_decide_is_the_seed_predict():
    assert decide(np.array(LONG)).signal == "LONG"
    assert decide(np.array(SHORT)).signal == "SHORT"
    d = decide(np.array([0.2, 0.5, 0.3]))
    assert (d.signal, d.size_fraction) == ("NEUTRAL", 0.0)
    assert decide(np.array([0.05, 0.05, 0.9])).size_fraction == 0.25  # capped
    assert decide(np.array([0.1, 0.2, 0.7])).size_fraction == pytest.approx(0.2)
    assert decide(np.array(LONG), StrategyConfig(sizing="fixed")).size_fraction == 0.1


def test_bad_strategy_configs_fail():
    with pytest.raises(ValueError, match="stop"):
        StrategyConfig(stop="chandelier")
    with pytest.raises(ValueError, match="fee_rate"):
        StrategyConfig(fee_rate=-0.001)


@pytest.mark.parametrize(
    "sizes", [{"fixed_fraction": 0.0}, {"fixed_fraction": 1.5}, {"kelly_cap": -0.1}]
)
def test_a_position_size_outside_the_equity_is_refused(sizes):
    (field,) = sizes
    refusal = (
        rf"{field}=.*: use a finite number in \(0, 1\].*share of equity, e\.g\. fixed_fraction="
    )
    with pytest.raises(ValueError, match=refusal):
        StrategyConfig(**sizes)
    assert StrategyConfig(sizing="fixed", fixed_fraction=1.0).fixed_fraction == 1.0
