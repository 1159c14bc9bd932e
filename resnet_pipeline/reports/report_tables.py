"""The tables every report shares, formatted for a person (``number_format``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from resnet_pipeline.features.labels import CLASS_NAMES
from resnet_pipeline.ml.evaluation.run_settings import strategy_phrases
from resnet_pipeline.number_format import count, interval, metric, percent, short
from resnet_pipeline.reports.html import table
from resnet_pipeline.trading.strategy import StrategyConfig

FOLD_COLUMNS = {
    "month": "month",
    "start": "start",
    "train_first": "train first",
    "train_last": "train last",
    "val_first": "validation first",
    "val_last": "validation last",
    "train_samples": "train samples",
    "val_samples": "validation samples",
    "predicted": "predicted minutes",
    "epochs_run": "epochs",
    "best_val_loss": "best validation loss",
    "wall_s": "training time (s)",
}


def _mix(shares: list[float]) -> str:
    return " / ".join(percent(s) for s in shares)


def _points(row: Mapping, key: str) -> tuple[str, str]:
    value, low, high = (row.get(f"{key}{end}") for end in ("", "_low", "_high"))
    scale = 100 if "accuracy" in key else 1
    scaled = [None if v is None else v * scale for v in (value, low, high)]
    return short(scaled[0]), interval(scaled[1], scaled[2], 3)


def monthly_html(rows: list[dict], majority: str) -> str:
    """Per month: each predictor's accuracy and AUC, the model's differences to the baselines
    with their 95% intervals, and the class mixes."""
    classes = "/".join(CLASS_NAMES)
    out = []
    for r in rows:
        accuracy, accuracy_interval = _points(r, "model_minus_majority_accuracy")
        auc, auc_interval = _points(r, "model_minus_logistic_auc")
        out.append(
            {
                "month": r["month"],
                "minutes": r["samples"],
                "model accuracy": percent(r["model_accuracy"]),
                f"{majority} accuracy": percent(r["majority_accuracy"]),
                "logistic accuracy": percent(r["logistic_accuracy"]),
                "accuracy minus majority (points)": accuracy,
                "accuracy difference, 95% interval": accuracy_interval,
                "model AUC": r["model_auc_roc_ovr"],
                "logistic AUC": r["logistic_auc_roc_ovr"],
                "AUC minus logistic": auc,
                "AUC difference, 95% interval": auc_interval,
                f"predicted {classes}": _mix(r["predicted_shares"]),
                f"actual {classes}": _mix(r["label_shares"]),
            }
        )
    return table(out, list(out[0]) if out else ["month"])


def pooled_html(pooled: Mapping[str, Mapping], metrics: tuple[str, ...]) -> str:
    rows = [
        {"metric": m, **{name: metric(m, values.get(m)) for name, values in pooled.items()}}
        for m in metrics
    ]
    return table(rows, ["metric", *pooled])


def intervals_html(intervals: Mapping[str, Mapping]) -> str:
    rows = [
        {
            "quantity": name.replace("_", " "),
            **{k: metric(name, value.get(k)) for k in ("estimate", "low", "high")},
        }
        for name, value in intervals.items()
        if isinstance(value, Mapping) and "estimate" in value
    ]
    return table(rows, ["quantity", "estimate", "low", "high"])


def _when(value: object) -> object:
    if isinstance(value, str) and "T" in value:
        return pd.Timestamp(value).strftime("%Y-%m-%d %H:%M")
    return value


def folds_html(folds: list[dict]) -> str:
    """Each fold's windows (UTC), sizes, epochs, best validation loss and start mode."""
    rows = [{label: _when(f.get(key)) for key, label in FOLD_COLUMNS.items()} for f in folds]
    return table(rows, list(FOLD_COLUMNS.values()))


def settings_html(cfg: StrategyConfig) -> str:
    """The strategy's rules a backtest ran with, one per row, with the config fields each
    reads (every field of ``StrategyConfig``)."""
    rows = [
        {"rule": phrase, "config fields": ", ".join(names)}
        for names, phrase in strategy_phrases(cfg).items()
    ]
    return table(rows, ["rule", "config fields"])


def sweep_html(sweep: pd.DataFrame) -> str:
    """Per threshold: minutes signalled and the signals' precision (a share)."""
    rows = [
        {c: count(v, "minute") if c.endswith("_minutes") else metric(c, v) for c, v in row.items()}
        for row in sweep.to_dict("records")
    ]
    return table(rows, list(sweep.columns))


SHORT_PERIOD_FLAG = " (short period: see warning)"


def trading_html(
    strategy: Mapping,
    buy_and_hold: Mapping,
    keys: Sequence[str],
    currency: str,
    flagged: Sequence[str] = (),
) -> str:
    """The strategy's metrics beside buy-and-hold's, each in its unit (``number_format``);
    ``flagged``: annualized metrics of a period too short to annualize."""
    rows = [
        {
            "metric": k.replace("_", " ") + (SHORT_PERIOD_FLAG if k in flagged else ""),
            "strategy": metric(k, strategy.get(k), currency),
            "buy and hold": metric(k, buy_and_hold.get(k), currency)
            if buy_and_hold.get(k) is not None
            else "-",
        }
        for k in keys
    ]
    return table(rows, ["metric", "strategy", "buy and hold"])


def targets_html(rows: list[dict], currency: str = "") -> str:
    """Target rows (``verdicts.compare_to_targets``) with values in their units."""
    shown = [
        row
        | {
            "metric": row["metric"],
            "value": metric(row["metric"], row.get("value"), currency),
            "baseline_value": metric(row["metric"], row.get("baseline_value"), currency),
        }
        for row in rows
    ]
    return table(shown, ["metric", "value", "target", "baseline", "baseline_value", "verdict"])
