"""What an "edge" must rest on: enough trades on enough days, and the best trial among those
Romano-Wolf's StepM finds better than each benchmark, not merely "some trial" by the SPA."""

import numpy as np
import pandas as pd
import pytest

from resnet_pipeline.ml.trial_statistics.returns_matrix import TrialReturnsError, returns_matrix
from resnet_pipeline.ml.trial_statistics.trade_evidence import trade_evidence
from resnet_pipeline.ml.trial_statistics.trial_verdict import trial_verdict
from resnet_pipeline.reports.experiment_page import verdict_headline

SPARSE = pd.date_range("2024-01-01", periods=61, freq="D", tz="UTC")
YEAR = pd.date_range("2024-01-01", periods=365, freq="D", tz="UTC")


def _five_winning_days() -> tuple[pd.DataFrame, dict[str, pd.Series], dict[str, int]]:
    """The issue's case: two trials that each win on the same five days of 61 and never lose,
    one trade a winning day; buy-and-hold falls, the best baseline stays out."""
    frame = pd.DataFrame(0.0, index=SPARSE, columns=["window-48", "plain"])
    wins = [13, 25, 37, 48, 58]
    frame.iloc[wins, 0] = 0.01
    frame.iloc[wins, 1] = [0.0055, 0.0045, 0.005, 0.006, 0.004]
    rng = np.random.default_rng(0)
    falling = np.linspace(0, -0.001, len(SPARSE)) - 0.002 + rng.normal(0, 0.01, len(SPARSE))
    benchmarks = {
        "buy-and-hold": pd.Series(falling, index=SPARSE),
        "best baseline": pd.Series(0.0, index=SPARSE),
    }
    return frame, benchmarks, {"window-48": 5, "plain": 5}


def test_five_winning_days_of_61_are_too_few_trades_to_judge():
    frame, benchmarks, trades = _five_winning_days()
    verdict = trial_verdict(frame, benchmarks, trades)
    assert not verdict.edge
    assert verdict.line == (
        "too few trades to judge (5 trades on 5 days) after 2 trials: an edge needs at least "
        "30 trades on at least 10 days from window-48"
    )
    # the statistics alone would have called it an edge: the floor is what stops it
    unfloored = trial_verdict(frame, benchmarks, trades, min_trades=1, min_active_days=1)
    assert unfloored.edge and unfloored.line.startswith("edge after 2 trials at 95%: window-48")
    assert unfloored.line.endswith("(5 trades on 5 days)")
    assert verdict.evidence.to_dict() == {
        "trial": "window-48",
        "trades": 5,
        "active_days": 5,
        "min_trades": 30,
        "min_active_days": 10,
        "enough": False,
    }


def test_the_floor_needs_both_trades_and_days():
    frame, benchmarks, _ = _five_winning_days()
    many_trades = {"window-48": 400, "plain": 400}  # 400 trades, still on 5 days
    verdict = trial_verdict(frame, benchmarks, many_trades)
    assert verdict.line.startswith("too few trades to judge (400 trades on 5 days)")
    matrix = returns_matrix(frame)
    assert trade_evidence(matrix, "window-48", many_trades, 30, 5).enough
    assert not trade_evidence(matrix, "window-48", many_trades, 401, 5).enough
    with pytest.raises(TrialReturnsError, match=r"no trade count for \['plain'\]"):
        trial_verdict(frame, benchmarks, {"window-48": 5})
    with pytest.raises(ValueError, match="the floor needs at least 1 of each"):
        trade_evidence(matrix, "window-48", many_trades, 0, 10)


def _best_not_among_the_winners() -> tuple[pd.DataFrame, dict[str, pd.Series], dict[str, int]]:
    """The best-Sharpe trial (steady, uncorrelated with the market) does not clearly beat
    buy-and-hold; a trial that follows the market a little ahead of it does (t about 9)."""
    rng = np.random.default_rng(11)
    market = rng.normal(0, 0.01, len(YEAR))
    frame = pd.DataFrame(
        {
            "steady": rng.normal(0.0003, 0.002, len(YEAR)),
            "follower": market + 0.0005 + rng.normal(0, 0.001, len(YEAR)),
        },
        index=YEAR,
    )
    benchmarks = {
        "buy-and-hold": pd.Series(market, index=YEAR),
        "best baseline": pd.Series(0.0, index=YEAR),
    }
    return frame, benchmarks, {"steady": 365, "follower": 365}


def test_the_best_trial_outside_stepms_set_is_not_called_an_edge():
    frame, benchmarks, trades = _best_not_among_the_winners()
    verdict = trial_verdict(frame, benchmarks, trades)
    spa = {s.benchmark: s.consistent for s in verdict.predictive_ability}
    step = {s.benchmark: s.better for s in verdict.stepwise}
    assert verdict.deflated_sharpe.best_variant == "steady"
    assert spa["buy-and-hold"] < 0.05  # some trial beats buy-and-hold ...
    assert step["buy-and-hold"] == ("follower",)  # ... but not the best one
    assert "steady" in step["best baseline"]
    assert not verdict.edge
    assert verdict.reasons == (
        "steady is not among the trials that beat buy-and-hold at 5% by StepM (it keeps follower)",
    )
    assert verdict.line == (
        "no edge after 2 trials: steady is not among the trials that beat buy-and-hold at 5% "
        "by StepM (it keeps follower) (steady: 365 trades on 365 days)"
    )
    assert verdict.to_dict()["stepwise"][0]["better"] == ["follower"]


def test_the_headline_says_which_trials_stepm_keeps():
    frame, benchmarks, trades = _best_not_among_the_winners()
    headline = verdict_headline(trial_verdict(frame, benchmarks, trades).to_dict())
    lines = {c.subject: c.line for c in headline.conditions}
    assert lines["StepM vs buy-and-hold"] == (
        "StepM vs buy-and-hold: no different (steady is not among the trials that beat it at "
        "5%; StepM keeps follower)"
    )
    assert lines["StepM vs best baseline"].startswith(
        "StepM vs best baseline: better (steady is among the trials that beat it at 5%: "
    )
    assert not headline.edge
    frame, benchmarks, trades = _five_winning_days()
    floored = verdict_headline(trial_verdict(frame, benchmarks, trades).to_dict())
    assert not floored.edge  # every statistic passes; the trades do not
    assert [c.word for c in floored.conditions if c.word != "better"] == ["too few trades to judge"]
