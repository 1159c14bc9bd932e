"""Classification metrics on the test split (SPEC 10), with baselines beside the model's.

scikit-learn computes the metrics; what is ours is the choice of baselines and the targets.
"""

from __future__ import annotations

import numpy as np
from sklearn.calibration import calibration_curve
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    log_loss,
    precision_recall_fscore_support,
    roc_auc_score,
)

from resnet_pipeline.features.labels import CLASS_NAMES
from resnet_pipeline.targets import Target

# (metric, comparison, target): the seed's targets for the classifier.
CLASSIFICATION_TARGETS: tuple[Target, ...] = (
    ("accuracy", ">", 0.45),
    ("precision_up", ">", 0.55),
    ("precision_down", ">", 0.55),
    ("macro_f1", ">", 0.50),
    ("auc_roc_ovr", ">", 0.60),
)
_EPS = 1e-7


def classification_metrics(y_true: np.ndarray, proba: np.ndarray) -> dict:
    """Accuracy, per-class precision/recall/F1, macro F1, one-vs-rest AUC, log loss, confusion
    matrix and reliability curves, from true labels [N] and probabilities [N, 3]."""
    y_true = np.asarray(y_true, np.int64)
    proba = np.clip(np.asarray(proba, np.float64), _EPS, 1.0)
    proba = proba / proba.sum(axis=1, keepdims=True)
    y_pred = proba.argmax(axis=1)
    labels = [0, 1, 2]
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    present = np.unique(y_true)
    auc = None
    if len(present) == 3:
        auc = float(roc_auc_score(y_true, proba, multi_class="ovr", average="macro", labels=labels))
    out: dict = {
        "samples": int(len(y_true)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(
            f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)
        ),
        "auc_roc_ovr": auc,
        "log_loss": float(log_loss(y_true, proba, labels=labels)),
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        "predicted_shares": (np.bincount(y_pred, minlength=3) / max(len(y_pred), 1)).tolist(),
    }
    for i, name in enumerate(CLASS_NAMES):
        key = name.lower()
        out[f"precision_{key}"] = float(precision[i])
        out[f"recall_{key}"] = float(recall[i])
        out[f"f1_{key}"] = float(f1[i])
        out[f"support_{key}"] = int(support[i])
    out["calibration"] = reliability_curves(y_true, proba)
    return out


def reliability_curves(y_true: np.ndarray, proba: np.ndarray, bins: int = 10) -> dict:
    """Per class: mean predicted probability and observed frequency in quantile bins."""
    curves = {}
    for i, name in enumerate(CLASS_NAMES):
        hits = (y_true == i).astype(int)
        if hits.min() == hits.max():
            continue
        observed, predicted = calibration_curve(hits, proba[:, i], n_bins=bins, strategy="quantile")
        curves[name] = (predicted.tolist(), observed.tolist())
    return curves


def majority_baseline(train_labels: np.ndarray, n: int) -> np.ndarray:
    """Always the training set's class frequencies: argmax is the majority class."""
    shares = np.bincount(np.asarray(train_labels, np.int64), minlength=3).astype(np.float64)
    shares /= shares.sum()
    return np.tile(shares, (n, 1))


def logistic_baseline(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    seed: int = 0,
    max_rows: int = 50_000,
) -> np.ndarray:
    """Multinomial logistic regression on the last row's features of each window: the simple
    learned model a deep network has to beat."""
    rng = np.random.default_rng(seed)
    if len(x_train) > max_rows:
        keep = rng.choice(len(x_train), max_rows, replace=False)
        x_train, y_train = x_train[keep], y_train[keep]
    model = LogisticRegression(max_iter=300)
    model.fit(np.nan_to_num(x_train), y_train)
    proba = np.zeros((len(x_test), 3))
    proba[:, model.classes_] = model.predict_proba(np.nan_to_num(x_test))
    return proba
