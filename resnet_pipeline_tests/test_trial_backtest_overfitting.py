"""The probability of backtest overfitting by CSCV (Bailey, Borwein, López de Prado & Zhu 2017)
against a brute-force loop, and its invariants."""

import itertools
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from resnet_pipeline.ml.trial_statistics.backtest_overfitting import (
    probability_of_backtest_overfitting,
)


def _brute_force_logits(values: np.ndarray, blocks: int) -> list[float]:
    """The paper's procedure written as a plain loop over every halving."""
    block_days = len(values) // blocks
    kept = values[len(values) - blocks * block_days :]
    pieces = [kept[b * block_days : (b + 1) * block_days] for b in range(blocks)]
    n = values.shape[1]
    logits = []
    for picked in itertools.combinations(range(blocks), blocks // 2):
        inside = np.concatenate([pieces[b] for b in picked])
        outside = np.concatenate([pieces[b] for b in range(blocks) if b not in picked])
        in_sharpe = inside.mean(0) / inside.std(0, ddof=1)
        out_sharpe = outside.mean(0) / outside.std(0, ddof=1)
        best = int(np.argmax(in_sharpe))
        rank = stats.rankdata(out_sharpe)[best]
        w = rank / (n + 1)
        logits.append(math.log(w / (1 - w)))
    return logits


@pytest.mark.parametrize("days,blocks", [(12, 4), (14, 4), (30, 6)])
def test_equals_a_brute_force_loop_over_the_halvings(days, blocks):
    values = np.random.default_rng(days).normal(0, 0.01, (days, 4))
    result = probability_of_backtest_overfitting(values, blocks)
    expected = _brute_force_logits(values, blocks)
    assert result.logits == pytest.approx(expected, abs=1e-9)
    assert result.pbo == pytest.approx(np.mean(np.array(expected) <= 0))
    assert result.halvings == math.comb(blocks, blocks // 2)
    assert result.dropped_days == days % blocks
    assert result.block_days == days // blocks


def test_a_dominant_variant_is_never_overfit():
    values = np.random.default_rng(0).normal(0, 0.01, (365, 30))
    values[:, 11] += 0.01
    result = probability_of_backtest_overfitting(values)
    assert result.pbo == 0.0
    assert result.to_dict()["degradation"]["probability_of_loss"] == 0.0


def test_pure_noise_is_overfit_about_half_the_time():
    pbos = [
        probability_of_backtest_overfitting(
            np.random.default_rng(seed).normal(0, 0.01, (96, 10)), blocks=8
        ).pbo
        for seed in range(40)
    ]
    assert 0.38 < np.mean(pbos) < 0.62


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    variants=st.integers(2, 8),
    blocks=st.sampled_from([2, 4, 6, 8]),
    extra=st.integers(0, 40),
    data=st.data(),
)
def test_pbo_is_a_share_and_ignores_the_order_of_variants(seed, variants, blocks, extra, data):
    days = 2 * blocks + extra
    values = np.random.default_rng(seed).normal(0.0002, 0.01, (days, variants))
    order = data.draw(st.permutations(range(variants)))
    result = probability_of_backtest_overfitting(values, blocks)
    shuffled = probability_of_backtest_overfitting(values[:, order], blocks)
    assert 0.0 <= result.pbo <= 1.0
    assert shuffled.pbo == result.pbo
    assert shuffled.logits == pytest.approx(result.logits)
    assert result.dropped_days == days % blocks


def test_flat_variants_rank_without_nan():
    values = np.random.default_rng(5).normal(0, 0.01, (64, 5))
    values[:, 2] = 0.0
    values[:, 3] = 0.0
    result = probability_of_backtest_overfitting(values, blocks=8)
    assert np.isfinite(result.logits).all()
    assert 0.0 <= result.pbo <= 1.0


def test_too_few_days_or_variants_is_undefined_with_the_reason():
    short = probability_of_backtest_overfitting(np.random.default_rng(1).normal(0, 1, (20, 3)))
    assert short.pbo is None
    assert short.reason.startswith("20 days, need at least S = 16 blocks of 2 days")
    alone = probability_of_backtest_overfitting(np.random.default_rng(0).normal(0, 1, (64, 1)))
    assert alone.pbo is None and "at least 2" in alone.reason
    assert json.dumps(short.to_dict())


@pytest.mark.parametrize("blocks", [0, 3, 22])
def test_block_counts_outside_the_rule_are_refused(blocks):
    with pytest.raises(ValueError, match="even number of blocks"):
        probability_of_backtest_overfitting(np.zeros((100, 3)), blocks)


def test_summary_is_plain_json():
    values = np.random.default_rng(6).normal(0, 0.01, (200, 6))
    summary = probability_of_backtest_overfitting(values).to_dict()
    assert json.loads(json.dumps(summary))["halvings"] == 12870
    assert summary["logit"]["q05"] <= summary["logit"]["median"] <= summary["logit"]["q95"]
