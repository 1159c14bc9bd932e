"""Classification metrics on the test split (SPEC 10), with baselines beside the model's.

scikit-learn computes the metrics; what is ours is the choice of baselines and the targets.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
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
from resnet_pipeline.ml.checkpoint import Checkpoint
from resnet_pipeline.ml.dataset import DatasetSplits
from resnet_pipeline.ml.inference import predict_proba
from resnet_pipeline.targets import Target, compare_to_targets

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


# The metrics shown side by side for the model and its baselines.
SHOWN = ("accuracy", "precision_up", "precision_down", "macro_f1", "auc_roc_ovr", "log_loss")


def _last_rows(splits: DatasetSplits, ends: np.ndarray) -> np.ndarray:
    """The newest row of each model input window: the logistic baseline's features."""
    return np.concatenate(
        [splits.windows(ends[i : i + 4096])[:, :, -1] for i in range(0, len(ends), 4096)]
    )


def evaluate_split(checkpoint: Checkpoint, splits: DatasetSplits) -> tuple[dict, pd.DataFrame]:
    """Model and baselines on the test split; the model's test probabilities as a frame."""
    test = splits.test_ends
    y_test, y_train = splits.labels[test], splits.labels[splits.train_ends]
    proba = np.concatenate(
        [
            predict_proba(checkpoint.model, splits.windows(test[i : i + 2048]))
            for i in range(0, len(test), 2048)
        ]
    )
    model = classification_metrics(y_test, proba)
    train_rows = _last_rows(splits, splits.train_ends)
    baselines = {
        "majority": classification_metrics(y_test, majority_baseline(y_train, len(test))),
        "logistic_last_row": classification_metrics(
            y_test, logistic_baseline(train_rows, y_train, _last_rows(splits, test))
        ),
    }
    predictions = pd.DataFrame(
        {
            "timestamp": pd.to_datetime(splits.timestamps[test]).tz_localize("UTC"),
            "p_down": proba[:, 0],
            "p_neutral": proba[:, 1],
            "p_up": proba[:, 2],
            "label": y_test,
        }
    )
    report = {
        "model": model,
        "baselines": baselines,
        "targets": compare_to_targets(model, CLASSIFICATION_TARGETS),
        "test_period": [
            str(predictions["timestamp"].iloc[0]),
            str(predictions["timestamp"].iloc[-1]),
        ],
    }
    return report, predictions


def metrics_table(report: dict) -> list[dict]:
    """The model beside its baselines, one row per metric, with the target and whether the
    model met it (None where no target applies or the metric is undefined)."""
    targets = {t["metric"]: t for t in report["targets"]}
    return [
        {
            "metric": name,
            "resnet": report["model"].get(name),
            "majority": report["baselines"]["majority"].get(name),
            "logistic": report["baselines"]["logistic_last_row"].get(name),
            "target": targets[name]["target"] if name in targets else "",
            "met": targets[name]["met"] if name in targets else None,
        }
        for name in SHOWN
    ]
