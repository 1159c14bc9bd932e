"""Classification metrics on the test split (SPEC 10), with baselines beside the model's.

scikit-learn computes the metrics; what is ours is the choice of baselines and the targets.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.calibration import calibration_curve
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    log_loss,
    precision_recall_fscore_support,
    roc_auc_score,
)

from resnet_pipeline.features.labels import CLASS_NAMES
from resnet_pipeline.ml.data.dataset import DatasetSplits
from resnet_pipeline.ml.evaluation.baselines import PROBA_COLUMNS, FoldBaselines, last_rows
from resnet_pipeline.ml.evaluation.calibration import PROBABILITY_FLOOR
from resnet_pipeline.ml.model.checkpoint import Checkpoint
from resnet_pipeline.ml.training.inference import predict_proba
from resnet_pipeline.verdicts import Target, compare_to_targets, not_defined

# The seed's targets for the classifier, each with the baseline(s) it must also beat: the
# majority class for accuracy and F1, the logistic regression for AUC (a constant guess has
# AUC 0.5), the better of both for the precisions.
MAJORITY, LOGISTIC = "majority", "logistic_last_row"
CLASSIFICATION_TARGETS: tuple[Target, ...] = (
    Target("accuracy", ">", 0.45, (MAJORITY,)),
    Target("precision_up", ">", 0.55, (MAJORITY, LOGISTIC)),
    Target("precision_down", ">", 0.55, (MAJORITY, LOGISTIC)),
    Target("macro_f1", ">", 0.50, (MAJORITY,)),
    Target("auc_roc_ovr", ">", 0.60, (LOGISTIC,)),
)
# The test predictions' columns are named as the walk-forward folds' (``PROBA_COLUMNS``), so
# one set of report functions reads both.
PREDICTOR = {"model": "model", MAJORITY: "majority", LOGISTIC: "logistic"}


def class_names_for(k: int, names: Sequence[str] | None = None) -> tuple[str, ...]:
    """The given names, SPEC's Down/Neutral/Up for 3 classes, else class_0 .. class_{k-1}."""
    if k < 2:
        raise ValueError(f"probabilities have {k} column(s): a classifier needs at least 2")
    if names is None:
        return tuple(CLASS_NAMES) if k == 3 else tuple(f"class_{i}" for i in range(k))
    if len(names) != k:
        raise ValueError(f"{len(names)} class names {tuple(names)} for {k} probability columns")
    return tuple(names)


def auc_ovr(y_true: np.ndarray, proba: np.ndarray) -> float | None:
    """Macro one-vs-rest AUC; None unless every class occurs in ``y_true``."""
    k = proba.shape[1]
    if len(np.unique(y_true)) < k:
        return None
    if k == 2:
        return float(roc_auc_score(y_true, proba[:, 1]))
    return float(
        roc_auc_score(y_true, proba, multi_class="ovr", average="macro", labels=list(range(k)))
    )


def classification_metrics(
    y_true: np.ndarray, proba: np.ndarray, class_names: Sequence[str] | None = None
) -> dict:
    """Accuracy, per-class precision/recall/F1, macro F1, one-vs-rest AUC, log loss, confusion
    matrix and reliability curves, from true labels [N] in 0..K-1 and probabilities [N, K]
    (any K >= 2). Per-class keys use the lower-cased class names (precision_up, ...)."""
    y_true = np.asarray(y_true, np.int64)
    proba = np.asarray(proba, np.float64)
    if proba.ndim != 2 or len(proba) != len(y_true):
        raise ValueError(f"probabilities {proba.shape} do not match {len(y_true)} labels")
    k = proba.shape[1]
    names = class_names_for(k, class_names)
    if len(y_true) and (y_true.min() < 0 or y_true.max() >= k):
        raise ValueError(f"labels must be in 0..{k - 1} for {k} probability columns")
    proba = np.clip(proba, PROBABILITY_FLOOR, 1.0)
    proba = proba / proba.sum(axis=1, keepdims=True)
    y_pred = proba.argmax(axis=1)
    labels = list(range(k))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    out: dict = {
        "samples": int(len(y_true)),
        "classes": list(names),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(
            f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)
        ),
        "auc_roc_ovr": auc_ovr(y_true, proba),
        "log_loss": float(log_loss(y_true, proba, labels=labels)),
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        "predicted_shares": (np.bincount(y_pred, minlength=k) / max(len(y_pred), 1)).tolist(),
    }
    for i, name in enumerate(names):
        key = name.lower()
        out[f"precision_{key}"] = float(precision[i])
        out[f"recall_{key}"] = float(recall[i])
        out[f"f1_{key}"] = float(f1[i])
        out[f"support_{key}"] = int(support[i])
    out["calibration"] = reliability_curves(y_true, proba, names)
    return out


def reliability_curves(
    y_true: np.ndarray, proba: np.ndarray, names: Sequence[str] = CLASS_NAMES, bins: int = 10
) -> dict:
    """Per class: mean predicted probability and observed frequency in quantile bins."""
    curves = {}
    for i, name in enumerate(names):
        hits = (y_true == i).astype(int)
        if hits.min() == hits.max():
            continue
        observed, predicted = calibration_curve(hits, proba[:, i], n_bins=bins, strategy="quantile")
        curves[name] = (predicted.tolist(), observed.tolist())
    return curves


def classification_verdicts(model: dict, baselines: dict[str, dict]) -> list[dict]:
    """SPEC 10 targets of the model, each also against its baseline(s) (SPEC 12)."""
    why = {}
    if model.get("auc_roc_ovr") is None:
        why["auc_roc_ovr"] = "a class is absent from the test labels"
    return compare_to_targets(model, CLASSIFICATION_TARGETS, baselines, why)


# The metrics shown side by side for the model and its baselines.
SHOWN = ("accuracy", "precision_up", "precision_down", "macro_f1", "auc_roc_ovr", "log_loss")


def evaluate_split(checkpoint: Checkpoint, splits: DatasetSplits) -> tuple[dict, pd.DataFrame]:
    """Model and baselines on the test split; the model's test probabilities as a frame."""
    test = splits.test_ends
    y_test = splits.labels[test]
    proba = np.concatenate(
        [
            predict_proba(checkpoint.model, splits.windows(test[i : i + 2048]))
            for i in range(0, len(test), 2048)
        ]
    )
    model = classification_metrics(y_test, proba)
    fitted = FoldBaselines.fit(splits).predict_proba(last_rows(splits, test))
    baseline_proba = {MAJORITY: fitted["majority"], LOGISTIC: fitted["logistic"]}
    baselines = {name: classification_metrics(y_test, p) for name, p in baseline_proba.items()}
    columns = {"timestamp": pd.to_datetime(splits.timestamps[test]).tz_localize("UTC")}
    for name, values in (("model", proba), *baseline_proba.items()):
        columns |= dict(zip(PROBA_COLUMNS[PREDICTOR[name]], np.asarray(values).T, strict=True))
    predictions = pd.DataFrame(columns | {"label": y_test})
    report = {
        "model": model,
        "baselines": baselines,
        "targets": classification_verdicts(model, baselines),
        "test_period": [
            str(predictions["timestamp"].iloc[0]),
            str(predictions["timestamp"].iloc[-1]),
        ],
    }
    return report, predictions


def metrics_table(report: dict) -> list[dict]:
    """The model beside its baselines, one row per metric, with the target and the verdict
    (recomputed from the stored values, so an older report gets today's honest rules)."""
    baselines = report["baselines"]
    verdicts = {t["metric"]: t for t in classification_verdicts(report["model"], dict(baselines))}
    rows = []
    for name in SHOWN:
        verdict = verdicts.get(name)
        rows.append(
            {
                "metric": name,
                "resnet": report["model"].get(name),
                "majority": baselines[MAJORITY].get(name),
                "logistic": baselines[LOGISTIC].get(name),
                "target": verdict["target"] if verdict else "none",
                "met": verdict["met"] if verdict else None,
                "verdict": verdict["verdict"] if verdict else not_defined("no SPEC 10 target"),
            }
        )
    return rows
