"""Classification metrics and baselines on small hand-checked cases."""

import numpy as np
import pytest

from resnet_pipeline.ml.evaluation.baselines import LogisticBaseline, MajorityBaseline
from resnet_pipeline.ml.evaluation.classification import (
    CLASSIFICATION_TARGETS,
    classification_metrics,
    classification_verdicts,
)


def test_perfect_and_confused_predictions():
    y = np.array([0, 1, 2, 2, 1, 0])
    perfect = np.eye(3)[y] * 0.98 + 0.01 / 1.0
    m = classification_metrics(y, perfect)
    assert m["accuracy"] == 1.0 and m["macro_f1"] == 1.0 and m["auc_roc_ovr"] == 1.0
    assert m["confusion_matrix"] == [[2, 0, 0], [0, 2, 0], [0, 0, 2]]
    always_up = np.tile([0.1, 0.2, 0.7], (6, 1))
    m = classification_metrics(y, always_up)
    assert m["accuracy"] == pytest.approx(2 / 6)
    assert m["precision_up"] == pytest.approx(2 / 6) and m["recall_up"] == 1.0
    assert m["precision_down"] == 0.0  # never predicted: 0, not an error
    assert m["auc_roc_ovr"] == pytest.approx(0.5)
    assert m["log_loss"] == pytest.approx(-np.mean(np.log([0.1, 0.2, 0.7, 0.7, 0.2, 0.1])))


def test_majority_baseline_predicts_the_training_majority():
    proba = MajorityBaseline().fit(None, np.array([1, 1, 1, 0, 2])).predict_proba(np.zeros((4, 0)))
    assert proba.shape == (4, 3) and (proba.argmax(1) == 1).all()
    np.testing.assert_allclose(proba[0], [0.2, 0.6, 0.2])


def test_logistic_baseline_learns_a_linear_signal_and_not_noise():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3000, 5))
    y = np.digitize(x[:, 0], [-0.5, 0.5])  # class written in feature 0
    proba = LogisticBaseline().fit(x[:2000], y[:2000]).predict_proba(x[2000:])
    assert classification_metrics(y[2000:], proba)["accuracy"] > 0.85
    shuffled = rng.permutation(y[:2000])  # a shuffled-label model: no edge on the test set
    noise = classification_metrics(
        y[2000:], LogisticBaseline().fit(x[:2000], shuffled).predict_proba(x[2000:])
    )
    majority = classification_metrics(
        y[2000:], MajorityBaseline().fit(None, shuffled).predict_proba(np.zeros((1000, 0)))
    )
    assert noise["accuracy"] <= majority["accuracy"] + 0.03


def _baselines(**values):
    majority = {"accuracy": 0.40, "precision_up": 0.0, "macro_f1": 0.2, "auc_roc_ovr": 0.5}
    logistic = {"accuracy": 0.42, "precision_up": 0.3, "macro_f1": 0.3, "auc_roc_ovr": 0.55}
    return {"majority": majority | values, "logistic_last_row": logistic}


def test_classification_targets_are_the_seed_targets():
    assert [(t.metric, t.op, t.threshold) for t in CLASSIFICATION_TARGETS] == [
        ("accuracy", ">", 0.45),
        ("precision_up", ">", 0.55),
        ("precision_down", ">", 0.55),
        ("macro_f1", ">", 0.50),
        ("auc_roc_ovr", ">", 0.60),
    ]
    rows = classification_verdicts(
        {"accuracy": 0.5, "precision_up": 0.5, "auc_roc_ovr": 0.61}, _baselines()
    )
    met = {r["metric"]: r["met"] for r in rows}
    assert met == {
        "accuracy": True,
        "precision_up": False,
        "precision_down": None,
        "macro_f1": None,
        "auc_roc_ovr": True,
    }


def test_report_tables_mark_met_and_missed_targets_correctly():
    from resnet_pipeline.defs.metadata import readable
    from resnet_pipeline.ml.evaluation.classification import metrics_table
    from resnet_pipeline.reports.html import table

    model = {"accuracy": 0.5, "precision_up": 0.26, "auc_roc_ovr": None}
    report = {"model": model, "baselines": _baselines()}
    rows = {r["metric"]: r for r in metrics_table(report)}
    assert rows["accuracy"]["met"] is True and rows["precision_up"]["met"] is False
    assert rows["auc_roc_ovr"]["met"] is None and rows["log_loss"]["met"] is None
    assert rows["auc_roc_ovr"]["verdict"] == "not defined (a class is absent from the test labels)"
    assert rows["log_loss"]["verdict"] == "not defined (no SPEC 10 target)"
    html = table(list(rows.values()), ["metric", "resnet", "verdict"])
    assert '<td>precision_up</td><td>0.2600</td><td class="missed">not met</td>' in html
    assert '<td>accuracy</td><td>0.5000</td><td class="met">met</td>' in html
    markdown = readable(list(rows.values()))
    assert "| precision_up |" in markdown and "not met" in markdown
    assert "| True |" not in markdown and "| None |" not in markdown


def test_binary_and_five_class_metrics():
    y = np.array([0, 1, 1, 0, 1, 0])
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6], [0.3, 0.7], [0.1, 0.9], [0.6, 0.4]])
    m = classification_metrics(y, proba, ["flat", "move"])
    assert m["classes"] == ["flat", "move"] and m["accuracy"] == pytest.approx(5 / 6)
    assert m["precision_move"] == pytest.approx(3 / 4) and m["recall_flat"] == pytest.approx(2 / 3)
    assert m["auc_roc_ovr"] == pytest.approx(8 / 9)  # 8 of 9 (move, flat) pairs ranked right
    assert m["confusion_matrix"] == [[2, 1], [0, 3]]
    rng = np.random.default_rng(1)
    y5 = np.arange(50) % 5
    proba5 = rng.dirichlet(np.ones(5), 50)
    proba5[np.arange(50), y5] += 2.0  # the true class always wins
    m5 = classification_metrics(y5, proba5)
    assert m5["classes"] == [f"class_{i}" for i in range(5)]
    assert m5["accuracy"] == 1.0 and m5["auc_roc_ovr"] == 1.0 and m5["support_class_4"] == 10
    assert len(m5["predicted_shares"]) == 5 and set(m5["calibration"]) == set(m5["classes"])


def test_three_classes_keep_the_spec_names():
    y = np.array([0, 1, 2, 2])
    m = classification_metrics(y, np.eye(3)[y])
    assert m["classes"] == ["Down", "Neutral", "Up"] and m["precision_up"] == 1.0


def test_inconsistent_class_inputs_fail_clearly():
    with pytest.raises(ValueError, match="2 class names"):
        classification_metrics(np.array([0, 1]), np.eye(3)[[0, 1]], ["a", "b"])
    with pytest.raises(ValueError, match="labels must be in 0..1"):
        classification_metrics(np.array([0, 2]), np.eye(2)[[0, 1]])
    with pytest.raises(ValueError, match="at least 2"):
        classification_metrics(np.array([0, 0]), np.ones((2, 1)))
