"""Temperature scaling and the expected calibration error (SPEC 14, Guo et al. 2017)."""

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.base import clone

from resnet_pipeline.ml.evaluation.calibration import (
    TEMPERATURE_BOUNDS,
    TemperatureScaling,
    calibrate_probabilities,
    expected_calibration_error,
    log_loss_at,
    logits_from_probabilities,
)


def _calibrated_draws(seed: int, n: int = 20_000, k: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Logits z of a decent classifier and labels drawn from softmax(z): calibrated by
    construction."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 1.5, size=(n, k))
    p = TemperatureScaling.at(1.0).predict_proba(z)
    labels = (rng.random(n)[:, None] > np.cumsum(p, axis=1)).sum(axis=1)
    return z, labels


def test_temperature_scaling_repairs_an_over_confident_model():
    z, labels = _calibrated_draws(seed=1)
    over_confident = 5.0 * z
    t = TemperatureScaling().fit(over_confident, labels).temperature_
    assert 4.5 < t < 5.5
    assert log_loss_at(over_confident, labels, t) < log_loss_at(over_confident, labels) - 0.3
    calibrated = TemperatureScaling.at(t).predict_proba(over_confident)
    assert np.array_equal(calibrated.argmax(axis=1), over_confident.argmax(axis=1))


def test_a_calibrated_model_keeps_a_temperature_near_one():
    z, labels = _calibrated_draws(seed=2)
    assert 0.93 < TemperatureScaling().fit(z, labels).temperature_ < 1.07


def test_the_fit_is_the_minimum_of_the_log_loss():
    z, labels = _calibrated_draws(seed=3, n=3_000)
    z = 2.0 * z
    t = TemperatureScaling().fit(z, labels).temperature_
    best = log_loss_at(z, labels, t)
    for factor in (0.9, 0.97, 1.03, 1.1):
        assert best <= log_loss_at(z, labels, t * factor)


def test_stored_probabilities_recalibrate_like_their_logits():
    """softmax is shift-invariant: log(p) are logits of p, so a temperature fitted on stored
    probabilities equals the one fitted on the model's logits, and recalibrating the stored
    probabilities gives the same result as scaling the logits."""
    z, labels = _calibrated_draws(seed=4, n=4_000)
    z = np.clip(3.0 * z, -6.0, 6.0)  # no probability below the floor of log(p)
    stored = TemperatureScaling.at(1.0).predict_proba(z)
    t_logits = TemperatureScaling().fit(z, labels).temperature_
    t_stored = TemperatureScaling().fit(logits_from_probabilities(stored), labels).temperature_
    assert t_stored == pytest.approx(t_logits, rel=1e-4)
    assert np.allclose(
        calibrate_probabilities(stored, t_logits), TemperatureScaling.at(t_logits).predict_proba(z)
    )
    assert np.allclose(calibrate_probabilities(stored, 1.0), stored)


def test_a_perfectly_separated_split_sharpens_within_the_bounds():
    z = np.array([[3.0, 0.0, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 3.0]])
    t = TemperatureScaling().fit(z, np.array([0, 1, 2])).temperature_
    assert TEMPERATURE_BOUNDS[0] <= t < 0.2
    assert log_loss_at(z, np.array([0, 1, 2]), t) < 1e-6


def test_uninformative_logits_keep_temperature_one():
    assert TemperatureScaling().fit(np.ones((5, 3)), np.array([0, 1, 2, 0, 1])).temperature_ == 1.0


logit_rows = arrays(
    np.float64,
    st.tuples(st.integers(1, 20), st.integers(2, 5)),
    elements=st.integers(-5_000, 5_000).map(lambda v: v / 100),
)


@settings(max_examples=200, deadline=None)
@given(logits=logit_rows, temperature=st.floats(1e-2, 1e2))
def test_any_temperature_keeps_the_argmax(logits, temperature):
    scaled = TemperatureScaling.at(temperature).predict_proba(logits)
    assert np.array_equal(scaled.argmax(axis=1), logits.argmax(axis=1))
    assert np.allclose(scaled.sum(axis=1), 1.0)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="temperature"):
        TemperatureScaling.at(0.0).predict_proba(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="labels must be integers in 0..2"):
        TemperatureScaling().fit(np.zeros((2, 3)), np.array([0, 3]))
    with pytest.raises(ValueError, match="NaN"):
        TemperatureScaling().fit(np.array([[np.nan, 0.0]]), np.array([0]))
    with pytest.raises(ValueError, match="no samples"):
        expected_calibration_error(np.zeros((0, 3)), np.zeros(0, np.int64))


def test_expected_calibration_error_by_hand():
    """Five rows, two classes. Confidences 0.9 (right), 0.9 (wrong): bin 14 of 15, (13/15,
    14/15], |0.5 - 0.9| * 2/5 = 0.16. 0.6 (right) lies on the edge 9/15 and belongs to bin 9,
    (8/15, 9/15], with 0.55 (wrong): |0.5 - 0.575| * 2/5 = 0.03. 0.7 (right): bin 11,
    |1 - 0.7| * 1/5 = 0.06. ECE = 0.25 (0.41 if the edge went to bin 10)."""
    proba = np.array([[0.9, 0.1], [0.1, 0.9], [0.6, 0.4], [0.45, 0.55], [0.7, 0.3]])
    result = expected_calibration_error(proba, np.zeros(5, np.int64))
    assert result.ece == pytest.approx(0.25)
    assert result.samples == 5 and len(result.bins) == 15
    assert [b.count for b in result.bins] == [0] * 8 + [2, 0, 1, 0, 0, 2, 0]
    ninth = result.bins[8]
    assert (ninth.lower, ninth.upper) == pytest.approx((8 / 15, 9 / 15))
    assert ninth.confidence == pytest.approx(0.575) and ninth.accuracy == 0.5
    assert result.bins[0].confidence is None and result.bins[0].accuracy is None
    assert result.to_dict()["bins"][13] == {
        "lower": pytest.approx(13 / 15),
        "upper": pytest.approx(14 / 15),
        "count": 2,
        "confidence": pytest.approx(0.9),
        "accuracy": 0.5,
    }


def _ece_by_loop(proba: np.ndarray, labels: np.ndarray, bins: int = 15) -> float:
    total = 0.0
    for m in range(1, bins + 1):
        rows = [
            i
            for i in range(len(labels))
            if (m - 1) / bins < proba[i].max() <= m / bins or (m == 1 and proba[i].max() == 0)
        ]
        if rows:
            acc = np.mean([proba[i].argmax() == labels[i] for i in rows])
            conf = np.mean([proba[i].max() for i in rows])
            total += len(rows) / len(labels) * abs(acc - conf)
    return total


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 60), k=st.integers(2, 4))
def test_expected_calibration_error_equals_a_loop_over_the_definition(seed, n, k):
    rng = np.random.default_rng(seed)
    proba = rng.dirichlet(np.full(k, 0.5), size=n)
    labels = rng.integers(0, k, n)
    assert expected_calibration_error(proba, labels).ece == pytest.approx(
        _ece_by_loop(proba, labels)
    )


def test_calibration_error_is_small_when_calibrated_and_large_when_over_confident():
    z, labels = _calibrated_draws(seed=5)
    calibrated = expected_calibration_error(TemperatureScaling.at(1.0).predict_proba(z), labels).ece
    over_confident = expected_calibration_error(
        TemperatureScaling.at(1.0).predict_proba(5.0 * z), labels
    ).ece
    assert calibrated < 0.02
    assert over_confident > 0.15
    repaired = TemperatureScaling.at(
        TemperatureScaling().fit(5.0 * z, labels).temperature_
    ).predict_proba(5.0 * z)
    assert expected_calibration_error(repaired, labels).ece < 0.03
    assert math.isclose(
        sum(b.count for b in expected_calibration_error(repaired, labels).bins), 20_000
    )


def test_the_scaling_is_a_scikit_learn_estimator_stored_as_a_plain_number():
    z, labels = _calibrated_draws(seed=5, n=2_000)
    fitted = TemperatureScaling().fit(3.0 * z, labels)
    stored = json.loads(json.dumps(fitted.to_dict()))
    assert stored == {"temperature": fitted.temperature_}
    restored = TemperatureScaling.from_dict(stored)
    np.testing.assert_array_equal(restored.predict_proba(z), fitted.predict_proba(z))
    assert fitted.log_loss(3.0 * z, labels) == log_loss_at(3.0 * z, labels, fitted.temperature_)
    assert clone(fitted).get_params() == {"bounds": TEMPERATURE_BOUNDS}
