"""The verdict that counts every trial: noise is "no edge" even when its best variant's naive
interval excludes zero; a planted edge survives; every failed condition is named."""

import json

import numpy as np
import pandas as pd
import pytest

from resnet_pipeline.ml.evaluation.bootstrap import sharpe_intervals
from resnet_pipeline.ml.trial_statistics.returns_matrix import TrialReturnsError
from resnet_pipeline.ml.trial_statistics.trial_verdict import trial_verdict
from resnet_pipeline.number_format import beside


def _market(seed: int, days: int, variants: int = 24, planted: float = 0.0):
    """Daily returns of ``variants`` skill-less variants (one with ``planted`` added to its
    mean) and of two benchmarks, on the same UTC days."""
    index = pd.date_range("2024-01-01", periods=days, freq="D", tz="UTC")
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(0, 0.01, (days, variants)), index=index)
    frame.columns = [f"v{i}" for i in range(variants)]
    frame["v1"] += planted
    benchmarks = {
        "buy-and-hold": pd.Series(rng.normal(0, 0.01, days), index=index),
        "best baseline": pd.Series(rng.normal(0, 0.01, days), index=index),
    }
    return frame, benchmarks


def _trades(frame: pd.DataFrame, per_day: int = 1) -> dict[str, int]:
    """Trades of variants that trade ``per_day`` times a day (their returns are never 0)."""
    return {c: per_day * len(frame) for c in frame.columns}


def test_noise_whose_best_naive_interval_excludes_zero_has_no_edge():
    frame, benchmarks = _market(seed=4, days=365)
    verdict = trial_verdict(frame, benchmarks, _trades(frame))
    best = verdict.deflated_sharpe.best_variant
    naive = sharpe_intervals(frame[best].to_numpy(), n_boot=1000, seed=0)["sharpe"]
    assert naive["low"] > 0  # taken alone, the best of 24 looks like an edge
    assert not verdict.edge
    assert verdict.line.startswith("no edge after 24 trials: deflated Sharpe ")
    assert verdict.n_trials == 24


def test_a_planted_edge_survives_the_count_of_trials():
    frame, benchmarks = _market(seed=0, days=730, planted=0.003)
    verdict = trial_verdict(frame, benchmarks, _trades(frame))
    assert verdict.edge and verdict.reasons == ()
    assert verdict.line == (
        "edge after 24 trials at 95%: v1 beats buy-and-hold and best baseline "
        "(730 trades on 730 days)"
    )
    assert verdict.deflated_sharpe.best_variant == "v1"
    assert [spa.benchmark for spa in verdict.predictive_ability] == list(benchmarks)


def test_every_failed_condition_is_named_with_its_value():
    frame, benchmarks = _market(seed=0, days=365)
    verdict = trial_verdict(frame, benchmarks, _trades(frame))
    dsr, pbo = verdict.deflated_sharpe.value, verdict.overfitting.pbo
    spa = {s.benchmark: s.consistent for s in verdict.predictive_ability}
    assert dsr < 0.95 and pbo >= 0.5 and min(spa.values()) >= 0.05
    assert verdict.reasons == (
        f"deflated Sharpe {dsr:.3g} < 0.95",
        f"PBO {pbo:.3g} >= 0.5",
        f"SPA p = {spa['buy-and-hold']:.3g} vs buy-and-hold >= 0.05",
        f"SPA p = {spa['best baseline']:.3g} vs best baseline >= 0.05",
    )
    best = verdict.deflated_sharpe.best_variant
    assert verdict.line == (
        "no edge after 24 trials: "
        + "; ".join(verdict.reasons)
        + f" ({best}: 365 trades on 365 days)"
    )


def test_one_failing_benchmark_is_enough_to_deny_the_edge():
    frame, benchmarks = _market(seed=0, days=730, planted=0.003)
    benchmarks["best baseline"] = frame["v1"] + 0.001  # a baseline better than every variant
    verdict = trial_verdict(frame, benchmarks, _trades(frame))
    assert not verdict.edge
    assert len(verdict.reasons) == 1
    assert verdict.reasons[0].startswith("SPA p = ")
    assert verdict.reasons[0].endswith(" vs best baseline >= 0.05")


def test_undefined_pieces_say_why():
    frame, benchmarks = _market(seed=1, days=20, variants=3, planted=0.01)
    verdict = trial_verdict(frame, benchmarks, _trades(frame, per_day=2))
    assert not verdict.edge
    assert "PBO undefined: 20 days, need at least S = 16 blocks of 2 days (32 days)" in verdict.line
    assert verdict.line.startswith("no edge after 3 trials: ")
    json.dumps(verdict.to_dict())


def test_a_failed_value_is_never_printed_as_its_threshold():
    assert beside(0.41234, 0.95) == "0.412"
    assert beside(0.94996, 0.95) == "0.94996"
    assert beside(0.0500004, 0.05) == "0.0500004"
    assert beside(0.5, 0.5) == "0.5"


def test_returns_that_cannot_be_compared_day_by_day_are_refused():
    frame, benchmarks = _market(seed=2, days=60, variants=3)
    with pytest.raises(TrialReturnsError, match="no benchmark given"):
        trial_verdict(frame, {}, _trades(frame))
    holes = frame.copy()
    holes.iloc[5, 1] = np.nan
    with pytest.raises(TrialReturnsError, match="variant 'v1' on 2024-01-06"):
        trial_verdict(holes, benchmarks, _trades(holes))
    with pytest.raises(TrialReturnsError, match="unique and increasing"):
        trial_verdict(frame.iloc[::-1], benchmarks, _trades(frame))
    with pytest.raises(TrialReturnsError, match="not on the variants' days"):
        trial_verdict(frame.iloc[1:], benchmarks, _trades(frame))
    with pytest.raises(TrialReturnsError, match="repeat"):
        trial_verdict(frame.set_axis(["a", "a", "b"], axis=1), benchmarks, _trades(frame))


def test_trials_without_comparable_returns_still_raise_the_bar():
    frame, benchmarks = _market(seed=0, days=730, planted=0.003)
    columns = trial_verdict(frame, benchmarks, _trades(frame))
    more = trial_verdict(frame, benchmarks, _trades(frame), n_trials=200)
    assert more.n_trials == 200 and more.line.startswith("edge after 200 trials")
    dsr = more.deflated_sharpe
    assert dsr.expected_max_sharpe > columns.deflated_sharpe.expected_max_sharpe
    assert dsr.value < columns.deflated_sharpe.value
    assert more.overfitting.pbo == columns.overfitting.pbo  # PBO ranks the columns only
    with pytest.raises(ValueError, match="n_trials=3 is below the 24 trials"):
        trial_verdict(frame, benchmarks, _trades(frame), n_trials=3)
